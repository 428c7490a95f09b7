"""The per-layer equalizer (LayerLRControls) inside a TrainingDashboard, in a real JupyterLab, used with
the mouse while a background fit runs.

What training actually did is read from a record the training thread keeps: an extra
``UpdateSizeMonitor`` stores, many times a second, each layer's ||dW|| / ||W|| over one step and the
multipliers read from the optimizer in the training thread (on jax the optimizer's variables cannot be
read from the kernel thread mid-epoch). The browser side is read from the DOM.
"""

from __future__ import annotations

import math

import pytest
from jupyter_page import ARTIFACTS, NotebookPage, PageErrors, write_notebook

pytestmark = pytest.mark.ui

NOTEBOOK = "ui_layer_controls_live.ipynb"
LAYERS = ["body1", "body2", "head"]
SETUP = """import math, os
os.environ.setdefault("KERAS_BACKEND", "jax")
import keras, numpy as np
from sklearn.datasets import load_digits
import lrwidgets as lrw
keras.utils.set_random_seed(0)
digits = load_digits()
x, y = (digits.data / 16.0).astype("float32"), digits.target.astype("int32")
x, y = np.tile(x, (10, 1)), np.tile(y, 10)  # epochs of 562 steps: the dashboard refreshes at each epoch's end
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256, activation="relu", name="body1"),
                          keras.layers.Dense(256, activation="relu", name="body2"),
                          keras.layers.Dense(10, activation="softmax", name="head")])
model.compile(optimizer=lrw.LayerwiseOptimizer(keras.optimizers.Adam(1e-3)), loss="sparse_categorical_crossentropy")
seen = []  # (step, {layer: ||dW||/||W||}, {layer: multiplier}), appended in the training thread


def record(sizes, multipliers):
    seen.append((dash.history.num_steps - 1, sizes, multipliers))


def with_multiplier(start, layer, multiplier):
    # The records from `start` on that were made with `layer` at `multiplier`.
    return [s for _, s, m in seen[start:] if math.isclose(m[layer], multiplier, rel_tol=1e-5, abs_tol=1e-12)]


def sizes(start, layer, multiplier):
    return [s[layer] for s in with_multiplier(start, layer, multiplier)]


def relative_size(start, layer, multiplier, reference="head"):
    # Mean of the layer's update size over the reference layer's, in those records.
    ratios = [s[layer] / s[reference] for s in with_multiplier(start, layer, multiplier) if s[reference] > 0]
    return sum(ratios) / len(ratios)
"""
CELLS = [
    SETUP,
    "dash = lrw.TrainingDashboard(model, update_interval=0.5)\ndash",
    "run = dash.fit(x, y, epochs=1000, batch_size=32, callbacks=[lrw.UpdateSizeMonitor(record, interval=0.05)])",
]

EQ = ".lrwidgets-dashboard .lrw-eq"
# Per layer: the bar's rendered size, the slider's value, the multiplier label and the frozen state.
_BANDS = """
(sel) => Object.fromEntries(Array.from(document.querySelectorAll(sel + ' .lrw-eq-band')).map((band) => {
  const bar = band.querySelector('.lrw-eq-bar').getBoundingClientRect();
  return [band.dataset.layer, {
    bar_height: bar.height, bar_width: bar.width,
    slider: parseFloat(band.querySelector('.lrw-eq-slider').value),
    label: band.querySelector('.lrw-eq-mult').textContent,
    frozen: band.classList.contains('lrw-frozen'),
    checked: band.querySelector('.lrw-eq-freeze input').checked,
  }];
}))
"""


def bands(notebook: NotebookPage) -> dict:
    result: dict = notebook.page.evaluate(_BANDS, EQ)
    return result


def wait_bands(notebook: NotebookPage, condition: str) -> None:
    """Wait until the JS ``condition`` holds of ``b``, the object `bands` returns."""
    notebook.page.wait_for_function(f"(sel) => {{ const b = ({_BANDS.strip()})(sel); return {condition}; }}", arg=EQ)


@pytest.fixture
def equalizer_notebook(lab_server) -> str:
    return write_notebook(lab_server.root_dir, NOTEBOOK, CELLS)


def test_equalizer_live_in_jupyterlab(lab, equalizer_notebook: str, page_errors: PageErrors) -> None:
    notebook = lab(equalizer_notebook)
    notebook.run_all_rendered()
    page = notebook.page
    eq = page.locator(EQ)
    eq.scroll_into_view_if_needed()
    assert [band.get_attribute("data-layer") for band in eq.locator(".lrw-eq-band").all()] == LAYERS

    # (c) While training, the update-size bars are drawn: every layer's bar has a nonzero size.
    wait_bands(notebook, "Object.values(b).every((x) => x.bar_height > 0 && x.bar_width > 0)")
    notebook.kernel_wait(
        "print(dash.controller.running and len(seen) >= 5"
        f" and all(dash.layer_controls.update_size.get(n, 0) > 0 for n in {LAYERS}))"
    )

    # (a) Drag body2's vertical slider down with the mouse, from x1 towards x0.01.
    lo, hi = notebook.kernel_json("[dash.layer_controls.min_exponent, dash.layer_controls.max_exponent]")
    before = bands(notebook)
    assert [before[n]["slider"] for n in LAYERS] == [0.0, 0.0, 0.0] and before["body2"]["label"] == "×1", before
    start = notebook.kernel_json("len(seen)")
    box = eq.locator('.lrw-eq-band[data-layer="body2"] .lrw-eq-slider').bounding_box()
    assert box
    x_mid = box["x"] + box["width"] / 2

    def y_of(exponent: float) -> float:  # the slider's minimum is at the bottom
        return box["y"] + box["height"] * (1 - (exponent - lo) / (hi - lo))

    page.mouse.move(x_mid, y_of(0.0))
    page.mouse.down()
    page.mouse.move(x_mid, y_of(-2.0), steps=8)
    page.mouse.up()
    after = bands(notebook)
    shown = after["body2"]["slider"]
    assert -2.6 < shown < -1.4, after  # where the mouse left it
    assert after["body1"]["slider"] == 0.0 and after["head"]["slider"] == 0.0, after
    target = 10**shown
    assert math.isclose(float(after["body2"]["label"].removeprefix("×")), target, rel_tol=0.05), after
    # The panel got the value the slider shows (float32 in the optimizer: it may be shown back rounded) ...
    notebook.kernel_wait(f"print(math.isclose(dash.layer_controls.multipliers['body2'], {target}, rel_tol=1e-6))")
    # ... the training thread reads it back from the optimizer ...
    notebook.kernel_wait(f"print(len(with_multiplier({start}, 'body2', {target})) >= 5)")
    # ... and it acts: body2's steps shrink by about the multiplier (~100x), relative to the head's.
    ratios = notebook.kernel_json(f"[relative_size(0, 'body2', 1.0), relative_size({start}, 'body2', {target})]")
    assert ratios[1] < 0.1 * ratios[0], ratios

    # (b) Click body1's freeze toggle: the multiplier is 0, body1 stops moving, its band shows it frozen.
    start = notebook.kernel_json("len(seen)")
    eq.locator('.lrw-eq-band[data-layer="body1"] .lrw-eq-freeze input').click()
    notebook.kernel_wait(
        "print(dash.layer_controls.multipliers['body1'] == 0.0"
        " and dash.layer_controls.value['body1'] == {'multiplier': 1.0, 'frozen': True})"
    )
    notebook.kernel_wait(f"print(len(sizes({start}, 'body1', 0.0)) >= 5)")
    frozen = notebook.kernel_json(f"sizes({start}, 'body1', 0.0)")
    assert all(size == 0.0 for size in frozen), frozen  # not one step moved it
    wait_bands(notebook, "b.body1.frozen && b.body1.checked && b.body1.label === '×0' && b.body1.bar_height === 0")
    final = bands(notebook)
    assert final["body2"]["bar_height"] > 0 and final["head"]["bar_height"] > 0, final  # the others still train
    assert math.isclose(final["body2"]["slider"], shown, abs_tol=1e-6), final  # the freeze left body2 as it was
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    eq.screenshot(path=str(ARTIFACTS / "layer_controls.png"))

    notebook.kernel_print("dash.stop()")
    notebook.kernel_wait("print(run.done)")
    assert notebook.kernel_json("[run.exception is None, dash.layer_controls.error]") == [True, ""]
    assert page_errors.widget_related() == [], page_errors.widget_related()
