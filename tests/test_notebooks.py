"""Every tutorial notebook executes headless (nbclient) without an error in the Binder environment:
what a reader gets on Binder, and what CI checks of binder/. How long each takes, against the
two-minute budget, is measured by benchmarks/bench_notebooks.py (a busy machine must not fail a
test)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.binder_env import BINDER, environment

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    """Outputs are made by running (or by ./dev export), never committed: diffs stay readable."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    ran = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert ran == [], f"{path.name}: cells {ran} have outputs; clear them before committing"
    assert "widgets" not in nb.metadata, f"{path.name} carries stored widget state"


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a guard against a hung kernel, ten times the budget: not a time limit
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path, binder_python: Path, tmp_path: Path) -> None:
    # binder/start sets the kernels' environment as on Binder; --installed: the kernel imports the
    # lrwidgets installed in the Binder environment, not this checkout.
    result = subprocess.run(
        [
            str(BINDER / "start"),
            str(binder_python),
            str(ROOT / "scripts" / "execute_notebooks.py"),
            "--installed",
            str(path),
        ],
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert f"ok {path.name}" in result.stdout, result.stdout
