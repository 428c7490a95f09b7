"""Every tutorial notebook executes headless (nbclient) without an error, within its time budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.execute_notebooks import execute

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BUDGET_SECONDS = 120  # each notebook runs in under 2 minutes on 2 CPU cores


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
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path) -> None:
    nb, seconds = execute(path)  # raises CellExecutionError on the first cell that raises
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert errors == []
    assert seconds < BUDGET_SECONDS, f"{path.name} took {seconds:.0f} s (budget {BUDGET_SECONDS} s)"
