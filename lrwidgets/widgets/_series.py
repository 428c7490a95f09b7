"""Incremental views of history columns for the browser: decimated and smoothed, O(new) per refresh."""

from __future__ import annotations

import numpy as np

from lrwidgets.core import EmaSmoother, Float32Column, MinMaxDecimator


class DecimatedSeries:
    """Feeds new values of a growing column to a :class:`MinMaxDecimator` and, optionally,
    keeps its smoothed copy; ``points()`` gives float32 arrays of at most ``max_points`` points."""

    def __init__(self, max_points: int, smoothing: float | None = None) -> None:
        self._dec = MinMaxDecimator(max_points)
        self._fed = 0
        self._smoother = None if smoothing is None else EmaSmoother(smoothing)
        self._smooth = np.empty(1024, dtype=np.float32)

    def feed(self, column: np.ndarray) -> None:
        new = column[self._fed :]
        if self._smoother is not None and len(column) > len(self._smooth):
            grown = np.empty(max(2 * len(self._smooth), len(column)), dtype=np.float32)
            grown[: self._fed] = self._smooth[: self._fed]
            self._smooth = grown
        self._dec.extend(new)
        if self._smoother is not None:
            self._smooth[self._fed : len(column)] = self._smoother.update_many(new)
        self._fed = len(column)

    def set_smoothing(self, smoothing: float, column: np.ndarray) -> None:
        """Recompute the smoothed copy of the values fed so far (O(n), on a user's change only)."""
        self._smoother = EmaSmoother(smoothing)
        self._smooth[: self._fed] = self._smoother.update_many(column[: self._fed])

    def points(self, column: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Steps, values and smoothed values at the kept indices (float32)."""
        idx = self._dec.indices()
        x = idx.astype(np.float32)
        y = np.asarray(column[idx], dtype=np.float32)
        smooth = self._smooth[idx].copy() if self._smoother is not None else None
        return x, y, smooth


class PointSeries:
    """A growing series of (x, y) points, such as a metric per epoch, for the browser.

    ``append`` is O(1) amortised; ``points()`` returns at most ``max_points`` float32 points,
    min/max decimated over y, so that a fit of 100,000 short epochs sends as much as one of 100.
    """

    def __init__(self, max_points: int) -> None:
        self._dec = MinMaxDecimator(max_points)
        self._x = Float32Column(64)
        self._y = Float32Column(64)

    def __len__(self) -> int:
        return len(self._dec)

    def append(self, x: float, y: float) -> None:
        self._x.append(x)
        self._y.append(y)
        self._dec.append(float(y))

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        idx = self._dec.indices()
        return self._x.view()[idx], self._y.view()[idx]
