"""The per-step curves of a history as the dashboard's plots draw them."""

from __future__ import annotations

import numpy as np

from lrwidgets.core import TrainingHistory
from lrwidgets.widgets._series import DecimatedSeries
from lrwidgets.widgets._training_plots import TrainingPlots


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

    def draw(self, history: TrainingHistory) -> None:
        n = history.num_steps
        loss = history.column("loss", n)
        lr = history.column("learning_rate", n)
        self.loss.feed(loss)
        self.lr.feed(lr)
        x, y, smooth = self.loss.points(loss)
        lx, ly, _ = self.lr.points(lr)
        self.plots.draw_steps(x, y, smooth, lx, ly)
        self._draw_nonfinite(loss)

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
