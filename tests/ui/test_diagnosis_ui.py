"""The diagnosis in a real JupyterLab: the verdict badge appears during a fit, and its button changes the rate."""

from __future__ import annotations

import pytest
from jupyter_page import PageErrors
from jupyter_page import write_notebook as write_cells
from test_dashboard_ui import CELLS as DASHBOARD_CELLS

pytestmark = pytest.mark.ui

DASH = ".lrwidgets-dashboard"
# The dashboard test's model and data, at Adam 1.0 (1000x its rate): a collapse within ~40 steps.
SETUP = "WIDTH = 64\n" + DASHBOARD_CELLS[0].replace("Adam(1e-3)", "Adam(1.0)")
CELLS = [
    SETUP,
    "dash = lrw.TrainingDashboard(model)\ndash",
    # Long enough that the click lands while the fit runs; the test stops it.
    "run = dash.fit(x, y, epochs=100_000, batch_size=32)",
]


def test_the_verdict_badge_appears_and_its_button_lowers_the_rate(lab, page_errors: PageErrors) -> None:
    assert "Adam(1.0)" in SETUP
    notebook = lab(write_cells(lab.server.root_dir, "ui_diagnosis.ipynb", CELLS))
    notebook.run_all_rendered()
    page = notebook.page
    dash = page.locator(DASH)
    dash.wait_for()
    # Adam 1.0 on digits collapses to a constant prediction (no NaN): the badge names it.
    page.wait_for_function(
        "(sel) => { const b = document.querySelector(sel + ' .lrw-verdict');"
        " return !!b && (b.textContent || '').includes('collapsed'); }",
        arg=DASH,
    )
    button = dash.locator(".lrw-fix")
    assert "1.0e-01" in button.inner_text() and button.is_enabled()
    running, rate, verdicts = notebook.kernel_json("[dash.session.running, dash.learning_rate, len(dash.diagnoses)]")
    assert (running, rate) == (True, 1.0)
    button.click()
    # The kernel applies the advice through the session, recorded as a rate change from the diagnosis
    # (and, the fix being a rewind to the fit's start, the state put back in the same batch boundary).
    notebook.kernel_wait(
        "_e = [e for e in dash.history.events if e.kind == 'learning_rate' and e.source == 'diagnosis'];"
        " print(bool(_e) and abs(_e[-1].value - 0.1) < 1e-6 and abs(dash.learning_rate - 0.1) < 1e-6)"
    )
    notebook.kernel_print("run.stop()")
    notebook.kernel_wait("print(run.done)")
    # One click, one fix: the button stays disabled until a new verdict (the rewound model learns at
    # 0.1, and may get one before the stop: then the button offers its fix).
    if notebook.kernel_json("len(dash.diagnoses)") == verdicts:
        page.wait_for_function("(sel) => document.querySelector(sel + ' .lrw-fix').disabled", arg=DASH)
    rewound = "print(any('rewound to step 0' in e.message and '(diagnosis: collapsed)' in e.message"
    notebook.kernel_wait(rewound + " for e in dash.history.events))")
    assert page_errors.widget_related() == [], page_errors.widget_related()
