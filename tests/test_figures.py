"""The kit's figures read well at any width: legends in a row above each figure (never over a curve,
never cut at an edge), tick labels that do not repeat, room for the last tick label, and a loss
axis that turns logarithmic when the loss spans more than tenfold. The browser check of the same
(bounding boxes of the drawn text) is tests/ui/test_figures_ui.py."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from ipywidgets.widgets.widget import _instances

from lrwidgets.widgets._axes import FIG_MARGIN, Y_LABEL_OFFSET
from lrwidgets.widgets._legend import FigureLegend, legend_html
from lrwidgets.widgets._training_plots import TrainingPlots
from tests.helpers import linear_model


def d3_exponent(value: float, digits: int) -> str:
    """What d3's ``.{digits}~e`` format shows (trailing zeros trimmed)."""
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def assert_distinct_linear_labels(axis: Any) -> None:
    """The axis's tick values, formatted as its ``.Nf`` format shows them, are distinct."""
    ticks = [float(t) for t in axis.tick_values]
    digits = int(axis.tick_format.removeprefix(".").removesuffix("f"))
    labels = [f"{t:.{digits}f}" for t in ticks]
    assert len(ticks) >= 2 and len(set(labels)) == len(labels), labels


def assert_bqplot_legends_off(figure: Any) -> None:
    assert [m for m in figure.marks if m.display_legend] == [], "bqplot would draw a legend over the curves"


def assert_margins(figure: Any) -> None:
    margin = figure.fig_margin
    assert margin["left"] >= FIG_MARGIN["left"], margin  # tick labels and the rotated axis label
    assert margin["right"] >= FIG_MARGIN["right"], margin  # half of the last x tick label ("900")
    for axis in figure.axes:  # a left axis' label clears its tick labels ("2.5e-3")
        if axis.side == "left" and axis.label:
            assert axis.label_offset == Y_LABEL_OFFSET, axis


def test_training_plots_list_their_marks_in_a_legend_row() -> None:
    plots = TrainingPlots(max_points=100)
    for figure in (plots.loss_fig, plots.lr_fig, plots.metrics_fig):
        assert_bqplot_legends_off(figure)
        assert_margins(figure)
        assert figure.title == ""  # the title leads the legend row instead
    x = np.arange(5, dtype=np.float32)
    y = np.array([2.0, 1.5, 1.0, 0.8, 0.7], dtype=np.float32)
    plots.draw_steps(x, y, y, x, np.full(5, 1e-3, np.float32))
    assert plots.loss_legend.labels == ["loss (batch)", "loss (smoothed)"]  # no val_loss before there is one
    assert plots.lr_legend.labels == ["learning rate"]
    assert plots.loss_legend.widget.value.count("lrw-legend-entry") == 2
    assert ">loss</b>" in plots.loss_legend.widget.value
    plots.draw_plan(x, np.full(5, 1e-3, np.float32))
    assert plots.lr_legend.labels == ["learning rate", "planned"]
    plots.draw_epochs([{"epoch": 0, "step": 4, "loss": 0.7, "val_loss": 0.9, "mae": 0.5, "val_mae": 0.6}])
    plots.draw_nonfinite(np.array([3]))
    assert plots.loss_legend.labels == ["loss (batch)", "loss (smoothed)", "val_loss", "loss NaN/inf"]
    assert plots.metrics_legend.labels == ["mae", "val_mae"]
    assert_bqplot_legends_off(plots.metrics_fig)
    # the dashed validation metric is drawn dashed in the legend too
    assert plots.metrics_legend.entries[1]["dashed"] and not plots.metrics_legend.entries[0]["dashed"]


def test_legend_row_escapes_labels_and_wraps() -> None:
    legend = FigureLegend("a <title>")
    assert "&lt;title&gt;" in legend.widget.value
    page = legend_html(
        "", [{"label": "<b>", "color": "red", "opacity": 1.0, "dashed": False, "marker": None, "line": True}]
    )
    assert "&lt;b&gt;" in page and "flex-wrap:wrap" in page


def test_designer_pins_are_listed_above_the_figure_whatever_their_number() -> None:
    import lrwidgets as lrw

    d = lrw.ScheduleDesigner()
    plot = d._plot
    assert plot.view.children == (plot.legend.widget, plot.figure)
    assert_bqplot_legends_off(plot.figure)
    assert_margins(plot.figure)
    for _ in range(9):
        d.pin()
    labels = plot.legend.labels
    assert labels[0] == "current" and len(labels) == 1 + 8  # the oldest pin gave way
    assert labels[1:] == [m.labels[0] for m in plot.pins]
    assert_bqplot_legends_off(plot.figure)
    d.clear_pins()
    assert plot.legend.labels == ["current"]


def test_designer_axes_tick_integers_and_round_rates() -> None:
    import lrwidgets as lrw

    d = lrw.ScheduleDesigner()
    plot = d._plot
    epochs = list(plot.epoch_axis.tick_values)
    assert epochs and all(float(t).is_integer() for t in epochs) and len(set(epochs)) == len(epochs)
    assert plot.y_axis.tick_values is None  # linear: bqplot's ticks
    d.log_y = True
    ticks = [float(t) for t in plot.y_axis.tick_values]
    labels = [d3_exponent(t, 2) for t in ticks]
    assert len(ticks) >= 2 and len(set(labels)) == len(labels), labels
    rates = np.asarray(plot.lines.y, dtype=np.float64)
    assert min(ticks) >= rates.min() * (1 - 1e-6) and max(ticks) <= rates.max() * (1 + 1e-6)
    d.log_y = False
    assert plot.y_axis.tick_values is None


@pytest.mark.parametrize("epochs", [2, 3, 7, 40, 1400])
def test_epoch_axis_ticks_integers_each_once(epochs: int) -> None:
    plots = TrainingPlots(max_points=64)
    plots.draw_epochs([{"epoch": i, "step": i, "mae": 1.0 / (i + 1)} for i in range(epochs)])
    ticks = list(plots.epoch_axis.tick_values)
    assert plots.epoch_axis.tick_format == "d"
    assert all(float(t).is_integer() for t in ticks) and len(set(ticks)) == len(ticks)
    assert min(ticks) >= 1 and max(ticks) <= epochs and len(ticks) <= 8


@pytest.mark.parametrize(("lo", "hi"), [(1e-3, 1.05e-3), (1e-3, 3e-3), (1e-5, 1e-2), (1e-9, 1.0)])
def test_learning_rate_tick_labels_never_repeat(lo: float, hi: float) -> None:
    plots = TrainingPlots(max_points=64)
    x = np.arange(2, dtype=np.float32)
    plots.draw_steps(x, np.ones(2, np.float32), None, x, np.array([lo, hi], np.float32))
    labels = [d3_exponent(float(t), 2) for t in plots.lr_axis.tick_values]
    assert plots.lr_axis.tick_format == ".2~e"
    assert labels and len(set(labels)) == len(labels), labels


def test_change_labels_are_spaced_and_kept_inside_the_plot() -> None:
    from lrwidgets.core import Event

    plots = TrainingPlots(max_points=64)
    x = np.arange(1000, dtype=np.float32)
    plots.draw_steps(x, np.ones(1000, np.float32), None, x, np.full(1000, 1e-3, np.float32))
    steps = [100, 110, 120, 500, 900, 990]
    plots.draw_rate_changes([Event(s, 0, "learning_rate", "", 1e-3, "user") for s in steps])
    start, end = list(plots.lr_labels.x), list(plots.lr_labels.x) + list(plots.lr_labels_end.x)
    # 100 and 110 are crowded out by 120 (labels 12% of the span apart); 900 and 990 too close: 990 kept
    assert sorted(end) == [120, 500, 990]
    assert list(plots.lr_labels_end.x) == [990]  # in the right quarter: drawn leftwards, inside the plot
    assert plots.lr_labels_end.align == "end" and plots.lr_labels.align == "start"
    assert start == [120, 500]
    assert len(plots.lr_rules.x) == len(steps)  # every change keeps its marker line
    # the fit goes on: the plot's right edge moves, and the last label turns to the right of its marker
    x = np.arange(4000, dtype=np.float32)
    plots.draw_steps(x, np.ones(4000, np.float32), None, x, np.full(4000, 1e-3, np.float32))
    assert list(plots.lr_labels_end.x) == [] and 990 in list(plots.lr_labels.x)


@pytest.mark.keras
def test_dashboard_loss_axis_turns_log_when_the_loss_spans_tenfold() -> None:
    import lrwidgets as lrw

    dash = lrw.TrainingDashboard(linear_model())
    assert dash.children.index(dash.plots.loss_legend.widget) + 1 == dash.children.index(dash.plots.loss_fig)
    h = dash.history
    h.start_epoch(0)
    for step in range(100):
        h.record_step(2.0 - step * 0.01, 1e-3, 0.0)  # 2.0 to 1.01: under tenfold
    h.record_epoch(0, {"loss": 1.5, "val_loss": 1.6})
    dash.refresh()
    assert not dash.plots.loss_log and not dash._log_loss.value
    assert len(dash.plots.val_mark.x) == 1
    for step in range(400):
        h.record_step(1.0 * 0.99**step, 1e-3, 0.0)  # down to ~0.018: over tenfold
    widgets_before = set(_instances)
    dash.refresh()
    assert dash.plots.loss_log and dash._log_loss.value
    assert not dash._diagnosis_bar.chosen and not dash._diagnosis_bar.switching  # the switch, not the user
    assert set(_instances) == widgets_before  # mid-fit, the switch builds (and closes) no widget
    linear_mark = dash.plots._loss_sets[False][0]
    assert len(dash.plots.loss_mark.x) == 500  # the steps drawn once, on the log axis
    # the set swapped out holds no points (they would go on in a saved page's widget state)
    assert all(len(m.x) == np.shape(m.y)[-1] == 0 for m in (linear_mark, dash.plots._loss_sets[False][1]))
    assert np.shape(linear_mark.y) == (2, 0)  # its two lines, as built
    assert type(dash.plots.loss_axis.scale).__name__ == "LogScale"
    ticks = [float(t) for t in dash.plots.loss_axis.tick_values]
    assert len(ticks) >= 2 and len({f"{t:.3g}" for t in ticks}) == len(ticks)
    # the user's choice holds: back to linear, and not switched again
    dash._log_loss.value = False
    assert dash._diagnosis_bar.chosen
    for _ in range(100):
        h.record_step(0.001, 1e-3, 0.0)
    dash.refresh()
    assert not dash.plots.loss_log and type(dash.plots.loss_axis.scale).__name__ == "LinearScale"
    assert float(dash.plots.loss_mark.x[-1]) == 599 and len(dash.plots._loss_sets[True][0].x) == 0
    assert_distinct_linear_labels(dash.plots.loss_axis)


@pytest.mark.keras
def test_dashboard_stays_linear_when_the_user_chose_before_the_span_grew() -> None:
    import lrwidgets as lrw

    dash = lrw.TrainingDashboard(linear_model())
    dash._log_loss.value = True
    dash._log_loss.value = False  # chosen: linear
    h = dash.history
    h.start_epoch(0)
    for step in range(300):
        h.record_step(1.0 * 0.98**step, 1e-3, 0.0)
    dash.refresh()
    assert not dash.plots.loss_log


def test_change_labels_on_both_sides_of_their_markers_do_not_overlap() -> None:
    from lrwidgets.core import Event

    plots = TrainingPlots(max_points=64)
    x = np.arange(14400, dtype=np.float32)
    plots.draw_steps(x, np.ones(14400, np.float32), None, x, np.full(14400, 1e-3, np.float32))
    steps = [0, 3600, 7200, 10000, 11000, 12000, 13200]  # 10000 and 11000 straddle the side switch at 10800
    plots.draw_rate_changes([Event(s, 0, "learning_rate", "", 1e-3, "user") for s in steps])
    width = 0.12 * 14399
    extents = [(float(s), float(s) + width) for s in plots.lr_labels.x]
    extents += [(float(s) - width, float(s)) for s in plots.lr_labels_end.x]
    extents.sort()
    assert len(extents) >= 4
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(extents)), extents
    assert 13200 in list(plots.lr_labels_end.x)  # the latest change is always labelled


@pytest.mark.parametrize(("lo", "hi"), [(0.098, 0.1012), (0.45, 1.0), (2.3, 16.2), (0.93, 0.9301), (0.0, 1e-4)])
def test_metrics_axis_labels_never_repeat(lo: float, hi: float) -> None:
    plots = TrainingPlots(max_points=64)
    values = np.linspace(lo, hi, 5)
    plots.draw_epochs([{"epoch": i, "step": i, "accuracy": float(v)} for i, v in enumerate(values)])
    assert_distinct_linear_labels(plots.metrics_axis)
    ticks = [float(t) for t in plots.metrics_axis.tick_values]
    assert lo - 1e-12 <= min(ticks) and max(ticks) <= hi + 1e-12  # inside the drawn range: on the plot
