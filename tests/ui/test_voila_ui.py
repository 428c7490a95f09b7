"""The widgets in Voilà: a notebook served as a dashboard, drawn in headless Chromium.

Voilà runs the whole notebook in a fresh kernel when the page is opened and then shows its outputs
(no code cells); the widgets stay connected to that kernel, so a background fit keeps updating them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from jupyter_page import PageErrors
from jupyter_page import write_notebook as write_cells
from jupyter_server import ROOT, JupyterServer
from playwright.sync_api import Page
from test_dashboard_ui import CELLS, DASH, DEFAULT_UPDATE_INTERVAL, loss_curve, wait_loss_curve_longer

pytestmark = pytest.mark.ui

LIVE = "voila_live.ipynb"


@pytest.fixture(scope="module")
def voila_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    root = tmp_path_factory.mktemp("voila-root")
    shutil.copy(ROOT / "notebooks" / "00_quickstart.ipynb", root)
    # The browser suite's live-dashboard notebook: a long fit started in the background, not waited for.
    setup = f"UPDATE_INTERVAL = {DEFAULT_UPDATE_INTERVAL}\nWIDTH = 64\n"
    write_cells(root, LIVE, [setup + CELLS[0], *CELLS[1:]])
    server = JupyterServer("voila", root, tmp_path_factory.mktemp("voila-state"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def open_dashboard(page: Page, server: JupyterServer, notebook: str) -> None:
    page.goto(server.url(notebook))
    # Voilà answers once every cell has run: the quick start trains to the end first.
    page.locator(DASH).wait_for(timeout=300_000)


def test_quickstart_dashboard_draws_in_voila(
    voila_server: JupyterServer, browser_page: Page, page_errors: PageErrors
) -> None:
    open_dashboard(browser_page, voila_server, "00_quickstart.ipynb")
    page = browser_page
    # The whole fit is drawn (20 epochs of 45 steps), not the first few updates of it.
    page.wait_for_function(
        "(sel) => { const b = document.querySelector(sel + ' .lrw-status'); return b && /idle/.test(b.textContent); }",
        arg=DASH,
    )
    curve = loss_curve(page)
    assert curve["points"] >= 100 and curve["max_step"] > 0, curve
    # The notebook's last outputs (its final print and the event list) are on the page too.
    assert "final val_accuracy" in page.inner_text("body")
    assert page_errors.widget_related() == [], page_errors.widget_related()


def test_dashboard_curve_grows_in_voila(
    voila_server: JupyterServer, browser_page: Page, page_errors: PageErrors
) -> None:
    open_dashboard(browser_page, voila_server, LIVE)
    reads = [wait_loss_curve_longer(browser_page, {"max_step": -1, "d": ""})]
    for _ in range(2):
        reads.append(wait_loss_curve_longer(browser_page, reads[-1]))
    steps = [r["max_step"] for r in reads]
    assert steps == sorted(steps) and len(set(steps)) == 3, steps
    assert page_errors.widget_related() == [], page_errors.widget_related()
