"""Every tutorial notebook runs in a real JupyterLab (and the quick start in Notebook 7) without an
error output, and every widget it shows renders.

Each run leaves a screenshot of the notebook in the window, its tallest widget at the top, in
test-artifacts/ui/notebooks/ (``lab-<notebook>.png``, ``nb7-<notebook>.png``), and one of each
widget output in test-artifacts/ui/ (``lab-<notebook>-widget<i>.png``). The README's gallery is
made from the JupyterLab ones: ``python scripts/update_gallery.py``."""

from __future__ import annotations

import pytest
from jupyter_page import NotebookPage, PageErrors
from jupyter_server import NOTEBOOKS

pytestmark = pytest.mark.ui

QUICKSTART = "00_quickstart.ipynb"


def run_and_check(notebook: NotebookPage, errors: PageErrors, name: str) -> None:
    state = notebook.run_all()
    assert state["errors"] == [], f"error outputs in {notebook.path}: {state['errors']}"
    assert state["pending"] == 0, f"cells that never ran in {notebook.path}: {state}"
    widgets = notebook.wait_widgets_rendered()
    notebook.showcase(name)
    notebook.screenshot_widgets(name)
    broken = [w for w in widgets if w["error"] or not w["rendered"]]
    assert broken == [], f"widgets that did not render in {notebook.path}: {broken}"
    assert errors.widget_related() == [], f"widget errors in the browser console: {errors.widget_related()}"


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab(lab, page_errors: PageErrors, path: str) -> None:
    run_and_check(lab(path), page_errors, f"lab-{path.removesuffix('.ipynb')}")


def test_quickstart_runs_in_notebook7(notebook7, page_errors: PageErrors) -> None:
    # Until the quick start exists, the first notebook stands in for it.
    path = QUICKSTART if QUICKSTART in NOTEBOOKS else NOTEBOOKS[0]
    run_and_check(notebook7(path), page_errors, f"nb7-{path.removesuffix('.ipynb')}")
