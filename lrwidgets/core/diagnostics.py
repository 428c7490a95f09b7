"""Diagnostics on the loss curve: non-finite values and divergence."""

from __future__ import annotations

import math

from lrwidgets.core.smoothing import EmaSmoother


class DivergenceMonitor:
    """Flags a loss that has risen far above its best smoothed value.

    The smoothed loss (debiased EMA) is compared with the lowest smoothed value seen so far;
    when it exceeds ``factor`` times that minimum, after ``warmup_steps`` steps, the run is
    diverging. It reports once and re-arms when the loss comes back under the threshold.

    Args:
        factor: ratio to the best smoothed loss that counts as diverging (> 1).
        smoothing: EMA coefficient in [0, 1).
        warmup_steps: steps to ignore at the start (early losses are noisy).

    Example:
        >>> m = DivergenceMonitor(factor=2.0, smoothing=0.0, warmup_steps=0)
        >>> [m.update(x) for x in (1.0, 0.5, 0.9, 1.2, 0.4)]
        [False, False, False, True, False]
    """

    def __init__(self, factor: float = 4.0, smoothing: float = 0.9, warmup_steps: int = 20) -> None:
        if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor > 1):
            raise ValueError(f"Argument `factor` must be > 1. Received: factor={factor!r}")
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(
                f"Argument `warmup_steps` must be an integer >= 0. Received: warmup_steps={warmup_steps!r}"
            )
        self.factor = float(factor)
        self.warmup_steps = warmup_steps
        self._smoother = EmaSmoother(smoothing)
        self._best = math.inf
        self._steps = 0
        self._flagged = False

    @property
    def best(self) -> float:
        """Lowest smoothed loss so far."""
        return self._best

    def update(self, loss: float) -> bool:
        """Feed one batch loss; True exactly when the run starts to diverge."""
        self._steps += 1
        s = self._smoother.update(loss)
        if not math.isfinite(s):
            return False
        self._best = min(self._best, s)
        diverging = self._steps > self.warmup_steps and self._best > 0 and s > self.factor * self._best
        newly = diverging and not self._flagged
        self._flagged = diverging
        return newly
