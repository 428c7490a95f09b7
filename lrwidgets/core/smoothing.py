"""Exponential moving average with start-up bias correction (as TensorBoard draws it)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from lrwidgets.core.checks import check_float, check_real, received


def _check_smoothing(smoothing: float) -> float:
    return check_float("smoothing", smoothing, ge=0, lt=1)


class EmaSmoother:
    """Incremental debiased EMA: ``s_t = b*s_{t-1} + (1-b)*x_t``, shown as ``s_t / (1 - b**t)``.

    Non-finite inputs are skipped (the previous smoothed value is repeated), so one NaN
    does not wipe out the smoothed curve.

    Example:
        >>> s = EmaSmoother(0.5)
        >>> [round(s.update(x), 3) for x in (1.0, 3.0, float("nan"), 3.0)]
        [1.0, 2.333, 2.333, 2.714]
    """

    def __init__(self, smoothing: float = 0.9) -> None:
        self.smoothing = _check_smoothing(smoothing)
        self.reset()

    def reset(self) -> None:
        self._acc = 0.0
        self._weight = 0.0

    def __repr__(self) -> str:  # its whole state, exactly: two smoothers in the same state read the same
        return f"EmaSmoother(smoothing={self.smoothing!r}, acc={self._acc!r}, weight={self._weight!r})"

    def state(self) -> tuple[float, float]:
        """``(acc, weight)``: what :meth:`load_state` takes to carry on from here (the smoothed value
        is ``acc / weight``)."""
        return self._acc, self._weight

    def load_state(self, acc: float, weight: float) -> None:
        """Carry on from ``state()``'s ``(acc, weight)`` (as computed by the same rule elsewhere)."""
        acc, weight = check_real("acc", acc), check_real("weight", weight)
        if weight < 0:
            raise ValueError(f"Argument `weight` must be >= 0. {received('weight', weight)}")
        self._acc, self._weight = acc, weight

    def update(self, value: float) -> float:
        b = self.smoothing
        if math.isfinite(value):
            self._acc = b * self._acc + (1.0 - b) * value
            self._weight = b * self._weight + (1.0 - b)
        return self._acc / self._weight if self._weight > 0 else float("nan")

    def update_many(self, values: np.ndarray | Sequence[float]) -> list[float]:
        """:meth:`update` for each value in turn (the same arithmetic, in one loop over locals)."""
        b = self.smoothing
        c = 1.0 - b
        acc, weight = self._acc, self._weight
        isfinite, nan = math.isfinite, float("nan")
        out: list[float] = []
        append = out.append
        for value in np.asarray(values, dtype=np.float64).tolist():
            if isfinite(value):
                acc = b * acc + c * value
                weight = b * weight + c
            append(acc / weight if weight > 0 else nan)
        self._acc, self._weight = acc, weight
        return out


def ema(values: np.ndarray, smoothing: float) -> np.ndarray:
    """The debiased EMA of a whole series (same rule as :class:`EmaSmoother`), as float32."""
    return np.asarray(EmaSmoother(smoothing).update_many(values), dtype=np.float32)
