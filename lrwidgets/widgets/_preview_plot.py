"""The ScheduleDesigner's chart: one bqplot figure kept for the widget's life, under its legend row."""

from __future__ import annotations

import bqplot as bq
import ipywidgets as w
import numpy as np

from lrwidgets.core.decimate import minmax_indices
from lrwidgets.widgets._axes import Y_LABEL_OFFSET, set_int_ticks, set_log_ticks
from lrwidgets.widgets._legend import FigureLegend
from lrwidgets.widgets._marks import Axis, Lines, Scatter

MAX_PINS = 8
PIN_COLORS = ["#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.float32)


class PreviewPlot:
    """Learning rate against epochs (bottom axis) and steps (top axis), pinned curves to compare,
    and for a plateau design the monitored curve (right axis) with a marker at each reduction.

    Every update assigns new decimated float32 arrays to the existing marks inside ``hold_sync()``:
    one message per mark, at most ``max_points`` points a curve, whatever the length of the run.
    ``view`` is the figure under its legend row (``legend``: the current curve, the pins, the
    monitored curve), which never covers the curves however many pins there are.
    """

    def __init__(self, max_points: int = 1000) -> None:
        self.max_points = max_points
        self.x = bq.LinearScale(min=0.0)
        self.x_steps = bq.LinearScale(min=0.0)
        self.y_linear, self.y_log, self.y_loss = bq.LinearScale(min=0.0), bq.LogScale(), bq.LinearScale()
        lr_scales = {"x": self.x, "y": self.y_linear}
        self.lines = Lines(
            x=_empty(),
            y=_empty(),
            scales=lr_scales,
            colors=["#1f77b4"],
            stroke_width=2,
            labels=["current"],
        )
        self.loss = Lines(
            x=_empty(),
            y=_empty(),
            scales={"x": self.x, "y": self.y_loss},
            colors=["#999999"],
            opacities=[0.7],
            labels=["monitored"],
            visible=False,
        )
        self.reductions = Scatter(
            x=_empty(),
            y=_empty(),
            scales=lr_scales,
            colors=["#d62728"],
            marker="triangle-down",
            default_size=48,
            visible=False,
            tooltip=bq.Tooltip(fields=["x", "y"], labels=["epoch", "new rate"]),
        )
        self.y_axis = Axis(
            scale=self.y_linear, side="left", label="learning rate", tick_format=".2~e", label_offset=Y_LABEL_OFFSET
        )
        self.loss_axis = Axis(scale=self.y_loss, side="right", label="monitored", visible=False)
        self.epoch_axis = Axis(scale=self.x, label="epoch", tick_format="d")
        axes = [
            self.epoch_axis,
            Axis(scale=self.x_steps, side="top", label="step", tick_format="~s"),
            self.y_axis,
            self.loss_axis,
        ]
        self.pins: list[bq.Lines] = []
        self.figure = bq.Figure(
            marks=[self.lines],
            axes=axes,
            fig_margin={"top": 50, "bottom": 45, "left": 76, "right": 60},
            animation_duration=0,
            layout=w.Layout(width="620px", height="340px"),
        )
        self.legend = FigureLegend(indent_px=76)
        self.legend.widget.layout.width = "620px"
        # Never narrower than its figure: beside the designer's controls, a squeezed chart would cut
        # its last tick labels and its legend row (the designer wraps its controls below instead).
        self.view = w.VBox([self.legend.widget, self.figure], layout=w.Layout(width="620px", flex="0 0 auto"))

    @property
    def log_y(self) -> bool:
        return self.y_axis.scale is self.y_log

    def show(
        self,
        steps: np.ndarray,
        rates: np.ndarray,
        total_steps: int,
        steps_per_epoch: int,
        monitored: np.ndarray | None = None,
        epoch_rates: np.ndarray | None = None,
    ) -> None:
        """Draw ``rates`` at ``steps`` (sorted, the last one ``total_steps - 1``), decimated.

        With ``monitored``, the plateau view (``epoch_rates`` per epoch, a marker at each reduction).
        """
        epochs = total_steps / steps_per_epoch
        idx = minmax_indices(rates, self.max_points)
        # The last point is the end of the last epoch, so a flat tail reaches the right edge.
        x = np.append(steps[idx] / steps_per_epoch, epochs).astype(np.float32)
        y = np.append(rates[idx], rates[-1])
        if self.log_y:
            y = _lift_zeros(y)
        plateau = monitored is not None and epoch_rates is not None
        with self.figure.hold_sync():
            self.x.max = float(epochs)
            self.x_steps.max = float(total_steps)
            self.lines.x, self.lines.y = x, y.astype(np.float32)
            set_int_ticks(self.epoch_axis, 0, int(epochs))
            self.loss.visible = self.loss_axis.visible = self.reductions.visible = plateau
            if monitored is not None and epoch_rates is not None:
                # What cannot be drawn is left out (NaN: mostly an epoch that logged no value, with
                # validation every few epochs): as gaps in the line, each value would stand alone and
                # draw nothing.
                logged = np.flatnonzero(np.isfinite(monitored))
                seen = logged[minmax_indices(monitored[logged], self.max_points)] if len(logged) else logged
                self.loss.x = (seen + 1).astype(np.float32)  # seen at each epoch's end
                self.loss.y = monitored[seen].astype(np.float32)
                fired = np.flatnonzero(np.diff(epoch_rates) < 0) + 1
                if len(fired) > self.max_points:
                    fired = fired[np.linspace(0, len(fired) - 1, self.max_points).astype(np.intp)]
                self.reductions.x = fired.astype(np.float32)
                self.reductions.y = epoch_rates[fired].astype(np.float32)
            self._set_marks()

    def pin(self, label: str) -> None:
        """Keep a copy of the current curve on the chart (the oldest goes beyond ``MAX_PINS``)."""
        color = PIN_COLORS[len(self.pins) % len(PIN_COLORS)]
        pinned = Lines(
            x=self.lines.x,
            y=self.lines.y,
            scales=self.lines.scales,
            colors=[color],
            opacities=[0.8],
            labels=[label],
        )
        self.pins = [*self.pins, pinned][-MAX_PINS:]
        self._set_marks()

    def clear_pins(self) -> None:
        self.pins = []
        self._set_marks()

    def set_log_y(self, log_y: bool) -> None:
        """Swap the learning-rate scale of the axis and of every mark on it (the figure is kept)."""
        scale = self.y_log if log_y else self.y_linear
        with self.figure.hold_sync():
            for mark in [self.lines, self.reductions, *self.pins]:
                if log_y:  # a pinned curve drawn on the linear axis may hold zeros: lift them too
                    mark.y = _lift_zeros(np.asarray(mark.y, dtype=np.float32))
                mark.scales = {**mark.scales, "y": scale}
            self.y_axis.scale = scale
            self._draw_ticks()

    def _set_marks(self) -> None:
        marks = [*self.pins, self.lines]
        if self.loss.visible:
            marks += [self.loss, self.reductions]
        if marks != list(self.figure.marks):
            self.figure.marks = marks
        self.legend.show([self.lines, *self.pins, *([self.loss] if self.loss.visible else [])])
        self._draw_ticks()

    def _draw_ticks(self) -> None:
        """Round, distinct rates on the log axis; bqplot's own ticks on the linear one."""
        if self.log_y:
            set_log_ticks(self.y_axis, self.lines.y, *(p.y for p in self.pins))
        elif self.y_axis.tick_values is not None:
            self.y_axis.tick_values = None


def _lift_zeros(y: np.ndarray) -> np.ndarray:
    """A log axis cannot show 0: zeros are lifted far below the curve (1e-12 of its top)."""
    if not y.size:
        return y
    return np.maximum(y, max(float(np.max(y)), 1e-30) * 1e-12).astype(y.dtype)
