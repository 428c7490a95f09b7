"""The per-step curves of a history as the dashboard's plots draw them."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lrwidgets.core import TrainingHistory
from lrwidgets.widgets._series import DecimatedSeries
from lrwidgets.widgets._training_plots import TrainingPlots


class StepPoints(NamedTuple):
    """The decimated curves of one draw (float32): loss steps, values and smoothed values (``None``
    without smoothing), rate steps and values, and the whole loss column (for its NaN markers)."""

    x: np.ndarray
    y: np.ndarray
    smooth: np.ndarray | None
    lr_x: np.ndarray
    lr_y: np.ndarray
    loss: np.ndarray

    def loss_span(self) -> float:
        """How many times its smallest value the largest finite, positive smoothed (or raw) loss is."""
        values = np.asarray(self.smooth if self.smooth is not None else self.y, dtype=np.float64)
        values = values[np.isfinite(values) & (values > 0)]
        return float(values.max() / values.min()) if len(values) else 1.0


class StepCurves:
    """The loss (raw and smoothed) and the learning rate of every step, min/max decimated and fed
    O(new steps) a draw, and markers at the steps whose loss was not finite (the latest ``max_points``)."""

    def __init__(self, plots: TrainingPlots, max_points: int, smoothing: float) -> None:
        self.plots = plots
        self.max_points = max_points
        self.loss = DecimatedSeries(max_points, smoothing)
        self.lr = DecimatedSeries(max(8, max_points // 3))
        self._nonfinite_steps: list[int] = []
        self._nonfinite_seen = 0

    def update(self, history: TrainingHistory) -> StepPoints:
        """Feed the history's new steps; what :meth:`show` draws (nothing is sent yet)."""
        n = history.num_steps
        loss = history.column("loss", n)
        lr = history.column("learning_rate", n)
        self.loss.feed(loss)
        self.lr.feed(lr)
        return StepPoints(*self.loss.points(loss), *self.lr.points(lr)[:2], loss)

    def show(self, points: StepPoints) -> None:
        self.plots.draw_steps(points.x, points.y, points.smooth, points.lr_x, points.lr_y)
        self._draw_nonfinite(points.loss)

    def set_smoothing(self, smoothing: float, history: TrainingHistory) -> None:
        self.loss.set_smoothing(smoothing, history.loss)

    def _draw_nonfinite(self, loss: np.ndarray) -> None:
        """Markers at the top edge for NaN/inf losses: O(new steps); the latest ``max_points`` kept."""
        new = loss[self._nonfinite_seen :]
        bad = np.flatnonzero(~np.isfinite(new))
        self._nonfinite_seen = len(loss)
        if len(bad):
            start = len(loss) - len(new)
            self._nonfinite_steps = (self._nonfinite_steps + [start + int(i) for i in bad])[-self.max_points :]
            self.plots.draw_nonfinite(np.array(self._nonfinite_steps))
