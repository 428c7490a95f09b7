"""The dashboard's figures: loss, learning rate and per-epoch metrics, as one bqplot composition.

Built once; every refresh assigns new decimated float32 arrays to the existing marks inside
``hold_sync()``. Values a scale cannot draw (inf on the linear loss axis, 0 on the log rate
axis) are drawn as gaps; the events say why. Each figure's title and legend are a row of HTML
above it (``FigureLegend``: it never covers a curve); log axes tick at round values and the epoch
axis at integers (``_axes.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from lrwidgets.core import Event
from lrwidgets.widgets._axes import FIG_MARGIN, Y_LABEL_OFFSET, set_int_ticks, set_linear_ticks, set_log_ticks
from lrwidgets.widgets._legend import FigureLegend
from lrwidgets.widgets._marks import Axis, Label, Lines, Scatter
from lrwidgets.widgets._series import PointSeries

#: Marker colour of a rate change by its source: you, another callback, a plateau cut, a designer
#: edit, a re-compile (an unknown source is drawn like "user").
SOURCE_COLORS = {
    "user": "#d62728",
    "callback": "#9467bd",
    "plateau": "#8c564b",
    "designer": "#17becf",
    "compile": "#7f7f7f",
}
MAX_MARKERS = 50
MAX_EPOCH_MARKERS = 100  # per-epoch points drawn with a circle each, up to this many epochs
FIGURE_STYLE: dict[str, Any] = {"animation_duration": 0, "fig_margin": FIG_MARGIN}
#: The smoothed loss drawn spans more than this factor: the loss axis turns logarithmic (unless the
#: user chose the axis), since a linear axis flattens everything below a tenth of its top.
LOG_LOSS_SPAN = 10.0
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def _empty() -> np.ndarray:
    return np.zeros(0, np.float32)


def _rules(x: bq.Scale, unit: bq.Scale) -> bq.Lines:
    """Dashed vertical lines across a whole plot, one per marked event (x: the step, y: 0 to 1)."""
    return Lines(
        x=np.zeros((0, 2)), y=np.zeros((0, 2)), scales={"x": x, "y": unit}, line_style="dashed", stroke_width=1
    )


def _change_labels(x: bq.Scale, unit: bq.Scale, align: str) -> bq.Label:
    return Label(
        x=np.zeros(0), y=np.zeros(0), text=[], scales={"x": x, "y": unit}, default_size=11,
        font_weight="normal", colors=["#d62728"], align=align,
    )  # fmt: skip


def _figure(marks: list[Any], axes: list[bq.Axis], height: str) -> bq.Figure:
    layout = widgets.Layout(width="100%", height=height)
    return bq.Figure(marks=marks, axes=axes, **FIGURE_STYLE, layout=layout)


def finite(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, np.nan).astype(np.float32)


def positive(values: np.ndarray) -> np.ndarray:
    return np.where(values > 0, values, np.nan).astype(np.float32)


class TrainingPlots:
    """The loss figure (batch, smoothed, validation), the rate figure (actual, planned, markers) and
    the metrics figure (added to the layout by ``on_metrics_figure`` once there are metrics), each
    under its ``FigureLegend`` (``loss_legend``, ``lr_legend``, ``metrics_legend``)."""

    def __init__(self, max_points: int) -> None:
        self.max_points = max_points
        x = self.x_scale = bq.LinearScale()
        lr_y, unit = bq.LogScale(), bq.LinearScale(min=0.0, max=1.0)
        #: the loss marks and axis on a linear and on a log y scale, built once (see set_loss_log)
        self._loss_sets = {log: self._loss_parts(bq.LogScale() if log else bq.LinearScale()) for log in (False, True)}
        self.loss_mark, self.val_mark, self.loss_axis = self._loss_sets[False]
        self.loss_rules = _rules(x, unit)
        self._init_diagnosis_marks(x, unit)
        self.loss_fig = _figure(
            [self.loss_mark, self.val_mark, self.loss_rules, self.nonfinite_mark],
            [Axis(scale=x, label="step"), self.loss_axis],
            "280px",
        )
        self.loss_legend = FigureLegend("loss")
        # A rate holds until the next kept step: changes draw as steps.
        self.lr_mark = Lines(
            x=_empty(), y=_empty(), scales={"x": x, "y": lr_y}, colors=["#2ca02c"], interpolation="step-after",
            labels=["learning rate"],
        )  # fmt: skip
        self.plan_mark = Lines(
            x=_empty(), y=_empty(), scales={"x": x, "y": lr_y}, colors=["#999999"], line_style="dashed",
            labels=["planned"],
        )  # fmt: skip
        self.lr_rules = _rules(x, unit)
        # Labels of the latest rate changes: left of their marker in the right quarter of the plot
        # (else they would run off its right edge), right of it elsewhere.
        self.lr_labels, self.lr_labels_end = (_change_labels(x, unit, align) for align in ("start", "end"))
        self.lr_axis = Axis(
            scale=lr_y, side="left", label="learning rate", tick_format=".2~e", label_offset=Y_LABEL_OFFSET
        )
        self.lr_fig = _figure(
            [self.plan_mark, self.lr_mark, self.lr_rules, self.lr_labels, self.lr_labels_end],
            [Axis(scale=x, label="step"), self.lr_axis],
            "200px",
        )
        self.lr_legend = FigureLegend("learning rate")
        self._changes: list[Event] = []  # the rate changes labelled (the last 10)
        self._labels_right = 0.0  # the plot's right edge (a step) when they were placed
        self._metric_x, self._metric_y = bq.LinearScale(), bq.LinearScale()
        self.epoch_axis = Axis(scale=self._metric_x, label="epoch", tick_format="d")
        self.metrics_axis = Axis(scale=self._metric_y, side="left", tick_format=".3~g")
        self.metrics_fig = _figure(
            [],
            [
                self.epoch_axis,
                self.metrics_axis,
            ],
            "220px",
        )
        self.metrics_legend = FigureLegend("metrics per epoch")
        self._metric_names: list[str] = []
        self._epoch_series: dict[str, PointSeries] = {}
        self._seen_epochs = 0
        #: called once with the metrics figure when the first metric arrives (the view adds it)
        self.on_metrics_figure: Callable[[bq.Figure], None] = lambda fig: None

    def draw_steps(
        self, x: np.ndarray, y: np.ndarray, smooth: np.ndarray | None, lx: np.ndarray, ly: np.ndarray
    ) -> None:
        with self.loss_mark.hold_sync():
            self.loss_mark.x = x
            self.loss_mark.y = self.loss_values(np.vstack([y, smooth if smooth is not None else y]))
        with self.lr_mark.hold_sync():
            self.lr_mark.x = lx
            self.lr_mark.y = positive(ly)
        self.draw_lr_ticks()
        if self._changes and len(lx) and float(np.nanmax(lx)) > 1.05 * self._labels_right:
            self._place_change_labels()  # the plot widened: labels may move to the other side
        self.draw_loss_ticks()
        self.draw_loss_legend()

    def draw_loss_ticks(self) -> None:
        """Ticks of the loss axis over the losses drawn: round decades on a log axis, else round steps."""
        if self.loss_log:
            set_log_ticks(self.loss_axis, self.loss_mark.y, self.val_mark.y)
        else:
            set_linear_ticks(self.loss_axis, self.loss_mark.y, self.val_mark.y)

    def draw_loss_legend(self) -> None:
        """The loss legend lists the validation loss and the NaN/inf markers once they are drawn."""
        shown = [m for m in (self.val_mark, self.nonfinite_mark) if len(m.x)]
        self.loss_legend.show([self.loss_mark, *shown])

    def draw_plan(self, x: np.ndarray, y: np.ndarray) -> None:
        with self.plan_mark.hold_sync():
            self.plan_mark.x = x
            self.plan_mark.y = positive(y)
        self.draw_lr_ticks()

    def draw_lr_ticks(self) -> None:
        """Round, distinct ticks over the rates drawn (actual and planned); sent only when they change."""
        set_log_ticks(self.lr_axis, self.lr_mark.y, self.plan_mark.y)
        self.lr_legend.show([self.lr_mark, *([self.plan_mark] if len(self.plan_mark.x) else [])])

    def draw_rate_changes(self, events: Sequence[Event]) -> None:
        """A dashed marker per rate change on both plots, coloured by its source; the last 10 labelled."""
        changes = [e for e in events if e.kind == "learning_rate" and e.source != "init"][-MAX_MARKERS:]
        xs = np.array([[e.step, e.step] for e in changes], dtype=np.float32).reshape(-1, 2)
        ys = np.tile(np.array([0.0, 1.0], dtype=np.float32), (len(changes), 1))
        colors = [SOURCE_COLORS.get(e.source or "", SOURCE_COLORS["user"]) for e in changes] or ["#d62728"]
        for rules in (self.loss_rules, self.lr_rules):
            with rules.hold_sync():
                rules.x, rules.y, rules.colors = xs, ys, colors
        self._changes = changes[-10:]
        self._place_change_labels()

    def _place_change_labels(self) -> None:
        """Label the latest changes that have room; sides follow the plot's right edge as it grows."""
        x = np.asarray(self.lr_mark.x, dtype=np.float64)
        left, right = (float(np.nanmin(x)), float(np.nanmax(x))) if len(x) else (0.0, 0.0)
        self._labels_right = right
        end = left + 0.75 * (right - left)  # beyond it, a label is drawn leftwards of its marker
        labelled = _spaced(self._changes, right - left, end)
        for labels, side in ((self.lr_labels, False), (self.lr_labels_end, True)):
            chosen = [e for e in labelled if (e.step > end) is side]
            with labels.hold_sync():
                labels.x = np.array([e.step for e in chosen], dtype=np.float32)
                labels.y = np.full(len(chosen), 0.92, dtype=np.float32)
                labels.text = [f" {e.value:.1e} ({e.source}) " for e in chosen]

    def _metric_mark(self, label: str, color: str, style: str) -> bq.Lines:
        scales = {"x": self._metric_x, "y": self._metric_y}
        return Lines(
            x=np.zeros(0), y=np.zeros(0), colors=[color], line_style=style, marker="circle", marker_size=16,
            labels=[label], scales=scales,
        )  # fmt: skip

    def draw_epochs(self, epochs: Sequence[dict[str, Any]]) -> None:
        """Send the per-epoch curves: O(new epochs) work and at most ``max_points`` points a line."""
        first, new = self._seen_epochs, epochs[self._seen_epochs :]
        if not new:
            return
        self._seen_epochs = first + len(new)
        skip = {"epoch", "step", "learning_rate"}
        for count, row in enumerate(new, start=first + 1):
            for key, value in row.items():
                if key in skip or not isinstance(value, (int, float)):
                    continue
                series = self._epoch_series.get(key)
                if series is None:
                    series = self._epoch_series[key] = PointSeries(self.max_points)
                # val_loss is drawn against steps on the loss plot, the metrics against the number of
                # epochs trained so far (it goes on across fits, where Keras's epoch restarts at 0).
                series.append(row["step"] if key == "val_loss" else count, value)
        if "val_loss" in self._epoch_series:
            _set_points(self.val_mark, self._epoch_series["val_loss"])
            if self.loss_log:
                self.val_mark.y = self.loss_values(np.asarray(self.val_mark.y, dtype=np.float32))
            self.draw_loss_ticks()
        names = sorted(k for k in self._epoch_series if k not in ("loss", "val_loss") and not k.startswith("val_"))
        if not names:
            return
        added = names != self._metric_names
        if added:
            self._metric_names = names
            self.metrics_fig.marks = [
                self._metric_mark(prefix + name, PALETTE[i % len(PALETTE)], style)
                for i, name in enumerate(names)
                for prefix, style in (("", "solid"), ("val_", "dashed"))
            ]
        for mark in self.metrics_fig.marks:
            series = self._epoch_series.get(mark.labels[0])
            if series is not None:
                _set_points(mark, series)
        set_int_ticks(self.epoch_axis, 1, self._seen_epochs)  # integer epochs, each label once
        set_linear_ticks(self.metrics_axis, *(m.y for m in self.metrics_fig.marks))
        self.metrics_legend.show([m for m in self.metrics_fig.marks if len(m.x)])  # no val_ line without data
        if added:  # shown once its axes are set: the page draws it with their ticks and formats
            self.on_metrics_figure(self.metrics_fig)

    # ---- diagnosis: non-finite losses at the top edge, log-y (issue 13) ---------------------------
    def _loss_parts(self, y: bq.Scale) -> tuple[bq.Lines, bq.Lines, bq.Axis]:
        """The loss marks (per step, validation) and axis on the y scale ``y``."""
        x = self.x_scale
        loss = Lines(
            x=_empty(), y=np.zeros((2, 0), np.float32), scales={"x": x, "y": y}, colors=["#1f77b4"] * 2,
            opacities=[0.3, 1.0], labels=["loss (batch)", "loss (smoothed)"],
        )  # fmt: skip
        val = Lines(
            x=_empty(), y=_empty(), scales={"x": x, "y": y}, colors=["#ff7f0e"], marker="circle",
            marker_size=24, labels=["val_loss"],
        )  # fmt: skip
        return loss, val, Axis(scale=y, side="left", label="loss", tick_format=".3~g", label_offset=Y_LABEL_OFFSET)

    def _init_diagnosis_marks(self, x: bq.Scale, unit: bq.Scale) -> None:
        #: a NaN or inf batch loss: a marker at the top edge of the plot (its y is the unit scale)
        self.nonfinite_mark = Scatter(
            x=_empty(), y=_empty(), scales={"x": x, "y": unit}, marker="triangle-down", colors=["#c00"],
            default_size=48, labels=["loss NaN/inf"],
        )  # fmt: skip
        self.loss_log = False

    def set_loss_log(self, log: bool, steps: bool = True) -> None:
        """Draw the loss on a log axis (a divergence over 12 decades stays readable) or a linear one.

        The figure swaps in the other set of marks and axis, built with the figure: bqplot's page does
        not rescale marks whose scale is swapped after they drew, and building them here, mid-fit,
        would send four new widgets. The data drawn come along, and the set swapped out is emptied
        (a notebook's saved widget state, and so an exported page, holds no hidden points);
        ``steps=False`` leaves the per-step mark, its ticks and the legend to the caller, who draws
        them next (one message of data, not two).
        """
        if bool(log) == self.loss_log:
            return
        self.loss_log = bool(log)
        old = (self.loss_mark, self.val_mark)
        self.loss_mark, self.val_mark, self.loss_axis = self._loss_sets[self.loss_log]
        pairs = list(zip((self.loss_mark, self.val_mark), old, strict=True))
        for new, mark in pairs if steps else pairs[1:]:
            with new.hold_sync():
                new.x, new.y, new.marker = mark.x, self.loss_values(np.asarray(mark.y)), mark.marker
        if steps:  # else drawn with the steps
            self.draw_loss_ticks()  # on a log axis round decades (1, 0.3, 0.1 ...), read plain with ".3~g"
        with self.loss_fig.hold_sync():
            self.loss_fig.marks = [self.loss_mark, self.val_mark, *self.loss_fig.marks[2:]]
            self.loss_fig.axes = [self.loss_fig.axes[0], self.loss_axis]
        for mark in old:  # hidden now: its points would only go on in a saved page's widget state
            with mark.hold_sync():
                mark.x, mark.y = _empty(), np.zeros((*np.shape(mark.y)[:-1], 0), np.float32)  # as built
        if steps:
            self.draw_loss_legend()

    def loss_values(self, values: np.ndarray) -> np.ndarray:
        """What the loss axis can draw: finite values (and > 0 on the log axis); the rest are gaps."""
        return positive(finite(values)) if self.loss_log else finite(values)

    def draw_nonfinite(self, steps: np.ndarray) -> None:
        """Markers at the top edge at the steps whose loss was NaN or inf (the line has a gap there)."""
        with self.nonfinite_mark.hold_sync():
            self.nonfinite_mark.x = steps.astype(np.float32)
            self.nonfinite_mark.y = np.full(len(steps), 0.97, dtype=np.float32)
        self.draw_loss_legend()


def _set_points(mark: Any, series: PointSeries) -> None:
    """Draw a per-epoch series; its circle markers go once there are too many to tell apart."""
    x, y = series.points()
    with mark.hold_sync():
        mark.x, mark.y = x, y
        mark.marker = "circle" if len(series) <= MAX_EPOCH_MARKERS else None


def _spaced(changes: Sequence[Event], span: float, end: float, fraction: float = 0.12) -> list[Event]:
    """The latest changes whose labels do not overlap. A label is ~14 characters, taken as
    ``fraction`` of the x ``span`` (about an eighth of the plot): right of its marker, or left of it
    for a marker beyond ``end``."""
    width = fraction * span
    kept: list[Event] = []
    taken: list[tuple[float, float]] = []
    for event in reversed(changes):
        lo = event.step - width if event.step > end else event.step
        if all(lo + width <= a or lo >= b for a, b in taken):
            kept.append(event)
            taken.append((lo, lo + width))
    return kept[::-1]
