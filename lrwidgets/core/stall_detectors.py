"""The detectors of a loss that does not fall at its rate: quietly, ``too_slow`` (raise the rate),
or with single batches thrown far above the rest, ``unstable`` (lower it).

Both look at the window of the last 40 batches at the current rate, when it is full: its newer
half less than 5% below the rate's first losses, the level still near the untrained model's loss,
and the rate not below one the fit ran before (a cut, where a flat loss reads as convergence).
What tells them apart is the highest batch at the rate, against the rate's first loss and against
the window's batch noise (:func:`outlier_units`): at most 1.072x and 3.5 units at rates too small
(batch 32), 1.26-5.4x and 6.1-182 units where ``unstable`` was given (``benchmarks/RESULTS.md``):
on classifiers. A regression's heavy-tailed loss, at a rate too small, threw batches up to 2x its
first and 7.5 units out: ``unstable`` is a classifier's verdict only.
"""

from __future__ import annotations

import math
from collections import deque

from lrwidgets.core.checks import check_float, check_int
from lrwidgets.core.detectors import Detector, _lower
from lrwidgets.core.fit_context import Context
from lrwidgets.core.verdicts import RAISE_FAILED, Diagnosis, rate_fix, rate_text


def no_progress(ctx: Context, min_progress: float, high: float) -> tuple[float, float, float] | None:
    """``(start, level, progress)`` when the loss has not fallen at this rate, else None.

    ``start``: the mean of the rate's first 3 losses; ``level``: the mean of the newer half of the
    window; ``progress``: ``(start - level) / start``, less than ``min_progress``. Also required:
    the level between half and ``high`` x the untrained model's loss (most of it still to go), and
    the rate not below one this fit ran before its last jump (``LossTrack.top_rate``). O(window).
    """
    t = ctx.track
    start = t.rate_head
    if not start > 0 or t.learning_rate < t.top_rate:
        return None
    level = t.newer_mean()
    untrained = ctx.untrained_loss
    if not 0.5 * untrained <= level <= high * untrained:
        return None
    progress = (start - level) / start
    return None if progress >= min_progress else (start, level, progress)


def _moved(progress: float) -> str:
    """How the loss moved, in words: ``progress`` is its fall as a share of where it started."""
    return f"fell only {progress:.1%}" if progress >= 0 else f"rose {-progress:.1%}"


def batch_noise(ctx: Context) -> tuple[float, float]:
    """The window's median and its batch noise: 1.4826 x its median absolute deviation (normal
    noise's standard deviation), at least 0.1% of the median (a window of identical losses does
    not make any rise an outlier)."""
    median, noise = ctx.track.robust_spread()
    return median, max(noise, 1e-3 * abs(median), 1e-300)


def outlier_units(ctx: Context, spread: tuple[float, float] | None = None) -> float:
    """How far the highest batch at this rate stands above the window's median, in units of its
    batch noise (:func:`batch_noise`, or ``spread`` when computed already)."""
    median, noise = batch_noise(ctx) if spread is None else spread
    return (ctx.track.rate_max - median) / noise


class TooSlowDetector(Detector):
    """``too_slow``: the loss barely moves, quietly, while most of it is still to go.

    Rule, checked when the window (40 batches at the current rate) is full: the newer half's mean
    is less than ``min_progress`` (5%) below the rate's first losses; no batch at this rate rose
    above ``quiet`` (1.25) x the first, nor more than ``outlier`` (4.5) x the batch noise above the
    window's median (the noise: 1.4826 x the window's median absolute deviation, at least 0.1% of
    the median, so that a window of identical losses does not make any rise an outlier): a rate that ever
    blew the loss up is not too small; and the level is between half and ``quiet`` x the untrained
    model's loss (most of it still to go, and not a model a larger rate broke); and the rate is
    not below one this fit ran before its last jump (``LossTrack.top_rate``, a change of
    ``rate_jump`` (1.5x) or more at once: a flat loss at a rate cut by ``ReduceLROnPlateau``, a
    schedule's jump or by hand, is read as convergence; smaller steps down, such as a decay's, are
    not cuts). Measured at 40 steps (see the module's
    docstring): 100x too small, -0.4% to 2.3%; 10x too small, 1.6-6.2%; a good rate, 15-57%. On a
    noisy binary task (best loss ~0.9x the untrained one) with ``ReduceLROnPlateau`` (factor 0.1),
    16 of 18 runs got ``too_slow`` after a reduction before that last condition, none after.

    ``outlier``, measured over the first 40 steps of runs whose loss moved less than 5% (digits
    MLPs and a small CNN, a 10-class synthetic task; ``benchmarks/RESULTS.md``, 2026-12-04 22:45):
    at rates too small (Adam 1e-5, 1e-4, SGD 1e-3 to 3e-2, SGD with momentum 0.01) the highest batch
    stood at most 3.5 noise units above the median (and 1.000-1.072x the first at batch 32); a
    small CNN left at chance by plain SGD 2.0 had its highest (step 34, 1.19x its first: under
    ``quiet``) 14.2 units above it and its step-1 batch 10.4, and was told to raise its rate before
    this test. Unlike a lower ratio (1.1x was tried) it keeps the rule's reach at small batches,
    whose losses are noisier. Simulated only: a much smaller last batch of each epoch (100 samples
    at batch 32) stands out alone: 246 of 300 runs at a rate too small got the verdict, 296 without.

    After a raise from a rate it judged (its fix clicked, or any raise that re-arms it), the rule
    compares: when the batch noise, as a share of the rate's first losses, is ``widen`` (1.5) x or
    more what it was at that verdict and the loss fell no faster (its progress gained less than
    twice the noise of the two progress figures' difference), the verdict advises keeping the rate,
    offers no fix, and mutes no other verdict (evidence ``rate_before``, ``noise_ratio``). Measured
    (``benchmarks/RESULTS.md``, 2026-12-06; ``bench_too_slow_raise.py``): a CNN ending in global
    average pooling on digits sits at its untrained loss for 80+ steps at every rate; raised 10x
    from plain SGD 0.1 or SGD 0.03-0.05 with momentum its loss stayed there while the noise widened
    1.6-4.3x, and the second "raise 10x" threw all 9 runs to chance, while the rate kept learned
    (0.49-0.95 validation accuracy 6 epochs on). Every raise of a rate 100x too small (MLPs, a CNN,
    the pooling CNN at SGD 1e-3 and Adam 1e-5) was told to raise again, as before.

    Not while the rate rose ``rise`` (1.5) x or more over the window, by steps too small to count as
    a jump (a warm-up, a schedule's climb): the window's losses ran at rates below the one a verdict
    would name. A warm-up to Adam 1e-3 over 200 steps (lrwidgets' ``Warmup``, the digits MLP) got
    "raise the rate about 10x, to 0.0021" at step 42, at a rate of 2.1e-4 that had risen from 1.5e-5
    over those steps, in 3 of 3 runs, advising a rate above the schedule's own target.
    """

    kind = "too_slow"
    windowed = True

    def __init__(
        self, min_progress: float = 0.05, quiet: float = 1.25, outlier: float = 4.5, widen: float = 1.5,
        rise: float = 1.5,
    ) -> None:  # fmt: skip
        super().__init__()
        self.min_progress = check_float("min_progress", min_progress, gt=0, lt=1)
        self.quiet = check_float("quiet", quiet, gt=1)
        self.widen = check_float("widen", widen, gt=1)
        self.outlier = check_float("outlier", outlier, gt=0)
        self.rise = check_float("rise", rise, gt=1)
        #: at this rule's last verdict: the rate, the batch noise as a share of the rate's first
        #: losses, and the progress (kept across fits by ``Diagnoser.next_fit``)
        self.judged: tuple[float, float, float] | None = None
        #: (rate_start, rate_steps, rate) at its last 8 checks
        self._rates: deque[tuple[int, int, float]] = deque(maxlen=8)

    def _rate_then(self, ctx: Context) -> float:
        """The rate at the window's first step, as this rule's checks saw it (each quarter window
        from the first full one; the rate's first step's before those)."""
        t = ctx.track
        rates = self._rates
        if rates and rates[-1][0] != t.rate_start:  # a jump since: another rate
            rates.clear()
        begun = t.rate_steps - t.window
        then = t.rate_origin
        for _, seen, rate in reversed(rates):
            if seen <= begun:
                then = rate
                break
        rates.append((t.rate_start, t.rate_steps, t.learning_rate))  # the last 8 checks
        return then

    def on_step(self, ctx: Context) -> Diagnosis | None:
        if not self._due(ctx):
            return None
        t = ctx.track
        if t.learning_rate >= self.rise * self._rate_then(ctx):  # NaN: not known, no rise
            return None
        if t.rate_max > self.quiet * t.rate_first:
            return None
        stalled = no_progress(ctx, self.min_progress, self.quiet)
        if stalled is None:
            return None
        start, newer, progress = stalled
        spread = batch_noise(ctx)
        if outlier_units(ctx, spread) > self.outlier:
            return None  # a batch far out of the batch noise: the rate blew the loss up
        first, rate = t.rate_start, t.learning_rate
        before, self.judged = self.judged, (rate, spread[1] / start, progress)
        evidence = {
            "progress": progress,
            "steps": float(t.rate_steps),
            "start": start,
            "level": newer,
            "learning_rate": rate,
        }
        message = (
            f"the loss {_moved(progress)} in {t.rate_steps} steps (from {start:.4g} to {newer:.4g}, steps"
            f" {first}-{t.step}) at learning rate {rate:.3g}, with no batch above {t.rate_max:.4g}"
        )
        widened = self._raise_failed(before, self.judged)
        if widened is not None:
            assert before is not None
            evidence.update({RAISE_FAILED: before[0], "noise_ratio": widened})
            return self._report(
                Diagnosis(
                    "too_slow",
                    first,
                    t.step,
                    evidence,
                    f"{message}: no faster than at {before[0]:.3g} before the raise (it {_moved(before[2])}),"
                    f" but single batches spread {widened:.1f}x wider: the rate moves the model now",
                    "keep this rate for more steps before raising it again: from here a raise is the one that can"
                    " throw the model to chance (a loss at the untrained model's level can sit flat at rates too"
                    " small and too large alike); a range test (LRFinder) shows where the loss falls",
                )
            )
        value = rate * 10
        return self._report(
            Diagnosis("too_slow", first, t.step, evidence, message, f"raise the rate about 10x, to {rate_text(value)}",
                      rate_fix(value))
        )  # fmt: skip

    def _raise_failed(self, before: tuple[float, float, float] | None, now: tuple[float, float, float]) -> float | None:
        """After a raise from a rate this rule judged too small: how many times wider the batch
        noise is now, when it widened ``widen`` x or more while the loss fell no faster (its
        progress gained less than twice the noise of the two progress figures' difference); else None."""
        if before is None or not now[0] > before[0] or not before[1] > 0:
            return None
        ratio = now[1] / before[1]
        # A progress figure is a mean of 20 batches against one of 3: its noise is the batch noise
        # (as a share of the start) x sqrt(1/3 + 1/20).
        noise = math.hypot(before[1], now[1]) * math.sqrt(1 / 3 + 1 / 20)
        return ratio if ratio >= self.widen and now[2] - before[2] < 2 * noise else None


class UnstableDetector(Detector):
    """``unstable``: the loss does not fall at this rate, and single batches jump far above it.

    Rule, checked when the window (40 batches at the current rate) is full: the newer half's mean
    is less than ``min_progress`` (5%) below the rate's first 3 losses, and between half and
    ``high`` (2) x the untrained model's loss; the rate is not below one this fit ran before its
    last jump; and the highest batch at this rate rose above ``spike`` (1.25) x the rate's first
    loss *and* more than ``outlier`` (4.5) noise units above the window's median
    (:func:`outlier_units`). Those two are :class:`TooSlowDetector`'s tests of a quiet loss, both
    failed: a loss that rises above one of them only is neither verdict's (at batch 8 a rate too
    small reached 1.27x its first batch; the noise units keep it from this rule). A classifier's
    only, of 3 classes or more (``Context.judges_spread``), and over the rate's first ``horizon``
    (120) steps. A loss flat at more than 2x the untrained one is
    :class:`~lrwidgets.core.curve_detectors.CollapsedDetector`'s.

    Measured (``benchmarks/RESULTS.md``, 2026-12-05): in the diagnosis benchmark and its sweep
    (digits MLPs, a small CNN, a 10-class synthetic task; plain SGD, Adam, SGD with momentum) it
    was given in 18 runs, all at rates too large (0.08-0.84 training accuracy against 0.79-1.00 at
    the best rates), at steps 39-89 (259 in one), with the highest batch 1.26-5.4x the rate's
    first and 6.1-182 noise units out: plain SGD at 2x the digits MLPs' best rate, where 2 runs had
    no verdict before, and SGD with momentum 0.3 on the synthetic task (chance accuracy), which had
    only ``plateau`` 400 steps in; the others got ``collapsed`` or ``oscillating`` later. None at
    a good rate, nor in 80 short fits at rates too small (batches 8 to 32, small datasets whose
    epochs end on a batch of 2 or 4).

    A regression's loss is heavy-tailed: at rates far too small (a 10-32-1 MLP on a linear task,
    MSE and MAE at Adam 1e-6; scikit-learn's diabetes data, MSE at Adam 1e-5 and 1e-4), batches
    stood 1.5-2.0x the rate's first loss and 5.0-7.5 noise units out, as far as at the rates too
    large above: the rule said "lower the rate" in 3 of 8 fits (steps 119-289) and 2 of 6 (step
    99), and at 6 units still in 2 of 16 (jax, tensorflow). It cannot tell there, so it is not
    given. And the highest batch is that of every step at the rate: the more steps, the farther
    out it is by chance (a synthetic loss, flat and more heavy-tailed still, judged as a
    classifier's: 171 of 200 runs of 1,000 steps got the verdict with no limit, 140 within 120).
    Of the verdicts at rates too large, the one lost to the limit was followed by ``collapsed``
    20 steps later (``benchmarks/RESULTS.md``, 2026-12-05 16:10).
    """

    kind = "unstable"
    windowed = True

    def __init__(
        self,
        min_progress: float = 0.05,
        high: float = 2.0,
        spike: float = 1.25,
        outlier: float = 4.5,
        horizon: int = 120,
    ) -> None:
        super().__init__()
        self.min_progress = check_float("min_progress", min_progress, gt=0, lt=1)
        self.high = check_float("high", high, gt=0.5)
        self.spike = check_float("spike", spike, gt=1)
        self.outlier = check_float("outlier", outlier, gt=0)
        self.horizon = check_int("horizon", horizon, ge=1)

    def on_step(self, ctx: Context) -> Diagnosis | None:
        if not self._due(ctx):
            return None
        t = ctx.track
        if not ctx.judges_spread or t.rate_steps > self.horizon:
            return None  # a regression's loss, weighted samples; the highest of hundreds of batches: see the docstring
        if not (t.rate_first > 0 and t.rate_max > self.spike * t.rate_first):
            return None  # (a first loss of 0 or less: no ratio to read)
        stalled = no_progress(ctx, self.min_progress, self.high)
        if stalled is None:
            return None
        units = outlier_units(ctx)
        if not units > self.outlier:
            return None
        start, level, progress = stalled
        first = t.rate_start
        advice, fix = _lower(t.learning_rate)
        return self._report(
            Diagnosis(
                "unstable",
                first,
                t.step,
                {
                    "progress": progress,
                    "steps": float(t.rate_steps),
                    "start": start,
                    "level": level,
                    "peak": t.rate_max,
                    "noise_units": units,
                    "learning_rate": t.learning_rate,
                },
                f"the loss {_moved(progress)} in {t.rate_steps} steps (from {start:.4g} to {level:.4g}, steps"
                f" {first}-{t.step}) at learning rate {t.learning_rate:.3g}, while a batch jumped to {t.rate_max:.4g}"
                f" at step {t.rate_max_step} ({t.rate_max / t.rate_first:.1f}x the first, {units:.0f} noise units above"
                " the rest): the rate is too large to make progress",
                advice,
                fix,
            )
        )
