"""The learning-rate range test's sweep, as arithmetic: the ramp of rates, the smoothed curve of the
batch losses and the rule that ends the sweep (after fastai's ``lr_find``, ``fastai/callback/schedule.py``).

Pure numpy: the training layer (``lrwidgets.training.finder``) runs the sweep through a
``TrainingSession`` and feeds each recorded batch loss to :class:`RangeTestMonitor`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrwidgets.core.checks import check_choice, check_float, check_int, check_rate, received

MODES = ("exponential", "linear")
MAX_STEPS = 100_000
MIN_STEPS = 11  # see check_ramp
#: the sweep's EMA coefficient (``smoothing``) unless one is given. Not fastai's 0.98, whose lag
#: moves the suggestions to higher rates: on 52 measured sweeps of 100 steps, the default suggestion
#: at 0.95 trained worse than at 0.98 beyond the noise on none and better on 11; lighter (0.9, 0.8)
#: put it below the best rate on some models, where it trained worse (benchmarks/RESULTS.md, "the
#: curve's smoothing")
SMOOTHING = 0.95


def check_ramp(start_learning_rate: Any, end_learning_rate: Any, num_steps: Any, mode: Any) -> tuple[float, float, int]:
    """The ramp's arguments checked (Keras error style): ``0 < start < end``, ``11 <= num_steps``.

    11 is the fewest steps a sweep can suggest from: the suggestions leave out the first tenth of the
    steps and the last 5, and need 5 left (:func:`lrwidgets.core.suggestions.analysed`)."""
    start = check_rate("start_learning_rate", start_learning_rate)
    end = check_rate("end_learning_rate", end_learning_rate)
    if not float(np.float32(end)) > float(np.float32(start)):
        raise ValueError(
            f"Argument `end_learning_rate` must be > start_learning_rate ({start:g}). "
            f"{received('end_learning_rate', end_learning_rate)}"
        )
    steps = check_int("num_steps", num_steps, ge=MIN_STEPS, le=MAX_STEPS)
    check_choice("mode", mode, MODES)
    return start, end, steps


@dataclass(frozen=True)
class Ramp:
    """The rate of each step of the sweep, exact from step 0 to the last.

    ``exponential``: ``start * (end / start) ** (i / (num_steps - 1))``;
    ``linear``: ``start + (end - start) * i / (num_steps - 1)``. Step 0 runs at ``start``, step
    ``num_steps - 1`` at ``end``; later steps (never run) stay at ``end``. Callable on an int step
    or a numpy array of steps, like every ``lrwidgets.schedules`` object.

    Example:
        >>> r = Ramp(1e-10, 1.0, num_steps=11)
        >>> [float(f"{v:.3g}") for v in r(np.arange(11))]
        [1e-10, 1e-09, 1e-08, 1e-07, 1e-06, 1e-05, 0.0001, 0.001, 0.01, 0.1, 1.0]
    """

    start_learning_rate: float = 1e-7
    end_learning_rate: float = 10.0
    num_steps: int = 100
    mode: str = "exponential"

    def __post_init__(self) -> None:
        start, end, steps = check_ramp(self.start_learning_rate, self.end_learning_rate, self.num_steps, self.mode)
        object.__setattr__(self, "start_learning_rate", start)
        object.__setattr__(self, "end_learning_rate", end)
        object.__setattr__(self, "num_steps", steps)

    def __call__(self, step: Any) -> Any:
        i = np.minimum(np.asarray(step, dtype=np.float64), self.num_steps - 1)
        t = i / (self.num_steps - 1)
        a, b = self.start_learning_rate, self.end_learning_rate
        out = a * (b / a) ** t if self.mode == "exponential" else a + (b - a) * t
        return float(out) if np.ndim(out) == 0 else out

    def get_config(self) -> dict[str, Any]:
        return {
            "start_learning_rate": self.start_learning_rate,
            "end_learning_rate": self.end_learning_rate,
            "num_steps": self.num_steps,
            "mode": self.mode,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Ramp:
        return cls(**config)


class RampByRow:
    """``ramp`` indexed by recorded step, as a schedule of batches: with ``steps_per_execution=N``
    Keras runs N batches a call and records one step for them, at the rate set before the call.

    Recorded step ``i`` of the sweep then runs at ``ramp(i)``. The session counts the batches run.
    Where each epoch reads the data to its end, ``steps_per_epoch`` batches (given here), an epoch
    has ``ceil(steps_per_epoch / N)`` calls, its last one shorter, and a batch's recorded step is
    ``epoch * ceil(steps_per_epoch / N) + batch_in_epoch // N``. Where the data runs on (a fit's
    ``steps_per_epoch``) or its length is unknown (None here), every call is full, as Keras
    numbers them, and the recorded step is ``batch // N``.

    An optimizer that accumulates gradients (``gradient_accumulation_steps=N``) updates the weights
    every N batches with the rate of the batch that applies the update: step ``i`` of the sweep is
    its ``i``-th update, N batches (one row each) at ``ramp(i)`` (its count of batches runs across
    epochs: no ``steps_per_epoch``; the sweep starts it at an update's start).

    Example:
        >>> r = RampByRow(Ramp(1e-3, 1e7, num_steps=11), batches_per_row=2)
        >>> [f"{v:.0e}" for v in r(np.arange(0, 6))]  # calls start at batches 0, 2, 4
        ['1e-03', '1e-03', '1e-02', '1e-02', '1e-01', '1e-01']
        >>> r.steps_per_epoch = 5  # calls at batches 0, 2, 4 | 5, 7, 9: steps 0-2 | 3-5
        >>> [f"{v:.0e}" for v in r(np.array([0, 2, 4, 5, 7, 9]))]
        ['1e-03', '1e-02', '1e-01', '1e+00', '1e+01', '1e+02']
    """

    def __init__(self, ramp: Ramp, batches_per_row: int, steps_per_epoch: int | None = None) -> None:
        self.ramp = ramp
        self.batches_per_row = check_int("batches_per_row", batches_per_row, ge=1)
        self.steps_per_epoch = None if steps_per_epoch is None else check_int("steps_per_epoch", steps_per_epoch, ge=1)

    def __call__(self, step: Any) -> Any:
        step, per, steps = np.asarray(step, dtype=np.int64), self.batches_per_row, self.steps_per_epoch
        if steps is None:
            return self.ramp(step // per)
        epoch, within = np.divmod(step, steps)
        return self.ramp(epoch * -(-steps // per) + within // per)


def by_update(learning_rates: np.ndarray, losses: np.ndarray, updates: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of single batches as the updates of an optimizer that applies one every few batches
    (``gradient_accumulation_steps``): ``updates`` numbers each row's update (rows past its end are
    left out). Each update's rate is its last row's (the batch that applies it), its loss the mean of
    its rows' (all its batches see the same weights: the loss of one batch as large as theirs), the
    last update's so far where it is not complete.

    Example:
        >>> rates, losses = by_update(np.float32([1, 1, 2, 2, 3]), np.float32([4, 6, 3, 5, 9]), [0, 0, 1, 1, 2])
        >>> rates.tolist(), losses.tolist()
        ([1.0, 2.0, 3.0], [5.0, 4.0, 9.0])
    """
    n = min(len(losses), len(updates))
    if n == 0:
        return learning_rates[:0], losses[:0]
    ids = np.asarray(updates[:n])
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], n]
    sums = np.add.reduceat(np.asarray(losses[:n], dtype=np.float64), starts)
    return learning_rates[ends - 1], (sums / (ends - starts)).astype(np.asarray(losses).dtype)


class SweepCurve:
    """The sweep's smoothed curve, built one raw batch loss at a time.

    Each loss first goes through a running median of 3 (``y[t] = median(x[t-1], x[t], x[t+1])``;
    at either end the smaller of the point and its neighbour): a single outlier batch is removed,
    a rise or fall over two steps or more is kept as it is. The smoothed curve is the debiased EMA
    of that, as fastai's ``AvgSmoothLoss``: ``a[t] = b*a[t-1] + (1-b)*y[t]``, ``s[t] = a[t] / (1 - b**(t+1))``.
    A step's median needs the next loss, so the smoothed curve trails the raw one by one step
    until :meth:`finish`.
    """

    def __init__(self, smoothing: float = SMOOTHING) -> None:
        self.smoothing = check_float("smoothing", smoothing, ge=0, lt=1)
        # EmaSmoother's rule, inlined (this runs at every step of a sweep): acc / weight.
        self._acc = 0.0
        self._weight = 0.0
        self._raw: list[float] = []
        self._smoothed: list[float] = []

    def __len__(self) -> int:
        return len(self._raw)

    @property
    def raw(self) -> np.ndarray:
        return np.asarray(self._raw, dtype=np.float64)

    @property
    def smoothed(self) -> np.ndarray:
        """The smoothed value of every step so far but the last (until :meth:`finish`), float32."""
        return np.asarray(self._smoothed, dtype=np.float32)

    def _median(self, t: int, last: bool) -> float:
        x = self._raw
        if t == 0:
            return x[0] if len(x) == 1 else min(x[0], x[1])
        if last:
            return min(x[t - 1], x[t])
        a, b, c = x[t - 1], x[t], x[t + 1]
        return max(min(a, b), min(max(a, b), c))

    def append(self, loss: float) -> float | None:
        """Add a finite batch loss; the smoothed value of the step before it (None at step 0)."""
        self._raw.append(float(loss))
        if len(self._raw) < 2:
            return None
        return self._smooth(len(self._raw) - 2, last=False)

    def _smooth(self, t: int, last: bool) -> float:
        b = self.smoothing
        self._acc = b * self._acc + (1.0 - b) * self._median(t, last)
        self._weight = b * self._weight + (1.0 - b)
        s = self._acc / self._weight
        self._smoothed.append(s)
        return s

    def finish(self) -> float | None:
        """Smooth the last step too; its value (None when there is nothing left to smooth)."""
        if len(self._smoothed) < len(self._raw):
            return self._smooth(len(self._raw) - 1, last=True)
        return None


class RangeTestMonitor:
    """The stop rule of the sweep, fed one raw batch loss a step (its curve: :class:`SweepCurve`).

    The sweep stops on the first NaN or inf loss (``"nan"``), when the smoothed loss exceeds
    ``diverge_threshold`` times its lowest value so far (``"diverged"``; not while that lowest
    value is <= 0, where a ratio means nothing), or after ``num_steps`` steps (``"finished"``).
    The lowest value is taken after a warm-up of ``min(10, num_steps // 10)`` steps: the smoothed
    loss of a model already trained (losses near 0, batch to batch several times apart) passed
    4x its first step's at step 1, at a rate far too small to move it.

    Example:
        >>> m = RangeTestMonitor(num_steps=10, smoothing=0.0, diverge_threshold=4.0)
        >>> [m.update(x) for x in (1.0, 0.8, 80.0, 0.7, 0.6, 2.0, 5.0, 9.0)]
        [None, None, None, None, None, None, None, 'diverged']
        >>> [round(float(v), 2) for v in m.curve.smoothed]    # no trace of the spike at step 2
        [0.8, 1.0, 0.8, 0.7, 0.7, 2.0, 5.0, 5.0]
        >>> m.message
        'the smoothed loss (5) passed 4x its best (0.7) at step 6'
    """

    def __init__(self, num_steps: int, smoothing: float = SMOOTHING, diverge_threshold: float = 4.0) -> None:
        self.num_steps = check_int("num_steps", num_steps, ge=1, le=MAX_STEPS)
        self.diverge_threshold = check_float("diverge_threshold", diverge_threshold, gt=1)
        self.curve = SweepCurve(smoothing)
        self.warmup = min(10, self.num_steps // 10)
        self.best = math.inf
        self.reason: str | None = None
        self.message = ""

    def _check(self, s: float | None, step: int) -> None:
        if s is None or self.reason is not None or step < self.warmup:
            return
        if self.best > 0 and s > self.diverge_threshold * self.best:
            self.reason = "diverged"
            self.message = (
                f"the smoothed loss ({s:.4g}) passed {self.diverge_threshold:g}x its best ({self.best:.4g})"
                f" at step {step}"
            )
        self.best = min(self.best, s)

    def update(self, loss: float) -> str | None:
        """Feed the next batch loss; the reason to stop now (``nan``, ``diverged``, ``finished``) or None."""
        if self.reason is not None:
            return self.reason
        t = len(self.curve)
        if not math.isfinite(loss):
            self.reason, self.message = "nan", f"the loss became {loss} at step {t}"
        else:
            self._check(self.curve.append(loss), t - 1)
            if self.reason is None and len(self.curve) >= self.num_steps:
                self._check(self.curve.finish(), t)
                if self.reason is None:
                    self.reason, self.message = "finished", f"all {self.num_steps} steps were run"
        if self.reason is not None:
            self.curve.finish()
        return self.reason


def smooth_losses(losses: Sequence[float] | np.ndarray, smoothing: float = SMOOTHING) -> np.ndarray:
    """The whole :class:`SweepCurve` of ``losses`` up to the first non-finite one (float32).

    Example:
        >>> smooth_losses([1.0, 1.0, 100.0, 1.0, 1.0], smoothing=0.5).tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    curve = SweepCurve(smoothing)
    for v in np.asarray(losses, dtype=np.float64).tolist():
        if not math.isfinite(v):
            break
        curve.append(v)
    curve.finish()
    return curve.smoothed
