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

from lrwidgets.core.range_test import smooth_losses

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
    """fastai's ``steep``: the left end of the steepest fall, ``argmin(diff(loss) / diff(log10 rate))``.

    Example:
        >>> steep(np.array([1e-4, 1e-3, 1e-2, 1e-1]), np.array([2.0, 1.9, 1.0, 0.9]))
        1
    """
    logs = np.log10(np.asarray(learning_rates, dtype=np.float64))
    slopes = np.diff(np.asarray(losses, dtype=np.float64)) / np.diff(logs)
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
    "steep": "where the loss falls fastest per decade of learning rate",
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
    learning_rates: np.ndarray, losses: np.ndarray, num_steps: int, smoothing: float = 0.98
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


#: how far the loss must fall, in batch-noise units (see :func:`fall_evidence`), to be a fall at
#: all (under it nothing is suggested), and to be a clear one (under it the suggestions are said
#: to be uncertain)
NO_FALL, WEAK_FALL = 2.5, 4.0
#: steps in each running median of :func:`fall_evidence`
FALL_WINDOW = 10
#: the least fall that counts, as a fraction of the level the loss falls from, however far beyond
#: its noise: a batch as large as the data set has next to none, and over a range far too low the
#: loss then fell about 1e-5 of itself, far beyond it (see :func:`judge_fall`)
LEAST_FALL = 0.01


def _fall(
    learning_rates: np.ndarray, losses: np.ndarray, num_steps: int, smoothing: float
) -> tuple[float, float, float, int]:
    """``(fall, noise, level, steps)``: how far the loss fell, its batch-to-batch noise, the level the
    fall starts from and the number of steps looked at. With ``FALL_WINDOW + 2`` steps or more, the
    fall and noise of :func:`fall_evidence`. With fewer, too few for its running medians, the noise is
    ``nan`` and the fall is the smoothed curve's (the one the suggestions are placed on), from its
    highest point before its lowest down to its lowest (``0.0`` when its lowest is its first)."""
    _, curve = analysed(learning_rates, losses, num_steps, smoothing)
    first = num_steps // 10
    raw = np.asarray(losses, dtype=np.float64)[first : first + len(curve)]
    raw = raw[np.isfinite(raw)]
    if len(raw) < FALL_WINDOW + 2:
        if not len(curve):
            return 0.0, math.nan, math.nan, 0
        lowest = int(np.argmin(curve))
        top = float(curve[: lowest + 1].max())
        return top - float(curve[lowest]), math.nan, top, len(curve)
    medians = np.median(np.lib.stride_tricks.sliding_window_view(raw, FALL_WINDOW), axis=1)
    lowest = int(np.argmin(medians))
    changes = np.diff(raw)
    noise = 1.4826 * float(np.median(np.abs(changes - np.median(changes)))) / math.sqrt(2)
    top = float(medians[: lowest + 1].max())
    return top - float(medians[lowest]), noise, top, len(raw)


def fall_evidence(
    learning_rates: np.ndarray, losses: np.ndarray, num_steps: int, smoothing: float = 0.98
) -> tuple[float, float]:
    """How far the loss fell, against its batch-to-batch noise, over the steps the suggestions look
    at: running medians of ``FALL_WINDOW`` (10) raw batch losses, from the highest before the
    lowest down to the lowest, over the noise (``1.4826 x`` the median absolute deviation of the
    losses' step-to-step changes, over ``sqrt(2)``: a trend moves the changes little, one batch far
    out moves neither median). Returns ``(fall, noise)``; ``(nan, nan)`` for fewer than 12 steps
    (:func:`judge_fall` judges those on the smoothed curve).

    A magnitude, not a test of a trend: a fall over a few steps counts in full, and a long sweep
    does not make a small fall large. On curves of pure noise (300 of them, normal or Student's t
    with 3 degrees of freedom) ``fall / noise`` reaches 2.2 (99th percentile) at 100 steps, 2.5-2.7
    at 300, 2.8-3.0 at 1,000.

    Example:
        >>> lrs = 10.0 ** np.linspace(-7, 1, 100)
        >>> noise = 0.05 * np.random.default_rng(3).normal(size=100)
        >>> falling = 0.3 + 2.0 / (1 + (lrs / 1e-3) ** 1.5)
        >>> [round(fall / sd, 1) for fall, sd in (fall_evidence(lrs, y, 100) for y in (2.3 + noise, falling + noise))]
        [1.1, 32.0]
    """
    fall, noise, _, _ = _fall(learning_rates, losses, num_steps, smoothing)
    return (math.nan, math.nan) if math.isnan(noise) else (fall, noise)


#: what the verdict "none" advises
_NO_FALL_ADVICE = (
    "this sweep suggests no rate; widen the range (the loss must fall somewhere in it), or run more steps"
    " or larger batches (a model already trained has little left to fall)"
)


def judge_fall(
    learning_rates: np.ndarray, losses: np.ndarray, num_steps: int, smoothing: float = 0.98
) -> tuple[str, str]:
    """The verdict on the loss's fall, and what to say of it: ``("", "")`` for a clear fall;
    ``("none", text)`` for no fall (the sweep suggests nothing; the text starts with ``"no clear
    fall"``); ``("weak", text)`` for a weak one (its suggestions are given, said to be uncertain).

    A fall must pass two tests. Against the batch-to-batch noise (:func:`fall_evidence`): under
    :data:`NO_FALL` times the noise it is none, under :data:`WEAK_FALL` weak; both were set on 78
    sweeps of digits and diabetes models (``benchmarks/bench_finder_fall.py``;
    ``benchmarks/RESULTS.md``). Against the loss itself: a fall under :data:`LEAST_FALL` (1%) of the
    level it starts from (the highest running median before the lowest) is none, however little
    noise there is: a batch the size of the data set has next to none, and over a range far too low
    (digits, 1e-10 to 1e-7) the loss fell about 1e-5 of itself, far beyond its noise. Of the 78 sweeps,
    those whose loss fell beyond its noise fell 20% or more of their level, every model that learns
    12% or more: 1% leaves room for losses that can fall but a little of themselves, and is still
    over 1,000 times the full-batch fall over a range too low (``benchmarks/RESULTS.md``).

    A sweep with fewer than ``FALL_WINDOW + 2`` (12) steps to look at (one that ran its ``num_steps``
    up to 17, or blew up early) is too short to measure its noise, so it is never a clear fall. It
    is judged on the smoothed curve the suggestions are placed on: no fall (its lowest point is its
    first), or one under :data:`LEAST_FALL` of its level, is none (a loss that only rises until it
    diverges after a few steps); any other is weak, the text saying the sweep was too short to tell
    a fall from noise. The suggestions of the shortest sweep allowed (``num_steps=11``, 5 steps to
    look at) are thus given at best as uncertain. Over a range too low, 15 steps of the digits MLP
    were none at batch 128 (no fall) and weak at batch 32 (the noise of 9 steps fell 1.4%).

    Example:
        >>> lrs = 10.0 ** np.linspace(-10, -7, 100)
        >>> judge_fall(lrs, 2.3 - 1e-5 * np.linspace(0, 1, 100), 100)[0]    # tiny, but far beyond no noise
        'none'
        >>> judge_fall(lrs[:15], np.linspace(0.5, 3.0, 15), 15)[0]            # 9 steps looked at, only rising
        'none'
        >>> judge_fall(lrs[:15], np.linspace(2.3, 0.5, 15), 15)[0]            # a clear fall, but 9 steps
        'weak'
    """
    fall, noise, top, steps = _fall(learning_rates, losses, num_steps, smoothing)
    if math.isnan(noise):  # too few steps to measure the noise: judged on the smoothed curve
        return _judge_short(fall, top, steps, ended_early=len(losses) < num_steps)
    ratio = fall / noise if noise > 0 else math.inf if fall > 0 else 0.0  # no noise: judged on the level alone
    said = f"the loss fell {fall:.3g}, {ratio:.2g}x its batch-to-batch noise of {noise:.3g}"
    if ratio < NO_FALL:
        return "none", f"no clear fall of the loss ({said}: noise alone gives as much): {_NO_FALL_ADVICE}"
    if fall < LEAST_FALL * abs(top):
        return "none", (
            f"no clear fall of the loss (the loss fell {fall:.3g}{_share(fall, top)}: under the {LEAST_FALL:.0%} of"
            f" the loss a fall must reach, however far beyond its batch-to-batch noise of {noise:.3g}):"
            f" {_NO_FALL_ADVICE}"
        )
    if ratio >= WEAK_FALL:
        return "", ""
    return "weak", (
        f"a weak fall of the loss ({said}): its suggestions are uncertain; more steps or larger batches make it clearer"
    )


def _share(fall: float, top: float) -> str:
    """What share of the level it started from the loss's fall was, for the verdict's text."""
    return f", {100 * fall / abs(top):.2g}% of its level of {top:.3g}" if top else ""


def _judge_short(fall: float, top: float, steps: int, ended_early: bool = False) -> tuple[str, str]:
    """:func:`judge_fall`'s verdict on a sweep with too few steps to measure its noise: ``fall`` and
    ``top`` are the smoothed curve's (see :func:`_fall`), over ``steps`` steps looked at;
    ``ended_early``: the sweep ended before its ``num_steps`` (it blew up: more steps would not help)."""
    short = f"{steps} steps looked at, too few to measure its batch-to-batch noise ({FALL_WINDOW + 2} needed)"
    if not fall > 0:
        return "none", f"no clear fall of the loss (it did not fall over the {short}): {_NO_FALL_ADVICE}"
    if fall < LEAST_FALL * abs(top):
        return "none", (
            f"no clear fall of the loss (it fell {fall:.3g}{_share(fall, top)}, under the {LEAST_FALL:.0%} of the"
            f" loss a fall must reach, over the {short}): {_NO_FALL_ADVICE}"
        )
    return "weak", (
        f"a sweep too short to tell a fall of the loss from its noise (it fell {fall:.3g}{_share(fall, top)},"
        f" over the {short}): its suggestions are uncertain; "
        + (
            "a range that ends lower gives it more steps before the blow-up"
            if ended_early
            else "more steps make it clearer"
        )
    )


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
