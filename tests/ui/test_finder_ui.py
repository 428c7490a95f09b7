"""The learning-rate finder in a real JupyterLab: its curve grows during the sweep, and its Apply
buttons change a dashboard's learning rate (read back in the kernel and on the page)."""

from __future__ import annotations

import math
import re

import pytest
from jupyter_page import NotebookPage, PageErrors
from jupyter_page import write_notebook as write_cells
from playwright.sync_api import Locator, Page
from test_dashboard_ui import CELLS as DASHBOARD_CELLS

pytestmark = pytest.mark.ui

DASH = ".lrwidgets-dashboard"
FINDER = ".lrwidgets-finder"
SETUP = "WIDTH = 64\n" + DASHBOARD_CELLS[0]
# One short fit gives the dashboard its data (the "Find LR" button runs on the data of the last fit).
FIT = "dash = lrw.TrainingDashboard(model)\ndash.fit(x, y, epochs=1, batch_size=32).wait()\ndash"
# A long ramp (3000 steps, several seconds) with every step drawn (no decimation below 5000 points),
# started from the test once the finder is on the page: the page is read at several moments of it.
STEPS = 4500  # ~1,000 steps between the page's updates: three reads well before a late divergence (max_points 5000)
LONG_SWEEP = [
    SETUP.replace("WIDTH = 64", "WIDTH = 256"),
    FIT,
    "finder = lrw.LRFinder(model, target=dash, start_learning_rate=1e-7, end_learning_rate=3e-3,"
    f" num_steps={STEPS},\n                      max_points=5000)\nfinder",
]

# The finder's raw-loss line (the first line of its figure): how many points its SVG path has.
_CURVE_POINTS = """
(sel) => {
  const path = document.querySelector(sel + ' .bqplot path.line');
  const d = path ? path.getAttribute('d') || '' : '';
  return d.split(/[ML]/).filter((s) => s.trim()).length;
}
"""


def curve_points(page: Page, root: str = FINDER) -> int:
    points: int = page.evaluate(_CURVE_POINTS, root)
    return points


def wait_more_points(page: Page, than: int, root: str = FINDER) -> int:
    page.wait_for_function(
        "([sel, n]) => (" + _CURVE_POINTS.strip() + ")(sel) > n",
        arg=[root, than],
    )
    return curve_points(page, root)


def dashboard_readout(dash: Locator) -> float:
    """The learning-rate slider's readout on the page."""
    return float(dash.locator(".widget-slider .widget-readout").first.inner_text())


def apply_and_check(notebook: NotebookPage, root: Locator, finder: str, method: str) -> None:
    """Click ``Apply <method>`` in ``root``, the view of the kernel's ``finder`` (an expression); the
    dashboard's rate becomes that suggestion."""
    page = notebook.page
    dash = page.locator(DASH)
    suggested, before = notebook.kernel_json(f"[{finder}.suggestions[{method!r}], dash.learning_rate]")
    assert not math.isclose(suggested, before, rel_tol=0.01), (suggested, before)
    button = root.locator("button", has_text=f"Apply {method} (")
    assert f"{suggested:.2e}" in button.inner_text() and button.is_enabled()
    button.click()
    # The kernel sets the rate through the dashboard's session, recorded as set by the finder ...
    notebook.kernel_wait(
        "import math as _m;"
        " _e = [e for e in dash.history.events if e.kind == 'learning_rate' and e.source == 'finder'];"
        f" print(bool(_e) and _m.isclose(_e[-1].value, {suggested}, rel_tol=1e-6)"
        f" and _m.isclose(dash.learning_rate, {suggested}, rel_tol=1e-6))"
    )
    # ... and the page's slider shows it.
    page.wait_for_function(
        "([sel, v]) => { const r = document.querySelector(sel + ' .widget-slider .widget-readout');"
        " return !!r && Math.abs(parseFloat(r.textContent) / v - 1) < 0.01; }",
        arg=[DASH, suggested],
    )
    assert math.isclose(dashboard_readout(dash), suggested, rel_tol=0.01)


def test_the_finder_curve_grows_live_and_apply_sets_the_dashboard_rate(lab, page_errors: PageErrors) -> None:
    notebook = lab(write_cells(lab.server.root_dir, "ui_finder_live.ipynb", LONG_SWEEP))
    notebook.run_all_rendered()
    page = notebook.page
    finder = page.locator(FINDER)
    finder.wait_for()
    notebook.kernel_print("run = finder.run(x, y, batch_size=32)")  # returns at once: the sweep runs in the background

    # 1. The curve grows during the sweep: more points at each of three reads, all while it runs.
    # What the page shows is the evidence: the kernel is not asked whether the sweep still runs (on a
    # fast machine it ends within the round trip of the question), the page's own status is read
    # in the same look as the third count of points.
    reads = [wait_more_points(page, 1)]
    reads.append(wait_more_points(page, reads[-1]))
    wait_more_points(page, reads[-1])
    points, status = page.evaluate(
        "(sel) => [(" + _CURVE_POINTS.strip() + ")(sel),"
        " (document.querySelector(sel + ' .lrw-status') || {}).textContent || '']",
        FINDER,
    )
    reads.append(points)
    assert reads == sorted(set(reads)) and len(reads) == 3, reads
    shown = re.search(r"step (\d+)/(\d+)", status)
    assert "running" in status and shown and int(shown[1]) < int(shown[2]) == STEPS, (reads, status)
    assert reads[-1] < STEPS, (reads, status)
    # The Apply buttons wait for the end of the sweep: read with the status in one look at the page
    # (read one by one, on a loaded machine the sweep could end between them).
    status, disabled = page.evaluate(
        "(sel) => { const root = document.querySelector(sel);"
        " const bs = [...root.querySelectorAll('button')].filter((b) => b.textContent.includes('Apply'));"
        " return [(root.querySelector('.lrw-status') || {}).textContent || '', bs.map((b) => b.disabled)]; }",
        FINDER,
    )
    assert disabled and ("running" not in status or all(disabled)), (status, disabled)

    # 2. The sweep ends (all steps run), the model is restored, the suggestions appear with their buttons.
    page.wait_for_function(
        "(sel) => (document.querySelector(sel + ' .lrw-status') || {}).textContent?.includes('restored')",
        arg=FINDER,
        timeout=180_000,
    )
    done, reason, steps_run = notebook.kernel_json("[run.done, finder.test.reason, len(finder.learning_rates)]")
    assert done and reason in ("finished", "diverged") and steps_run > reads[-1], (done, reason, steps_run)
    assert curve_points(page) == steps_run  # every step drawn
    assert finder.locator(".bqplot .dot").count() == 5  # one marker a suggestion

    # 3. Apply (the finder was given target=dash): the dashboard's rate, in the kernel and on the page.
    apply_and_check(notebook, finder, "finder", "valley")
    notebook.screenshot_widgets("finder-live")
    assert page_errors.widget_related() == [], page_errors.widget_related()


def test_the_dashboard_find_lr_button_runs_the_finder_and_its_apply_sets_the_rate(lab, page_errors: PageErrors) -> None:
    notebook = lab(write_cells(lab.server.root_dir, "ui_finder_button.ipynb", [SETUP, FIT]))
    notebook.run_all_rendered()
    page = notebook.page
    dash = page.locator(DASH)
    dash.wait_for()
    button = dash.locator("button", has_text="Find LR")
    page.wait_for_function("(b) => !b.disabled", arg=button.element_handle())
    button.click()
    # The finder appears inside the dashboard and runs on the data of the last fit, then restores.
    finder = dash.locator(FINDER)
    finder.wait_for()
    page.wait_for_function(
        "(sel) => (document.querySelector(sel + ' .lrw-status') || {}).textContent?.includes('restored')",
        arg=f"{DASH} {FINDER}",
        timeout=120_000,
    )
    assert notebook.kernel_json("[dash.finder is not None, dash.finder.test.running, dash.session.running]") == [
        True,
        False,
        False,
    ]
    assert curve_points(page, f"{DASH} {FINDER}") >= 10
    apply_and_check(notebook, finder, "dash.finder", "robust_valley")
    assert page_errors.widget_related() == [], page_errors.widget_related()
