"""Every figure the kit draws is readable in JupyterLab at its default width: no tick label, axis
label or mark label clipped by the figure's edge or overlapping another, no tick label repeated on
an axis, no legend drawn inside a plot (legends are a row above it, whose entries neither overlap
nor leave the row). Read from the bounding boxes of the drawn text.

Drawn: a dashboard after two fits (a loss spanning more than tenfold, validation, a metric, a rate
change), the designer with eight pinned schedules on a log axis and one on a linear axis, the range
test's finder.
"""

from __future__ import annotations

from typing import Any

import pytest
from jupyter_page import NotebookPage, PageErrors, write_notebook

pytestmark = pytest.mark.ui

CELLS = [
    """import os
os.environ.setdefault("KERAS_BACKEND", "jax")
import keras
import numpy as np
from sklearn.datasets import load_digits
import lrwidgets as lrw
keras.utils.set_random_seed(0)
digits = load_digits()
x = (digits.data / 16.0).astype("float32")
y = digits.target.astype("int32")
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])""",
    "dash = lrw.TrainingDashboard(model)\ndash",
    """data = dict(x=x[:1400], y=y[:1400], batch_size=32, validation_data=(x[1400:], y[1400:]))
dash.fit(epochs=5, **data).wait()
dash.learning_rate = 3e-3
dash.fit(epochs=5, **data).wait()""",
    """d = lrw.ScheduleDesigner(kind="exponential", initial_learning_rate=1e-3, epochs=30, steps_per_epoch=100)
for kind in ["constant", "step", "exponential", "polynomial", "inverse_time", "cosine", "cosine_restarts",
             "one_cycle"]:
    d.kind = kind
    d.pin()
d.log_y = True
d""",
    # a linear rate axis: tick labels such as "2.5e-3", the widest the kit draws beside an axis label
    'lrw.ScheduleDesigner(kind="cosine", initial_learning_rate=2.5e-3, epochs=30, steps_per_epoch=100)',
    # A fresh copy of the model: the trained one's loss no longer falls clearly (no suggestion to lay out).
    """fresh = keras.models.clone_model(model)
fresh.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
finder = lrw.LRFinder(fresh, num_steps=60)
finder""",
    "finder.run(x, y, batch_size=32).wait()",
]

# The text drawn in each bqplot figure and the entries of each legend row, with their boxes.
_GEOMETRY = """
() => {
  const box = (el) => { const r = el.getBoundingClientRect();
                        return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
  const figures = Array.from(document.querySelectorAll('.bqplot.figure')).map((fig) => {
    const axes = Array.from(fig.querySelectorAll('g.axis'));
    const texts = [];
    for (const t of fig.querySelectorAll('svg text')) {
      const text = (t.textContent || '').trim();
      const r = t.getBoundingClientRect();
      if (!text || r.width === 0 || r.height === 0) continue;
      const axis = t.closest('g.axis');
      texts.push({text, ...box(t), tick: !!t.closest('.tick'), axis: axis ? axes.indexOf(axis) : -1,
                  legend: t.classList.contains('legendtext')});
    }
    return {box: box(fig), texts};
  });
  const legends = Array.from(document.querySelectorAll('.lrw-legend')).map((row) => ({
    box: box(row.closest('.widget-html') || row),
    entries: Array.from(row.querySelectorAll('.lrw-legend-entry, .lrw-legend-title'))
      .map((e) => ({text: e.textContent.trim(), ...box(e)})),
  }));
  return {figures, legends};
}
"""

TOLERANCE = 1.0  # px: antialiasing at a box's edge


def overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        min(a["right"], b["right"]) - max(a["left"], b["left"]) > TOLERANCE
        and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > TOLERANCE
    )


def inside(a: dict[str, Any], outer: dict[str, Any]) -> bool:
    return (
        a["left"] >= outer["left"] - TOLERANCE
        and a["right"] <= outer["right"] + TOLERANCE
        and a["top"] >= outer["top"] - TOLERANCE
        and a["bottom"] <= outer["bottom"] + TOLERANCE
    )


def figure_problems(figure: dict[str, Any]) -> list[str]:
    texts = figure["texts"]
    problems = [f"bqplot legend text {t['text']!r}" for t in texts if t["legend"]]
    box = figure["box"]
    problems += [f"{t['text']!r} clipped by the figure's edge {box}: {t}" for t in texts if not inside(t, box)]
    for i, a in enumerate(texts):
        problems += [f"{a['text']!r} overlaps {b['text']!r}" for b in texts[i + 1 :] if overlap(a, b)]
    for axis in {t["axis"] for t in texts if t["tick"]}:
        labels = [t["text"] for t in texts if t["tick"] and t["axis"] == axis]
        if len(set(labels)) != len(labels):
            problems.append(f"axis {axis} repeats tick labels: {labels}")
    return problems


def legend_problems(legend: dict[str, Any]) -> list[str]:
    entries = legend["entries"]
    problems = [f"legend entry {e['text']!r} outside its row" for e in entries if not inside(e, legend["box"])]
    for i, a in enumerate(entries):
        problems += [
            f"legend entries {a['text']!r} and {b['text']!r} overlap" for b in entries[i + 1 :] if overlap(a, b)
        ]
    return problems


def test_kit_figures_have_no_clipped_overlapping_or_repeated_text(lab, page_errors: PageErrors) -> None:
    notebook: NotebookPage = lab(write_notebook(lab.server.root_dir, "figures.ipynb", CELLS))
    state = notebook.run_all()
    assert state["errors"] == [], state["errors"]
    widgets = notebook.wait_widgets_rendered()
    assert len(widgets) == 4 and all(w["rendered"] and not w["error"] for w in widgets), widgets
    notebook.screenshot_widgets("figures")
    # the view is up to date with the kernel: the finder's suggestions are listed, the dashboard's
    # loss axis went logarithmic (its loss fell more than tenfold)
    notebook.page.wait_for_function("() => document.querySelectorAll('.lrw-legend-entry').length >= 3 + 1 + 9 + 3")
    assert notebook.kernel_json("dash.plots.loss_log") is True
    geometry = notebook.page.evaluate(_GEOMETRY)
    # loss, learning rate, metrics; the designers' previews; the finder's plot
    assert len(geometry["figures"]) == 6 and len(geometry["legends"]) == 6, geometry
    ticks = sum(t["tick"] for f in geometry["figures"] for t in f["texts"])
    assert ticks > 20, geometry  # the check below reads drawn text, not an empty page
    problems = [p for f in geometry["figures"] for p in figure_problems(f)]
    problems += [p for legend in geometry["legends"] for p in legend_problems(legend)]
    assert problems == [], problems
    assert page_errors.widget_related() == [], page_errors.widget_related()
