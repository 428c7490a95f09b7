"""What ``LRSweep`` draws of each trial: its curves decimated for the browser, and the rows of
all trials stacked into the arrays of one bqplot mark."""

from __future__ import annotations

import numpy as np

from lrwidgets.sweep import TrialCurve
from lrwidgets.widgets._series import DecimatedSeries, PointSeries


class TrialView:
    """One trial's curves for the browser: smoothed loss, val points, rates; at most ``budget`` points each."""

    def __init__(self, budget: int, smoothing: float) -> None:
        self._budget, self._smoothing = budget, smoothing
        self._start(None)

    def _start(self, attempt: str | None) -> None:
        """Empty views for a run of the trial (its first, or one that replaces the last: a new sweep
        run, a trial queued again, a task Dask ran again)."""
        self.attempt = attempt
        self.loss = DecimatedSeries(self._budget, self._smoothing)
        self.rate = DecimatedSeries(self._budget)
        self.val = PointSeries(self._budget)
        self.epochs_seen = 0
        self.steps = np.zeros(0, np.float32)
        self.loss_values = np.zeros(0, np.float32)
        self.rate_values = np.zeros(0, np.float32)

    def update(self, curve: TrialCurve) -> None:
        """Bring the views up to ``curve`` (a copy of what the trial has streamed): new points are
        added; a curve of another run, or shorter, is drawn afresh."""
        if curve.attempt != self.attempt or len(curve.steps) < len(self.steps) or len(curve.epochs) < self.epochs_seen:
            self._start(curve.attempt)
        self.steps = np.asarray(curve.steps, np.float32)
        self.loss_values = np.asarray(curve.loss, np.float32)
        self.rate_values = np.asarray(curve.learning_rate, np.float32)
        self.loss.feed(self.loss_values)
        self.rate.feed(self.rate_values)
        for e in curve.epochs[self.epochs_seen :]:
            if "val_loss" in e:
                self.val.append(e.get("step", 0.0), e["val_loss"])
        self.epochs_seen = len(curve.epochs)

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        idx, _, smooth = self.loss.points(self.loss_values)
        ridx, rates, _ = self.rate.points(self.rate_values)
        vx, vy = self.val.points()
        steps = self.steps[idx.astype(np.int64)]
        assert smooth is not None
        return steps, smooth, self.steps[ridx.astype(np.int64)], rates, vx, vy


def stack(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of different lengths as one 2-D float32 array, padded with NaN (drawn as nothing).

    At least 2 columns: bqplot squeezes its arrays, and a (1, 1) array would lose both dimensions.
    """
    width = max(2, *(len(r) for r in rows)) if rows else 0
    out = np.full((len(rows), width), np.nan, np.float32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out
