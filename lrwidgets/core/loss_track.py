"""What the diagnosis's detectors share: :class:`LossTrack`, the loss of a fit followed in O(1)
a step (:mod:`lrwidgets.core.diagnosis`)."""

from __future__ import annotations

import itertools
import math
import statistics

from lrwidgets.core.checks import check_float, check_int


class LossTrack:
    """What the detectors share, updated once a step in O(1).

    Holds the debiased EMA of the batch loss (``smooth``), its lowest value after the first
    ``warmup_steps`` (``best``), the loss at the start (``initial``: the mean of the first
    ``initial_steps`` finite batch losses, by default the first alone: an untrained model's loss,
    before a too-large rate's first update shows), and, since the last jump of the learning rate
    (``rate_start``): the step count, its first loss (``rate_first``), the mean of its first 3
    losses (``rate_head``), the highest batch loss, and a window of the last ``window`` batch
    losses with running sums (mean, standard deviation). ``top_rate`` is the highest rate left at
    a jump (0 before the first): a current rate below it was lowered from one this fit ran.
    """

    def __init__(self, smoothing: float = 0.9, window: int = 40, warmup_steps: int = 20, initial_steps: int = 1):
        self.smoothing = check_float("smoothing", smoothing, ge=0, lt=1)
        self.window = check_int("window", window, ge=4)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, ge=0)
        self.initial_steps = check_int("initial_steps", initial_steps, ge=1)
        self.head_steps = 3
        self._acc = self._weight = 0.0
        self.smooth = math.nan
        self.best = math.inf
        self.best_step = -1
        self.initial = math.nan
        self._initial_sum = 0.0
        self._initial_count = 0
        self.steps = 0  # finite losses seen
        self.step = -1
        self.last_loss = math.nan
        self.learning_rate = math.nan
        self.top_rate = 0.0
        self.reset_rate(0, math.nan)

    def reset_rate(self, step: int, learning_rate: float) -> None:
        """A new rate from ``step`` on: the per-rate statistics start again."""
        self.rate_start = step
        self.rate_steps = 0
        self.rate_first = math.nan  # the first loss at this rate
        self.rate_origin = math.nan  # the rate at its first step (a ramp's start: changes under 1.5x a step)
        self.rate_head = math.nan  # the mean of the first `head_steps` losses at this rate
        self._head_sum = 0.0
        self.rate_max = -math.inf
        self.rate_max_step = step
        self._ring = [0.0] * self.window
        self._n = 0
        self._sum = self._sumsq = 0.0
        self.learning_rate = learning_rate

    def update(self, step: int, loss: float, learning_rate: float, rate_jump: float, restart: bool = False) -> bool:
        """Feed a finite batch loss; True when the rate jumped (by ``rate_jump`` x or more) before it.
        ``restart``: start the per-rate statistics again at this loss as a jump does, jump or not."""
        self.step = step
        self.last_loss = loss
        jumped = False
        old = self.learning_rate
        if learning_rate != old and math.isfinite(old) and old > 0 and learning_rate > 0:
            jumped = max(learning_rate / old, old / learning_rate) >= rate_jump
        if jumped or restart:
            self.top_rate = max(self.top_rate, old)
            self.reset_rate(step, learning_rate)
        self.learning_rate = learning_rate
        steps = self.steps = self.steps + 1
        if self._initial_count < self.initial_steps:
            self._initial_sum += loss
            self._initial_count += 1
            self.initial = self._initial_sum / self._initial_count
        b = self.smoothing
        acc = self._acc = b * self._acc + (1 - b) * loss
        weight = self._weight = b * self._weight + (1 - b)
        smooth = self.smooth = acc / weight if weight > 0 else loss
        if steps > self.warmup_steps and smooth < self.best:
            self.best, self.best_step = smooth, step
        rate_steps = self.rate_steps
        if rate_steps < self.head_steps:
            if rate_steps == 0:
                self.rate_first, self.rate_start = loss, step  # the first step of a fit, or of its rate
                self.rate_origin = learning_rate
            self._head_sum += loss
            self.rate_head = self._head_sum / (rate_steps + 1)
        self.rate_steps = rate_steps + 1
        if loss > self.rate_max:
            self.rate_max, self.rate_max_step = loss, step
        n, window, ring = self._n, self.window, self._ring
        slot = n % window
        if n >= window:
            old_value = ring[slot]
            self._sum -= old_value
            self._sumsq -= old_value * old_value
        ring[slot] = loss
        self._sum += loss
        self._sumsq += loss * loss
        n = self._n = n + 1
        if n % (64 * window) == 0:  # running sums drift: recompute them now and then
            self._sum = sum(ring)
            self._sumsq = sum(v * v for v in ring)
        return jumped

    def load_state(
        self, *, step: int, smooth: float, acc: float, weight: float, steps: int, best: float, best_step: int,
        learning_rate: float, rate_max: float, rate_max_step: int, rate_steps: int, total: float, total_sq: float,
    ) -> None:  # fmt: skip
        """Set the state that :meth:`update` keeps, as a loop over many losses computed it
        (:func:`~lrwidgets.core.plain_rows.feed_plain_rows`); the last loss is the newest in the window."""
        self.step, self.smooth, self._acc, self._weight, self.steps = step, smooth, acc, weight, steps
        self.best, self.best_step, self.learning_rate = best, best_step, learning_rate
        self.rate_max, self.rate_max_step = rate_max, rate_max_step
        self.rate_steps = self._n = rate_steps
        self._sum, self._sumsq = total, total_sq
        self.last_loss = self._ring[(rate_steps - 1) % self.window]

    @property
    def full(self) -> bool:
        """The window holds ``window`` losses, all at the current rate."""
        return self._n >= self.window

    @property
    def mean(self) -> float:
        n = min(self._n, self.window)
        return self._sum / n if n else math.nan

    @property
    def std(self) -> float:
        n = min(self._n, self.window)
        if n < 2:
            return 0.0
        m = self._sum / n
        return math.sqrt(max(self._sumsq / n - m * m, 0.0))

    def _window_values(self) -> list[float]:
        """The window's losses, oldest first."""
        n, ring = min(self._n, self.window), self._ring
        start = self._n % self.window if self._n >= self.window else 0
        return ring[start:] + ring[:start] if start else ring[:n]

    def half_means(self) -> tuple[float, float]:
        """Means of the older and the newer half of the window (O(window): called when a rule is due)."""
        values = self._window_values()
        n = len(values)
        h = n // 2
        return sum(values[:h]) / max(h, 1), sum(values[h:]) / max(n - h, 1)

    def newer_mean(self) -> float:
        """``half_means()[1]``, to the bit, without the older half: the newer half's losses summed in
        the same order, read from the ring in place (``too_slow``'s check, every quarter window)."""
        n, window, ring = min(self._n, self.window), self.window, self._ring
        k = n - n // 2  # the newer half's length
        end = self._n % window if self._n >= window else n  # one past the newest loss in the ring
        newer = ring[end - k : end] if end >= k else itertools.chain(ring[window - (k - end) :], ring[:end])
        return sum(newer) / max(k, 1)

    def robust_spread(self) -> tuple[float, float]:
        """The window's median, and 1.4826 x its median absolute deviation (normal noise's sd)."""
        values = self._window_values() or [math.nan]
        median = statistics.median(values)
        return median, 1.4826 * statistics.median(abs(v - median) for v in values)
