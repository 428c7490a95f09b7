"""Diagnostics on the loss curve: non-finite values and divergence."""

from __future__ import annotations

import math

from lrwidgets.core.checks import check_float, check_int
from lrwidgets.core.smoothing import EmaSmoother


class DivergenceMonitor:
    """Flags a loss that has risen far above its best smoothed value, and stays there.

    The smoothed loss ``s`` (debiased EMA) is compared with a reference: its lowest value after the warm-up,
    but never less than ``noise_floor`` times its value at the end of the warm-up (a loss that
    fell a thousandfold and wobbles near zero is converged, not diverging). The run diverges
    when ``s > factor * reference`` for ``patience`` steps in a row, after ``warmup_steps``.
    It reports once, and re-arms only when ``s`` comes back under ``sqrt(factor) * reference``
    (hysteresis: noise around the threshold does not flag again and again).

    Args:
        factor: ratio to the reference that counts as diverging (> 1).
        smoothing: EMA coefficient in [0, 1).
        warmup_steps: steps to ignore at the start (early losses are noisy).
        patience: steps in a row above the threshold before the run is flagged (>= 1).
        noise_floor: the reference is at least this fraction of the smoothed loss after warm-up.

    Example:
        >>> m = DivergenceMonitor(factor=2.0, smoothing=0.0, warmup_steps=0)
        >>> [m.update(x) for x in (1.0, 0.5, 0.9, 1.2, 0.4)]
        [False, False, False, True, False]
    """

    def __init__(
        self,
        factor: float = 4.0,
        smoothing: float = 0.9,
        warmup_steps: int = 20,
        patience: int = 1,
        noise_floor: float = 1e-2,
    ) -> None:
        self.factor = check_float("factor", factor, gt=1)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, ge=0)
        self.patience = check_int("patience", patience, ge=1)
        self.noise_floor = check_float("noise_floor", noise_floor, ge=0, lt=1)
        self._smoother = EmaSmoother(smoothing)
        self._best = math.inf
        self.smoothed = math.nan  # the smoothed loss after the last update
        self._floor = 0.0
        self._steps = 0
        self._above = 0
        self._flagged = False

    @property
    def best(self) -> float:
        """Lowest smoothed loss so far."""
        return self._best

    def update(self, loss: float) -> bool:
        """Feed one batch loss; True exactly when the run starts to diverge."""
        self._steps += 1
        s = self.smoothed = self._smoother.update(loss)
        if not math.isfinite(s):
            return False
        if self._steps <= self.warmup_steps:
            return False  # nor is the best taken from them: an early EMA is a handful of batches
        self._best = min(self._best, s)
        if not self._floor:
            self._floor = self.noise_floor * max(s, 0.0)
        reference = max(self._best, self._floor)
        if reference <= 0:
            return False
        if self._flagged:
            if s < math.sqrt(self.factor) * reference:
                self._flagged = False
                self._above = 0
            return False
        self._above = self._above + 1 if s > self.factor * reference else 0
        if self._above >= self.patience:
            self._flagged = True
            return True
        return False

    def update_many(self, losses: list[float]) -> list[tuple[int, float, float]]:
        """Feed many batch losses: ``(index, smoothed, best)`` where :meth:`update` would say True.

        The same rule as ``update`` called once per loss, in one loop over local names (a
        recorder scans a few hundred new steps at a time at ~1/5 of the cost of single calls).
        """
        smoothed = self._smoother.update_many(losses)  # the same EMA as `update`'s
        steps, best, floor, above, flagged = self._steps, self._best, self._floor, self._above, self._flagged
        factor, warmup, patience, noise_floor = self.factor, self.warmup_steps, self.patience, self.noise_floor
        rearm = math.sqrt(factor)
        isfinite = math.isfinite
        found = []
        for i, s in enumerate(smoothed):
            steps += 1
            if not isfinite(s) or steps <= warmup:
                continue
            if s < best:
                best = s
            if not floor:
                floor = noise_floor * max(s, 0.0)
            reference = best if best > floor else floor
            if reference <= 0:
                continue
            if flagged:
                if s < rearm * reference:
                    flagged, above = False, 0
                continue
            above = above + 1 if s > factor * reference else 0
            if above >= patience:
                flagged = True
                found.append((i, s, best))
        self._steps, self._best, self._floor, self._above, self._flagged = steps, best, floor, above, flagged
        if smoothed:
            self.smoothed = smoothed[-1]
        return found
