"""The ScheduleDesigner in a real JupyterLab, edited with the mouse: alone, then steering a fit.

The checks read the browser (the preview's SVG path, the code snippet, the dashboard's labels)
and ask the kernel what it did (``d.schedule``, ``d.value``, ``dash.history``) over the open
notebook's kernel connection.
"""

from __future__ import annotations

import json
import math

import nbformat
import pytest
from jupyter_page import NotebookPage, PageErrors

pytestmark = pytest.mark.ui

DESIGNER = ".lrwidgets-designer"
DASH = ".lrwidgets-dashboard"

SETUP = """import os
os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np
import lrwidgets as lrw"""

DESIGNER_CELLS = [
    SETUP,
    'd = lrw.ScheduleDesigner(kind="exponential", initial_learning_rate=1e-3, epochs=30, steps_per_epoch=100)\nd',
]

# Epochs of ~225 steps of a wide MLP: each takes well over 0.5 s, so that the dashboard's refresh at
# every epoch end stays rare. Long enough that every check runs while the fit is still going.
STEERING_CELLS = [
    SETUP
    + """
import keras
from sklearn.datasets import load_digits
keras.utils.set_random_seed(0)
digits = load_digits()
x = np.tile((digits.data / 16.0).astype("float32"), (4, 1))
y = np.tile(digits.target.astype("int32"), 4)
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(1024, activation="relu"),
                          keras.layers.Dense(1024, activation="relu"), keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")""",
    'd = lrw.ScheduleDesigner(kind="exponential", initial_learning_rate=1e-3, decay_steps=225, decay_rate=0.9,\n'
    "                         epochs=1000, steps_per_epoch=225)\nd",
    "dash = lrw.TrainingDashboard(model, update_interval=0.5)\ndash",
    "run = dash.fit(x, y, epochs=1000, batch_size=32, schedule=d)",
]

# The designer's preview: the "current" curve is its figure's last line (pinned ones come first; the
# legend's icons are paths of class "line" too, outside any g.curve).
_PREVIEW_PATH = """
(sel) => {
  const paths = document.querySelectorAll(sel + ' .bqplot g.curve > path.line');
  return paths.length ? paths[paths.length - 1].getAttribute('d') || '' : '';
}
"""


def write_notebook(server, name: str, cells: list[str]) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nbformat.write(nb, server.root_dir / name)
    return name


def kernel_json(notebook: NotebookPage, expression: str) -> object:
    return json.loads(notebook.kernel_print(f"import json as _j; print(_j.dumps({expression}))"))


def open_and_run(opener, name: str, cells: list[str]) -> NotebookPage:
    notebook: NotebookPage = opener(write_notebook(opener.server, name, cells))
    state = notebook.run_all()
    assert state["errors"] == [], state["errors"]
    widgets = notebook.wait_widgets_rendered()
    assert widgets and all(w["rendered"] and not w["error"] for w in widgets), widgets
    return notebook


def preview_path(notebook: NotebookPage) -> str:
    d: str = notebook.page.evaluate(_PREVIEW_PATH, DESIGNER)
    return d


def wait_preview_changed(notebook: NotebookPage, before: str) -> str:
    notebook.page.wait_for_function(
        "([sel, before]) => { const d = (" + _PREVIEW_PATH.strip() + ")(sel); return d !== '' && d !== before; }",
        arg=[DESIGNER, before],
    )
    return preview_path(notebook)


def code_text(notebook: NotebookPage) -> str:
    return notebook.page.locator(f"{DESIGNER} .lrw-designer-code").inner_text()


def wait_code_changed(notebook: NotebookPage, before: str) -> str:
    notebook.page.wait_for_function(
        "([sel, before]) => { const el = document.querySelector(sel + ' .lrw-designer-code');"
        " return !!el && el.innerText !== before; }",
        arg=[DESIGNER, before],
    )
    return code_text(notebook)


def control(notebook: NotebookPage, widget_class: str, label: str):  # -> playwright Locator
    """The designer's control of that class whose description is ``label``."""
    page = notebook.page
    return page.locator(DESIGNER).locator(widget_class, has=page.locator("label.widget-label", has_text=label)).first


def drag_slider(notebook: NotebookPage, label: str, value: float) -> float:
    """Drag the handle of the designer's slider ``label`` with the mouse to ``value``; return its readout."""
    page = notebook.page
    slider = control(notebook, ".widget-slider", label)
    slider.scroll_into_view_if_needed()
    lo, hi = kernel_json(notebook, f"[d._controls[{label!r}].min, d._controls[{label!r}].max]")  # type: ignore[misc]
    handle, track = slider.locator(".noUi-handle"), slider.locator(".noUi-target")
    box, hbox = track.bounding_box(), handle.bounding_box()
    assert box and hbox
    y = hbox["y"] + hbox["height"] / 2
    page.mouse.move(hbox["x"] + hbox["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (value - lo) / (hi - lo), y, steps=8)
    page.mouse.up()
    return float(slider.locator(".widget-readout").inner_text())


def test_designer_follows_mouse_edits_in_jupyterlab(lab, page_errors: PageErrors) -> None:
    notebook = open_and_run(lab, "ui_designer.ipynb", DESIGNER_CELLS)
    page = notebook.page
    page.locator(DESIGNER).wait_for()
    path0, code0 = preview_path(notebook), code_text(notebook)
    assert path0 and "ExponentialDecay(" in code0 and "decay_rate=0.9" in code0, (path0, code0)

    # 1. Drag the decay-rate slider from 0.9 to about 0.5.
    readout = drag_slider(notebook, "decay_rate", 0.5)
    assert 0.3 < readout < 0.7, readout
    notebook.kernel_wait(
        f"import math as _m; print(_m.isclose(d.schedule.decay_rate, {readout}, abs_tol=0.006)"
        " and d.value['config']['decay_rate'] == d.schedule.decay_rate)"
    )
    rate, at_100 = kernel_json(notebook, "[d.schedule.decay_rate, float(d.preview()[100])]")  # type: ignore[misc]
    assert math.isclose(at_100, 1e-3 * rate, rel_tol=1e-9), (rate, at_100)
    path1 = wait_preview_changed(notebook, path0)
    code1 = wait_code_changed(notebook, code0)
    assert f"decay_rate={rate!r}" in code1 and "decay_rate=0.9," not in code1, code1

    # 2. Type a new number of epochs into its field and press Enter: the run, and the preview, get longer.
    epochs = control(notebook, ".widget-text", "epochs").locator("input")
    epochs.click(click_count=3)
    page.keyboard.type("40")
    page.keyboard.press("Enter")
    notebook.kernel_wait("print(d.value['epochs'] == 40 and d.preview().shape == (4000,))")
    path2 = wait_preview_changed(notebook, path1)

    # 3. Switch the kind: the level of the rate carries over; the controls, preview and code follow.
    control(notebook, ".widget-dropdown", "kind").locator("select").select_option("cosine")
    notebook.kernel_wait(
        "print(type(d.schedule).__name__ == 'CosineDecay' and d.value['kind'] == 'cosine'"
        " and d.schedule.initial_learning_rate == 1e-3 and d.schedule.decay_steps == 4000)"
    )
    wait_preview_changed(notebook, path2)
    code3 = wait_code_changed(notebook, code1)
    assert "CosineDecay(initial_learning_rate=0.001, decay_steps=4000" in code3, code3
    control(notebook, ".widget-slider", "alpha").wait_for()
    assert control(notebook, ".widget-slider", "decay_rate").count() == 0
    assert kernel_json(notebook, "d.error") == ""
    assert page_errors.widget_related() == [], page_errors.widget_related()


def test_designer_edit_replans_a_running_fit(lab, page_errors: PageErrors) -> None:
    lab.page.set_viewport_size({"width": 1400, "height": 1800})  # the designer and the dashboard on screen
    notebook = open_and_run(lab, "ui_designer_steering.ipynb", STEERING_CELLS)
    notebook.kernel_wait("print(dash.history.num_steps >= 30)")
    assert kernel_json(notebook, "[e.source for e in dash.history.events if e.source == 'designer']") == []

    readout = drag_slider(notebook, "decay_rate", 0.5)
    assert 0.3 < readout < 0.7, readout
    # The kernel replans the running fit from the step the edit reached it ...
    notebook.kernel_wait(
        "import math as _m; _e = [e for e in dash.history.events if e.source == 'designer'];"
        f" print(len(_e) == 1 and _m.isclose(d.schedule.decay_rate, {readout}, abs_tol=0.006)"
        " and dash.controller.schedule == d.schedule)"
    )
    k, value, expected = kernel_json(
        notebook,
        "[(_e := [e for e in dash.history.events if e.source == 'designer'][0]).step, _e.value, d.schedule(_e.step)]",
    )  # type: ignore[misc]
    assert math.isclose(value, expected, rel_tol=1e-12), (value, expected)
    # ... and every step since runs with the new schedule (the old one is 0.9 ** (step / 225)).
    notebook.kernel_wait(f"print(dash.history.num_steps >= {k} + 20)")
    notebook.kernel_wait(
        f"_lr = dash.history.learning_rate; print(bool(np.allclose(_lr[{k}:], d.schedule(np.arange({k}, len(_lr))),"
        " rtol=1e-6)))"
    )
    # The dashboard marks the edit on its learning-rate plot, labelled with its source.
    notebook.page.wait_for_function(
        """(sel) => Array.from(document.querySelectorAll(sel + ' .bqplot text'))
                      .some((t) => (t.textContent || '').includes('(designer)'))""",
        arg=DASH,
    )
    notebook.kernel_print("dash.stop()")
    notebook.kernel_wait("print(run.done)")
    assert kernel_json(notebook, "run.exception is None") is True
    assert page_errors.widget_related() == [], page_errors.widget_related()
