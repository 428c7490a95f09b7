"""The one-cycle policy (Smith & Topin, 2018), as popularised by fastai."""

from __future__ import annotations

import numpy as np

from lrwidgets.schedules._base import Schedule, check_float, check_int


class OneCycle(Schedule):
    """One cycle: a cosine rise to ``max_learning_rate``, then a cosine fall far below the start.

    With ``start = max_learning_rate / div_factor``, ``end = start / final_div_factor`` and
    ``peak = pct_start * total_steps``: for ``step <= peak``,
    ``lr = start + (max_learning_rate - start) * 0.5 * (1 - cos(pi * step / peak))``; then
    ``lr = end + (max_learning_rate - end) * 0.5 * (1 + cos(pi * (step - peak) / (total_steps - peak)))``
    until ``total_steps``, and ``end`` after it.

    PyTorch's ``OneCycleLR`` (cosine annealing, two phases) uses the same formula with both phase
    ends one step earlier (``peak - 1`` and ``total_steps - 1``). Keras has no one-cycle schedule:
    ``to_keras()`` raises ``NoKerasEquivalentError``.

    Args:
        max_learning_rate: the peak learning rate (> 0).
        total_steps: length of the cycle in steps (an integer >= 1).
        pct_start: fraction of the cycle spent rising, in (0, 1).
        div_factor: ``max_learning_rate / div_factor`` is the starting rate (>= 1).
        final_div_factor: the final rate is the starting rate divided by this (>= 1).

    Example:
        >>> s = OneCycle(0.1, total_steps=100, pct_start=0.25, div_factor=10.0, final_div_factor=100.0)
        >>> s(0), s(25), s(100)
        (0.01, 0.1, 0.0001)
    """

    config_keys = ("max_learning_rate", "total_steps", "pct_start", "div_factor", "final_div_factor")

    def __init__(
        self,
        max_learning_rate: float,
        total_steps: int,
        pct_start: float = 0.25,
        div_factor: float = 25.0,
        final_div_factor: float = 1e5,
    ) -> None:
        self.max_learning_rate = check_float("max_learning_rate", max_learning_rate, gt=0)
        self.total_steps = check_int("total_steps", total_steps, ge=1)
        self.pct_start = check_float("pct_start", pct_start, gt=0, lt=1)
        self.div_factor = check_float("div_factor", div_factor, ge=1)
        self.final_div_factor = check_float("final_div_factor", final_div_factor, ge=1)

    def _evaluate(self, steps: np.ndarray) -> np.ndarray:
        top = self.max_learning_rate
        start = top / self.div_factor
        end = start / self.final_div_factor
        peak = self.pct_start * self.total_steps
        steps = np.minimum(steps, self.total_steps)
        rising = steps <= peak
        # One cosine over both phases: the rise goes from start to top, the fall from top to end.
        done = np.where(rising, steps / peak, (steps - peak) / (self.total_steps - peak))
        half_cos = 0.5 * (1.0 + np.cos(np.pi * done))
        # Written as weighted means so that both ends of each phase are exact.
        return np.where(rising, start * half_cos + top * (1.0 - half_cos), top * half_cos + end * (1.0 - half_cos))
