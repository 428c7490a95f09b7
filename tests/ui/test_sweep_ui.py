"""The LRSweep widget in a real JupyterLab while a sweep trains on the embedded Dask cluster.

The checks read the browser (the overlay's SVG paths, the status table, the trial menu) and ask
the kernel what the sweep did (``sweep.statuses``, ``sweep.results``), over the kernel connection
of the open notebook: the sweep runs in the background, so the kernel answers while it trains.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from jupyter_page import PageErrors, write_notebook
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

pytestmark = pytest.mark.ui

NOTEBOOK = "ui_sweep_live.ipynb"
EPOCHS = 100_000  # far longer than the test (1,000 epochs ended within it): it cancels one trial and stops the rest
CELLS = [
    """import os
os.environ.setdefault("KERAS_BACKEND", "jax")
import keras, numpy as np
from sklearn.datasets import load_digits
import lrwidgets as lrw
digits = load_digits()
x, y = (digits.data / 16.0).astype("float32"), digits.target.astype("int32")


def build_model():
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model""",
    f"""sweep = lrw.LRSweep(build_model, learning_rates=[1e-3, 3e-3, 1e-2], optimizers=["adam"], epochs={EPOCHS},
                    n_workers=2, refresh_interval=0.2)
sweep""",
    "run = sweep.run(x, y, batch_size=32, validation_split=0.2)",
]

SWEEP = ".lrwidgets-sweep"
# The loss overlay (the first figure): how many of its lines have a path, and their points in all.
_OVERLAY = """
(sel) => {
  const fig = document.querySelector(sel + ' .bqplot');
  if (!fig) return {lines: 0, points: 0};
  const paths = Array.from(fig.querySelectorAll('path.line')).map((p) => p.getAttribute('d') || '')
    .filter((d) => d.trim());
  return {lines: paths.length, points: paths.reduce((n, d) => n + d.split(/[ML]/).filter((s) => s.trim()).length, 0)};
}
"""
# The status cell of trial `t`'s row in the ranking table (the second cell reads "■ t").
_STATUS_OF = """
([sel, t]) => {
  for (const row of document.querySelectorAll(sel + ' .lrw-sweep-table tr')) {
    const cells = row.querySelectorAll('td');
    if (cells.length > 6 && cells[1].textContent.trim().endsWith(' ' + t)) return cells[6].textContent.trim();
  }
  return null;
}
"""


def overlay(page: Page) -> dict:
    read: dict = page.evaluate(_OVERLAY, SWEEP)
    return read


def wait_overlay_grows(page: Page, than: dict, timeout_ms: float = 60_000) -> dict:
    page.wait_for_function(
        "([sel, points]) => (" + _OVERLAY.strip() + ")(sel).points > points",
        arg=[SWEEP, than["points"]],
        timeout=timeout_ms,
    )
    return overlay(page)


# What the kernel knew when a wait timed out: each trial's status, the widget's error line, the
# cancels asked, the Dask client's state, the widget's refreshes, the progress messages received
# and the trials' rows.
_STATE = (
    "print({'statuses': sweep.statuses, 'error': sweep._error.value, 'cancels': sweep.sweep._table.cancel_times,"
    " 'client': getattr(sweep.sweep.client, 'status', None), 'refreshes': sweep.refreshes,"
    " 'messages': len(sweep.sweep.latencies),"
    " 'rows': [(r['trial'], r['status'], r.get('reason')) for r in sweep.sweep.rows]})"
)


@contextlib.contextmanager
def kernel_state_on_timeout(notebook) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """A wait that timed out (in the page or the kernel) fails with the kernel's view of the sweep."""
    try:
        yield
    except (TimeoutError, PlaywrightTimeoutError) as e:
        raise AssertionError(f"{e}\nthe kernel's sweep then: {notebook.kernel_print(_STATE)}") from e


def open_sweep(lab, name: str, cells: list[str]) -> tuple:  # type: ignore[no-untyped-def]
    """Run the notebook ``name`` of ``cells``; its notebook page, browser page and sweep widget."""
    notebook = lab(write_notebook(lab.server.root_dir, name, cells))
    notebook.run_all_rendered()
    widget = notebook.page.locator(SWEEP)
    widget.wait_for()
    return notebook, notebook.page, widget


def test_sweep_overlay_grows_and_a_trial_is_cancelled_from_the_widget(lab, page_errors: PageErrors) -> None:
    notebook, page, widget = open_sweep(lab, NOTEBOOK, CELLS)
    try:
        with kernel_state_on_timeout(notebook):
            # 1. The overlay grows while the trials train: more points at each later read. (The first
            #    points wait for the cluster's start: worker processes that import Keras.)
            reads = [wait_overlay_grows(page, {"points": 0}, timeout_ms=240_000)]
            for _ in range(3):
                reads.append(wait_overlay_grows(page, reads[-1]))
            points = [r["points"] for r in reads]
            assert points == sorted(points) and len(set(points)) == 4 and reads[-1]["lines"] >= 1, reads

            # 2. Cancel a running trial with the widget's own controls: pick it in the trial menu, press
            #    Cancel trial.
            notebook.kernel_wait("print(any(s == 'running' for s in sweep.statuses.values()))", timeout=120)
            trial, label = notebook.kernel_json(
                "next([t, label] for label, t in sweep._choice.options if sweep.statuses[t] == 'running')"
            )
            assert notebook.kernel_json(f"sweep.statuses[{trial}]") == "running"
            widget.locator("select").select_option(label=label)
            notebook.kernel_wait(f"print(sweep._choice.value == {trial})")
            widget.get_by_role("button", name="Cancel trial").click()

            # The kernel marks it cancelled, in its statuses and in sweep.results, stopped long before its end ...
            notebook.kernel_wait(f"print(sweep.statuses[{trial}] == 'cancelled')", timeout=60)
            row = notebook.kernel_json(
                f"sweep.results.set_index('trial').loc[{trial}, ['status', 'reason', 'epochs']].tolist()"
            )
            assert row[0] == "cancelled" and row[1] == "cancelled" and 0 <= row[2] < EPOCHS, row
            # ... and so does the page: its row of the status table, and the trial menu no longer offers it.
            page.wait_for_function(f"(args) => ({_STATUS_OF.strip()})(args) === 'cancelled'", arg=[SWEEP, trial])
            page.wait_for_function(
                "([sel, label]) => !Array.from(document.querySelectorAll(sel + ' select option'))"
                ".some((o) => o.textContent === label)",
                arg=[SWEEP, label],
            )
            others = notebook.kernel_json(f"[s for t, s in sweep.statuses.items() if t != {trial}]")
            assert "cancelled" not in others, others  # only the trial chosen

            # The overlay keeps growing with the trials left.
            wait_overlay_grows(page, overlay(page))
            assert widget.locator(".lrw-sweep-table").inner_text().count("cancelled") == 1
            assert page_errors.widget_related() == [], page_errors.widget_related()
    finally:
        notebook.kernel_print("sweep.close()")  # stops the trials and shuts the embedded cluster down


FINISHED = "ui_sweep_log_toggle.ipynb"
FINISHED_CELLS = [
    CELLS[0],
    """sweep = lrw.LRSweep(build_model, learning_rates=[1e-3, 3e-2], optimizers=["adam"], epochs=3, n_workers=2,
                    refresh_interval=0.2)
sweep""",
    "results = sweep.run(x, y, batch_size=32, validation_split=0.2).wait()\n"
    "sweep.sweep.close()  # the cluster; the widget stays",
]
# The loss overlay's lines, drawn: each line's y pixel coordinates, the plot's height, and the y
# axis's tick labels.
_DRAWN = """
(sel) => {
  const fig = document.querySelector(sel + ' .bqplot');
  const height = fig.querySelector('svg').getBoundingClientRect().height;
  const ys = Array.from(fig.querySelectorAll('path.line')).map((p) => (p.getAttribute('d') || '')
    .split(/[ML]/).filter((s) => s.trim()).map((s) => Number(s.split(',')[1])));
  const axes = Array.from(fig.querySelectorAll('g.axis'));
  const ticks = axes.map((a) => Array.from(a.querySelectorAll('.tick text')).map((t) => t.textContent));
  return {height, ys: ys.filter((y) => y.length), ticks};
}
"""


def _drawn(page: Page) -> dict:
    read: dict = page.evaluate(_DRAWN, SWEEP)
    return read


def _assert_drawn_within_the_plot(read: dict) -> None:
    """Every line point is a finite y inside the figure, and the lines use the plot's height (not
    flattened at an edge, as a line left on a swapped scale's stale domain would be)."""
    assert read["ys"], read
    flat = [y for line in read["ys"] for y in line]
    assert all(y == y and -1 <= y <= read["height"] + 1 for y in flat), (read["height"], flat[:20])
    assert max(flat) - min(flat) > 0.3 * read["height"], (read["height"], min(flat), max(flat))


def test_sweep_log_y_toggle_redraws_the_loss_on_each_scale(lab, page_errors: PageErrors) -> None:
    notebook, page, widget = open_sweep(lab, FINISHED, FINISHED_CELLS)
    notebook.kernel_wait("print(not sweep.sweep.running)", timeout=240)
    page.wait_for_function(
        "(sel) => (" + _OVERLAY.strip() + ")(sel).lines >= 2", arg=SWEEP, timeout=60_000
    )  # every trial's loss and val_loss drawn
    log = _drawn(page)
    _assert_drawn_within_the_plot(log)
    toggle = widget.get_by_role("button", name="log y")
    toggle.click()  # to linear
    notebook.kernel_wait("print(sweep._log_y.value is False)")
    page.wait_for_function(
        "([sel, before]) => JSON.stringify((" + _DRAWN.strip() + ")(sel).ticks) !== before",
        arg=[SWEEP, json.dumps(log["ticks"], separators=(",", ":"))],
    )
    linear = _drawn(page)
    _assert_drawn_within_the_plot(linear)
    assert linear["ys"] != log["ys"], "the lines were not redrawn on the linear scale"
    toggle.click()  # back to log: the same drawing as at first (the sweep has ended: the data are fixed)
    notebook.kernel_wait("print(sweep._log_y.value is True)")
    page.wait_for_function(
        "([sel, before]) => JSON.stringify((" + _DRAWN.strip() + ")(sel).ticks) === before",
        arg=[SWEEP, json.dumps(log["ticks"], separators=(",", ":"))],
    )
    again = _drawn(page)
    assert again["ys"] == log["ys"]
    assert page_errors.widget_related() == [], page_errors.widget_related()
