"""The suggestion methods of the learning-rate range test: fastai's four (``valley``, ``slide``,
``minimum``, ``steep``; ``fastai/callback/schedule.py``) and lrwidgets' default, ``robust_valley``.

Every slope is taken against ``log10`` of the rate (the axis the curve is drawn on), never
against the rate itself: a slope against the linear rate is dominated by the last few steps of
an exponential ramp. On fastai's own exponential ramp the two agree index for index.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lrwidgets.core.range_test import SMOOTHING, smooth_losses

#: fastai's four methods, and lrwidgets' default (a valley that one batch cannot move).
METHODS = ("robust_valley", "valley", "slide", "minimum", "steep")
DEFAULT_METHOD = "robust_valley"
#: fastai skips the first tenth of the planned steps and the last 5 recorded ones.
SKIP_END = 5
#: fastai's `slide` threshold is 0.005 loss per step of its default ramp (8 decades in 100 steps,
#: 0.08 decade a step): 0.0625 loss per decade, the same rule on any ramp.
SLIDE_THRESHOLD = 0.005 / 0.08
SLIDE_WINDOW = 15


def valley(learning_rates: np.ndarray, losses: np.ndarray) -> int:
    """fastai's ``valley`` (by ESRI): the middle of the longest valley; returns its index.

    The longest valley is the longest strictly decreasing subsequence of the losses (not
    necessarily contiguous); ``end`` is the first index where one of that length ends, and
    ``start = end - length`` (-1 when it starts at step 0, as in fastai). With
    ``sections = (end - start) / 3`` the suggestion is at ``start + int(sections) + int(sections / 2)``
    (clipped to the curve), about half-way through the valley in ``log10`` of the rate: on an
    exponential ramp fastai's index itself; on a linear ramp the step whose ``log10`` rate is
    nearest the same fraction of the valley's span.
    O(n log n) (fastai's loop is O(n^2)); the same ``end`` and ``start`` as fastai's.

    Example:
        >>> lrs = 10.0 ** np.arange(-5, 1)
        >>> valley(lrs, np.array([3.0, 2.0, 1.5, 1.0, 0.8, 5.0]))   # steps 0-4 fall: start -1, end 4
        0
    """
    n = len(losses)
    if n == 0:
        raise ValueError("valley: no losses")
    tails: list[float] = []  # tails[k]: the largest last value (negated, smallest) of a run of k+1
    best_len, end = 0, 0
    for i, v in enumerate(np.asarray(losses, dtype=np.float64).tolist()):
        k = bisect.bisect_left(tails, -v)
        if k == len(tails):
            tails.append(-v)
        else:
            tails[k] = -v
        if k + 1 > best_len:
            best_len, end = k + 1, i
    start = end - best_len  # fastai's: -1 when the valley starts at step 0
    sections = (end - start) / 3
    index = min(max(start + int(sections) + int(sections / 2), 0), n - 1)
    first = max(start, 0)
    if end == first:
        return index
    # In log10 of the rate: the same fraction of the valley's span (the same index on an exponential ramp).
    logs = np.log10(np.asarray(learning_rates, dtype=np.float64))
    target = logs[first] + (logs[end] - logs[first]) * (index - first) / (end - first)
    return int(first + np.argmin(np.abs(logs[first : end + 1] - target)))


def slide(
    learning_rates: np.ndarray,
    losses: np.ndarray,
    window: int = SLIDE_WINDOW,
    threshold: float = SLIDE_THRESHOLD,
) -> int:
    """fastai's ``slide`` (by Andrew Chang): an interval slide rule from the high end; returns its index.

    ``g = d loss / d log10(rate)`` (``np.gradient``). From the last step ``r`` and ``l = r - window``
    it slides both down while ``|g[r] - g[l]| > threshold``; the suggestion is the last ``l`` taken
    (the first ``l`` when the slopes already agree). ``threshold`` is in loss per decade: fastai's
    0.005 per step of its 0.08-decade steps is 0.0625.

    Example:
        >>> lrs = 10.0 ** np.linspace(-6, 0, 40)
        >>> loss = np.where(np.arange(40) < 25, 2.0, 2.0 + (np.arange(40) - 25) ** 2)
        >>> slide(lrs, loss, window=5)
        20
    """
    n = len(losses)
    if n < 2:
        return 0
    g = np.gradient(np.asarray(losses, dtype=np.float64), np.log10(np.asarray(learning_rates, dtype=np.float64)))
    window = min(window, n - 1)
    r = n - 1
    left = r - window
    found = left
    while left >= 0 and abs(g[r] - g[left]) > threshold:
        found = left
        r -= 1
        left -= 1
    return found


def minimum(learning_rates: np.ndarray, losses: np.ndarray) -> tuple[int, float]:
    """fastai's ``minimum``: a tenth of the rate of the lowest loss; returns (that index, the rate / 10).

    Example:
        >>> minimum(np.array([1e-3, 1e-2, 1e-1]), np.array([2.0, 1.0, 3.0]))
        (1, 0.001)
    """
    i = int(np.argmin(losses))
    return i, float(learning_rates[i]) / 10


def steep(learning_rates: np.ndarray, losses: np.ndarray) -> int:
    """fastai's ``steep``: the left end of the steepest fall, ``argmin(diff(loss) / diff(log10 rate))``,
    up to the curve's lowest point: past it the curve is the blow-up, and a sweep that did not stop
    there (a cross-entropy saturates near 16, under 4x a lagging best) can fall steeply from its peak
    (a digits MLP's sweep on tensorflow: 2.26 for Adam, which trains to a loss above chance, where the
    fall before the lowest point gives 0.066, beside the default's 0.064).

    Example:
        >>> steep(np.array([1e-4, 1e-3, 1e-2, 1e-1]), np.array([2.0, 1.9, 1.0, 0.9]))
        1
        >>> steep(np.array([1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]), np.array([2.0, 1.5, 1.4, 9.0, 3.0, 8.0]))
        0
    """
    losses = np.asarray(losses, dtype=np.float64)
    end = int(np.argmin(losses)) + 1 if len(losses) else 0
    logs = np.log10(np.asarray(learning_rates, dtype=np.float64)[:end])
    slopes = np.diff(losses[:end]) / np.diff(logs)
    return int(np.argmin(slopes)) if len(slopes) else 0


def robust_valley(learning_rates: np.ndarray, losses: np.ndarray, low: float = 0.3, high: float = 0.8) -> float:
    """The middle of the loss's fall, measured so that one batch cannot move it: lrwidgets' default.

    Let ``b`` be the lowest point of the curve, ``t`` its highest point before ``b``, and ``p`` the
    first point after ``t`` where the curve is ``low`` of the way from ``loss[t]`` down to
    ``loss[b]``. The level it falls from is ``top = median(loss[t..p])`` (the plateau, not its
    highest wiggle), the fall ``top - loss[b]``. The suggestion is the midpoint, in ``log10`` of
    the rate, of where the curve first gets ``low`` (30%) and ``high`` (80%) of the way down
    (each crossing interpolated linearly in ``log10`` of the rate): the middle of the descent, as
    fastai's ``valley`` means it.

    Unlike :func:`valley` it is continuous in the curve: fastai's longest decreasing subsequence
    counts the noise wiggles of a flat start as part of the valley, so that one different batch
    can move its suggestion by 0.3 decade, while a small change of the curve moves these
    crossings by a small amount.

    Example:
        >>> lrs = 10.0 ** np.arange(-5.0, 1.0)
        >>> float(f"{robust_valley(lrs, np.array([2.0, 2.0, 1.6, 0.8, 0.4, 3.0])):.4g}")
        0.006131
    """
    x = np.asarray(losses, dtype=np.float64)
    logs = np.log10(np.asarray(learning_rates, dtype=np.float64))
    b = int(np.argmin(x))
    t = int(np.argmax(x[: b + 1]))

    def crossing(level: float) -> tuple[float, int]:
        i = t + int(np.argmax(x[t : b + 1] <= level))
        if i == t:
            return float(logs[t]), i
        return float(logs[i - 1] + (logs[i] - logs[i - 1]) * (x[i - 1] - level) / (x[i - 1] - x[i])), i

    if x[t] <= x[b]:
        return float(learning_rates[b])
    _, p = crossing(x[t] - low * (x[t] - x[b]))
    top = float(np.median(x[t : p + 1]))
    drop = top - x[b]
    if drop <= 0:
        return float(learning_rates[b])
    start, _ = crossing(top - low * drop)
    end, _ = crossing(top - high * drop)
    return float(10 ** ((start + end) / 2))


EXPLANATIONS = {
    "robust_valley": "the middle (in log rate) of the loss's fall, from 30% to 80% of the way down",
    "valley": "half-way down the longest stretch where the loss keeps falling (fastai's default)",
    "slide": "where the slope stops changing, sliding a window down from the high end",
    "minimum": "a tenth of the rate at the lowest loss",
    "steep": "where the loss falls fastest per decade of learning rate, before its lowest point",
}


@dataclass(frozen=True)
class Suggestion:
    """A suggested learning rate: its ``method``, a one-line ``explanation`` and the curve's ``loss``
    there (where its marker is drawn). With several sweeps, ``runs`` holds each sweep's rate and
    ``learning_rate`` is their median (in ``log10``)."""

    method: str
    learning_rate: float
    loss: float
    explanation: str
    runs: tuple[float, ...] = field(default=())

    @property
    def spread(self) -> float:
        """Decades between the lowest and highest rate of the sweeps (0.0 for one sweep)."""
        if len(self.runs) < 2:
            return 0.0
        logs = np.log10(self.runs)
        return float(logs.max() - logs.min())


def analysed(
    learning_rates: np.ndarray, losses: np.ndarray, num_steps: int, smoothing: float
) -> tuple[np.ndarray, np.ndarray]:
    """The part of a sweep the suggestions look at, as fastai's ``lr_find``: the smoothed curve up to
    the first non-finite loss, less the first ``num_steps // 10`` steps and the last 5."""
    s = smooth_losses(losses, smoothing).astype(np.float64)
    lrs = np.asarray(learning_rates, dtype=np.float64)[: len(s)]
    return lrs[num_steps // 10 : max(len(s) - SKIP_END, 0)], s[num_steps // 10 : max(len(s) - SKIP_END, 0)]


def suggest(
    learning_rates: np.ndarray, losses: np.ndarray, num_steps: int, smoothing: float = SMOOTHING
) -> dict[str, Suggestion]:
    """Every method's suggestion for one sweep (``{}`` when fewer than 5 steps are left to look at).

    Example:
        >>> from lrwidgets.core.range_test import Ramp
        >>> lrs = Ramp(1e-6, 1.0, 60)(np.arange(60))
        >>> loss = 1 / (1 + (lrs / 1e-3) ** 0.5) + (lrs / 0.1) ** 2      # falls, then rises
        >>> {k: float(f"{s.learning_rate:.2g}") for k, s in suggest(lrs, loss, 60, smoothing=0.5).items()}
        {'robust_valley': 0.0011, 'valley': 0.00022, 'slide': 0.00035, 'minimum': 0.0024, 'steep': 0.0011}
    """
    lrs, curve = analysed(learning_rates, losses, num_steps, smoothing)
    if len(curve) < 5:
        return {}
    logs = np.log10(lrs)

    def at(rate: float) -> float:
        return float(np.interp(math.log10(rate), logs, curve))

    out = {}
    for method in METHODS:
        if method == "minimum":
            _, rate = minimum(lrs, curve)
        elif method == "robust_valley":
            rate = robust_valley(lrs, curve)
        else:
            rate = float(lrs[{"valley": valley, "slide": slide, "steep": steep}[method](lrs, curve)])
        out[method] = Suggestion(method, rate, at(rate), EXPLANATIONS[method])
    return out


def combine(per_run: Sequence[dict[str, Suggestion]]) -> dict[str, Suggestion]:
    """One suggestion per method from several sweeps: the median of their ``log10`` rates, each
    sweep's rate in ``runs`` and the spread in the explanation."""
    runs = [r for r in per_run if r]
    if len(runs) <= 1:
        return dict(runs[0]) if runs else {}
    out = {}
    for method in METHODS:
        values = tuple(r[method].learning_rate for r in runs if method in r)
        if not values:
            continue
        rate = float(10 ** np.median(np.log10(values)))
        loss = float(np.median([r[method].loss for r in runs if method in r]))
        spread = float(np.ptp(np.log10(values)))
        text = (
            f"{EXPLANATIONS[method]}; median of {len(values)} sweeps"
            f" ({min(values):.2g} to {max(values):.2g}, {spread:.2f} decade apart)"
        )
        out[method] = Suggestion(method, rate, loss, text, values)
    return out
