"""``overfitting``: ``val_loss`` climbing away from its minimum while the training loss falls (per epoch).

It reads the epochs' rows, not the batches' curve, and is not re-armed by a change of the rate:
overfitting is about the data, not the rate. :func:`lrwidgets.core.detectors.build` makes it with
the others (``CURVE_DETECTORS`` in :mod:`lrwidgets.core.curve_detectors`).
"""

from __future__ import annotations

import math
import statistics
from collections import deque

from lrwidgets.core.checks import check_float, check_int
from lrwidgets.core.detectors import Detector
from lrwidgets.core.fit_context import Context
from lrwidgets.core.verdicts import Diagnosis, Fix

__all__ = ["OverfittingDetector"]


class OverfittingDetector(Detector):
    """``overfitting``: each of the last ``patience`` (3) epochs' ``val_loss`` stood above its minimum
    by more than ``rise`` (5%) of it and by more than ``noise_factor`` (2) x its typical change
    between two epochs (the median of those changes so far), while the training loss fell below its
    value at that minimum and below half the untrained model's loss (the model learned).

    The advice is to stop and restore the weights of the minimum's epoch. The typical change is
    what keeps a ``val_loss`` that wobbles on its way down from being read as a rise. Measured
    (``benchmarks/bench_overfitting.py``; MLPs on digits from 50 training samples to 1,437, breast
    cancer, wine, diabetes; Adam and SGD; 80 epochs; ``benchmarks/RESULTS.md``): on 256 fits, the
    rule before (2 epochs above the minimum, the last one rising and 5% above it) gave 223
    verdicts, and in 125 of those runs ``val_loss`` later fell more than 2% below the minimum it
    advised to restore; this one gave 181, 18 of them early (15 with 12 validation samples). The
    price is time: on the runs that climb for good it comes 5-20 epochs after the minimum (the
    median of each data set), where the rule before came from 6 epochs before it to 7 after. A
    ``Diagnostician`` keeps the best epoch's weights (``keep_best``), so a late verdict costs
    epochs, not the model.
    """

    kind = "overfitting"

    def __init__(self, patience: int = 3, rise: float = 0.05, noise_factor: float = 2.0) -> None:
        super().__init__()
        self.patience = check_int("patience", patience, ge=1)
        self.rise = check_float("rise", rise, ge=0)
        self.noise_factor = check_float("noise_factor", noise_factor, ge=0)
        self._best = math.inf
        self._best_epoch = -1
        self._best_train = math.inf
        self._best_step = 0
        self._above = 0
        self._count = 0
        self._last = math.nan
        self._recent: deque[float] = deque(maxlen=self.patience)  # the last epochs' val_loss
        self._changes: list[float] = []  # |val_loss - the epoch before's|

    def rearm(self) -> None:
        """Not re-armed by a rate change: overfitting is about the data, not the rate."""

    @property
    def typical_change(self) -> float:
        """The median change of ``val_loss`` between two epochs so far (NaN before two epochs)."""
        return statistics.median(self._changes) if self._changes else math.nan

    def on_epoch(self, ctx: Context, step: int) -> Diagnosis | None:
        row = ctx.last_epoch
        val, train = row.get("val_loss"), row.get("loss")
        self._count += 1
        if val is None or train is None or not (math.isfinite(val) and math.isfinite(train)):
            return None
        epoch = int(row.get("epoch", self._count - 1))
        if math.isfinite(self._last):
            self._changes.append(abs(val - self._last))
        self._last = val
        self._recent.append(val)
        if val < self._best:
            self._best, self._best_epoch, self._best_train, self._best_step = val, epoch, train, step
            self._above = 0
            self.fired = False
            return None
        self._above += 1
        if self.fired or self._above < self.patience:
            return None
        lowest, noise = min(self._recent), self.typical_change
        if lowest < self._best * (1 + self.rise) or lowest < self._best + self.noise_factor * noise:
            return None
        if train >= self._best_train or not train < 0.5 * ctx.track.initial:
            return None
        return self._report(
            Diagnosis(
                "overfitting",
                self._best_step,
                step,
                {
                    "best_val_loss": self._best,
                    "best_epoch": float(self._best_epoch),
                    "val_loss": val,
                    "lowest_recent_val_loss": lowest,
                    "typical_change": noise,
                    "train_loss_at_best": self._best_train,
                    "train_loss": train,
                },
                f"val_loss rose from its minimum {self._best:.4g} (epoch {self._best_epoch}) to {val:.4g}"
                f" (+{val / self._best - 1:.0%}) over {self._above} epochs, the last {self.patience} all at"
                f" {lowest:.4g} or more (over {self.noise_factor:g}x its typical change between epochs,"
                f" {noise:.3g}, above the minimum), while the training loss fell from {self._best_train:.4g}"
                f" to {train:.4g}",
                f"stop and restore epoch {self._best_epoch}'s weights",
                Fix("restore_best", epoch=self._best_epoch),
            )
        )
