"""Does the loss of a range test's sweep fall beyond its noise? The verdict that withholds or
qualifies the suggestions (:func:`judge_fall`): a fall measured against the batch-to-batch noise
(:func:`fall_evidence`) and against the loss's own level, and a sweep too short to measure its
noise never a clear fall."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from lrwidgets.core.range_test import SMOOTHING
from lrwidgets.core.suggestions import analysed

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
    learning_rates: np.ndarray, losses: np.ndarray, num_steps: int, smoothing: float = SMOOTHING
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


class FallVerdict(NamedTuple):
    """:func:`judge_fall`'s verdict: ``fall`` (``""`` clear, ``"weak"`` or ``"none"``), ``said``
    (the text that tells it; ``""`` for a clear fall) and ``uncertain``: why a weak verdict's
    suggestions are uncertain, in a few words (``"a weak fall"``, ``"a sweep too short to judge"``;
    ``""`` unless weak)."""

    fall: str
    said: str
    uncertain: str = ""


#: what the verdict "none" advises
_NO_FALL_ADVICE = (
    "this sweep suggests no rate; widen the range (the loss must fall somewhere in it), or run more steps"
    " or larger batches (a model already trained has little left to fall)"
)


#: what the verdict "none" advises when the data ran out before the ramp's end (``judge_fall(ran_out=True)``)
_RAN_OUT_ADVICE = (
    "this sweep suggests no rate; the data ran out before the ramp's end, at a lower rate than its last: give"
    " the test data for all its `num_steps`, or fewer `num_steps` (the ramp reaches its end sooner)"
)


def judge_fall(
    learning_rates: np.ndarray, losses: np.ndarray, num_steps: int, smoothing: float = SMOOTHING, ran_out: bool = False
) -> FallVerdict:
    """The verdict on the loss's fall, and what to say of it (:class:`FallVerdict`): ``("", "", "")``
    for a clear fall; ``("none", text, "")`` for no fall (the sweep suggests nothing; the text starts
    with ``"no clear fall"``; ``ran_out``: the data ran out before the ramp's end, and the text says
    so); ``("weak", text, why)`` for a weak one (its suggestions are given, said to be uncertain: ``why``).

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
    advice = _RAN_OUT_ADVICE if ran_out else _NO_FALL_ADVICE
    fall, noise, top, steps = _fall(learning_rates, losses, num_steps, smoothing)
    if math.isnan(noise):  # too few steps to measure the noise: judged on the smoothed curve
        return _judge_short(fall, top, steps, ended_early=len(losses) < num_steps, advice=advice)
    ratio = fall / noise if noise > 0 else math.inf if fall > 0 else 0.0  # no noise: judged on the level alone
    said = f"the loss fell {fall:.3g}, {ratio:.2g}x its batch-to-batch noise of {noise:.3g}"
    if ratio < NO_FALL:
        return FallVerdict("none", f"no clear fall of the loss ({said}: noise alone gives as much): {advice}")
    if fall < LEAST_FALL * abs(top):
        return FallVerdict(
            "none",
            f"no clear fall of the loss (the loss fell {fall:.3g}{_share(fall, top)}: under the {LEAST_FALL:.0%} of"
            f" the loss a fall must reach, however far beyond its batch-to-batch noise of {noise:.3g}):"
            f" {advice}",
        )
    if ratio >= WEAK_FALL:
        return FallVerdict("", "")
    return FallVerdict(
        "weak",
        f"a weak fall of the loss ({said}): its suggestions are uncertain;"
        " more steps or larger batches make it clearer",
        "a weak fall",
    )


def _share(fall: float, top: float) -> str:
    """What share of the level it started from the loss's fall was, for the verdict's text."""
    return f", {100 * fall / abs(top):.2g}% of its level of {top:.3g}" if top else ""


def _judge_short(
    fall: float, top: float, steps: int, ended_early: bool = False, advice: str = _NO_FALL_ADVICE
) -> FallVerdict:
    """:func:`judge_fall`'s verdict on a sweep with too few steps to measure its noise: ``fall`` and
    ``top`` are the smoothed curve's (see :func:`_fall`), over ``steps`` steps looked at;
    ``ended_early``: the sweep ended before its ``num_steps`` (it blew up: more steps would not help)."""
    short = f"{steps} steps looked at, too few to measure its batch-to-batch noise ({FALL_WINDOW + 2} needed)"
    if not fall > 0:
        return FallVerdict("none", f"no clear fall of the loss (it did not fall over the {short}): {advice}")
    if fall < LEAST_FALL * abs(top):
        return FallVerdict(
            "none",
            f"no clear fall of the loss (it fell {fall:.3g}{_share(fall, top)}, under the {LEAST_FALL:.0%} of the"
            f" loss a fall must reach, over the {short}): {advice}",
        )
    return FallVerdict(
        "weak",
        f"a sweep too short to tell a fall of the loss from its noise (it fell {fall:.3g}{_share(fall, top)},"
        f" over the {short}): its suggestions are uncertain; "
        + (
            "a range that ends lower gives it more steps before the blow-up"
            if ended_early
            else "more steps make it clearer"
        ),
        "a sweep too short to judge",
    )
