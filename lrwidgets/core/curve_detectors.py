"""The detectors that read the loss curve's shape: ``collapsed``, ``oscillating``, ``plateau`` (per step, at the
current rate); ``overfitting`` (per epoch, from ``val_loss``) is in :mod:`lrwidgets.core.overfitting_detector`,
``too_slow`` and ``unstable`` (a loss that does not fall at its rate) in :mod:`lrwidgets.core.stall_detectors`.
Their base, :class:`~lrwidgets.core.detectors.Detector`, and the ``nan`` and ``diverging`` detectors are in
:mod:`lrwidgets.core.detectors`, whose ``build`` makes them all.

What the benchmark fits showed (``benchmarks/bench_diagnosis.py``; digits, 64-64-10 and 256-256-10 MLPs, batch 32,
Adam and SGD, 3 seeds; see ``benchmarks/RESULTS.md``):

- An untrained model's loss is ~2.3-2.4 (ln 10). At a rate 100x too large (Adam 0.1-1.0, SGD 10) the loss jumps within
  1-3 steps to ~14-15 (a confident constant prediction) and stays there with accuracy at chance and no NaN; the
  smoothed loss never rises 4x above a best taken after the warm-up, because by then the best is the collapsed level
  itself. At SGD 2.0 it goes back to ~2.32 (the class frequencies) after a few batches 1.3-1.7x the start.
- At a rate 100x too small (Adam 1e-5, SGD 1e-3) the mean of steps 20-39 is -0.4% to 2.3% below the first 3 losses,
  and no batch rises above 1.072x the first; 10x too small, 1.6-6.2%; 3x too small (SGD 0.03), 6-13%; at a good rate
  (Adam 1e-3, SGD 0.1) it falls 15-57%.
"""

from __future__ import annotations

import math

from lrwidgets.core.checks import check_float, check_int
from lrwidgets.core.detectors import Detector, _lower
from lrwidgets.core.fit_context import Context
from lrwidgets.core.metric_names import accuracy_of
from lrwidgets.core.overfitting_detector import OverfittingDetector
from lrwidgets.core.stall_detectors import TooSlowDetector, UnstableDetector
from lrwidgets.core.verdicts import Diagnosis, rate_fix, rate_text

__all__ = ["CURVE_DETECTORS", "CollapsedDetector", "OscillatingDetector", "OverfittingDetector", "PlateauDetector",
           "TooSlowDetector", "UnstableDetector"]  # fmt: skip


class CollapsedDetector(Detector):
    """``collapsed``: the loss flat at a high level after a violent start at this rate.

    Rule, on the last ``window`` (40) batches at the current rate: the two halves' means differ by
    less than ``flat`` (3%) of the level; the level is at least ``high`` (0.9) x the untrained
    model's loss, or at least 3x the best smoothed loss (it lost what it learned); and since the
    rate was set, the rate blew the model up (without it, a flat loss is :class:`TooSlowDetector`'s
    case): a batch loss rose above ``spike`` (1.25) x the rate's first loss (before its first
    update shows), and either the level stays at ``jump`` (2) x that first loss or more, or that
    batch loss stands out of the batch noise, above the level by more than ``noise`` (13) x the
    window's standard deviation. Where the last epoch logged ``accuracy`` and the number of classes
    is known, an accuracy above ``Context.collapse_veto`` vetoes it (twice chance; with 2 classes,
    halfway from the labels' largest share to 1, or never where that share is not known).

    Measured: every run at Adam 0.3-1.0 and SGD 2-10 (and Adam 0.1 on the 256-256-10 MLP) matched, 49-99 steps after
    its start or 49-59 after a raised rate; no run at a good or a too-small rate did. A collapsed model's level was
    6.0-6.3x the untrained loss, or back at 0.98-1.03x it with a batch loss 34-71 window standard deviations above the
    level (one run: 4.3 at step 39, its verdict came at step 79 instead; in notebook 07's grid, a fit left at chance
    by plain SGD at 1.0: 15.1). Noisy binary tasks (scikit-learn's ``make_classification`` with flipped labels, best
    loss ~0.9x the untrained one or no better; logistic regression and small MLPs at Adam 1e-3/1e-2 and SGD 0.1, 120
    runs) met the other conditions in 18 runs, with a loss flat at 0.91-1.24x the untrained one, never 2x, and no
    batch loss more than 11.4 standard deviations above the level: the 1.25x test alone flagged all 18, this rule none
    (13 sits between 11.4 and 15.1: thin margins). Adam 0.1 on the 64-64-10 MLP (a jump for a few steps, then slow
    learning) is not a collapse: :class:`~lrwidgets.core.start_detector.SpikedDetector` flags its jump.

    A regression's batch losses have no such bound (``Context.regression``: compiled with MSE, MAE,
    Huber...): a target far out makes one batch's loss hundreds of times the level, and a trained
    model's first batch in a new session, read as the rate's first loss, can sit at half the level
    by chance. There the level must reach ``regression_jump`` (10) x that first loss, or a batch
    stand ``far`` (1000) x the level as well as out of the noise. Measured (MLPs on a linear target
    with Gaussian or Student-t noise, 3 seeds, ``benchmarks/RESULTS.md``): Adam 1.0, a collapse to
    a constant prediction, put a batch at 6,700-224,000x the level; the verdicts this took back came
    at good rates (heavy-tailed targets, trained models in a new session: a level 2-3x the first
    batch) and on fits at Adam 0.1 that went on learning: 2-233x. A classifier's loss, a sigmoid's
    binary cross-entropy included, is bounded (Keras clips at 1e-7): its rule is as above.
    """

    kind = "collapsed"
    windowed = True

    def __init__(
        self,
        flat: float = 0.03,
        high: float = 0.9,
        spike: float = 1.25,
        jump: float = 2.0,
        noise: float = 13.0,
        far: float = 1000.0,
        regression_jump: float = 10.0,
    ) -> None:
        super().__init__()
        self.far = check_float("far", far, gt=1)
        self.regression_jump = check_float("regression_jump", regression_jump, gt=1)
        self.flat = check_float("flat", flat, gt=0, lt=1)
        self.high = check_float("high", high, gt=0)
        self.spike = check_float("spike", spike, gt=1)
        self.jump = check_float("jump", jump, gt=1)
        self.noise = check_float("noise", noise, gt=0)

    def on_step(self, ctx: Context) -> Diagnosis | None:
        if not self._due(ctx):
            return None
        t = ctx.track
        level = t.mean
        if level <= 0 or ctx.weighted:  # weighted: a first batch of light samples, a level twice it
            return None
        # The O(1) conditions first: a healthy fit fails them, and the window's halves are not read.
        lost = math.isfinite(t.best) and level >= 3 * t.best
        untrained = ctx.untrained_loss
        if not (level >= self.high * untrained or lost):
            return None
        if not t.rate_max > self.spike * t.rate_first:
            return None
        if ctx.regression:  # a batch far out is as likely a target far out; one batch is no level
            jumped = level >= self.regression_jump * t.rate_first
            blown = t.rate_max - level > self.noise * t.std and t.rate_max >= self.far * level
        else:
            jumped = level >= self.jump * t.rate_first
            blown = t.rate_max - level > self.noise * t.std
        if not (jumped or blown):
            return None  # a batch loss within a noisy loss's spread: no blow-up
        older, newer = t.half_means()
        if abs(older - newer) > self.flat * level:
            return None
        accuracy = accuracy_of(ctx.last_epoch)  # `binary_accuracy`... as given to compile
        chance = ctx.chance
        if accuracy is not None and chance is not None and accuracy > ctx.collapse_veto:
            return None
        first = t.step - t.window + 1
        evidence = {
            "level": level, "std": t.std, "initial_loss": t.initial, "best": t.best, "peak": t.rate_max,
            "rate_start": float(t.rate_start), "learning_rate": t.learning_rate,
        }  # fmt: skip
        acc_text = ""
        if accuracy is not None:
            evidence["accuracy"] = accuracy
            acc_text = f"; accuracy {accuracy:.2f}" + (f" (chance {chance:.2f})" if chance is not None else "")
        to, name = (untrained, "the untrained model's") if level >= self.high * untrained else (t.best, "its best")
        ref = f"{level / to:.1f}x {name} {to:.3g}" if to > 0 else f"above {name} {to:.3g}"  # a loss of 0 or less
        advice, fix = _lower(t.learning_rate)
        return self._report(
            Diagnosis(
                "collapsed",
                first,
                t.step,
                evidence,
                f"the loss has been flat at {level:.3g} (std {t.std:.2g}) over steps {first}-{t.step}, {ref},"
                f" after a batch loss of {t.rate_max:.3g} at step {t.rate_max_step}{acc_text}: the model collapsed"
                f" to a constant prediction at learning rate {t.learning_rate:.3g}",
                advice + " (a collapsed model rarely recovers: restart from fresh weights at that rate)",
                fix,
            )
        )


class OscillatingDetector(Detector):
    """``oscillating``: repeated spikes, batch losses far above the smoothed loss.

    A spike is a batch loss above ``ratio`` (2) x the smoothed loss before it and above it by more
    than ``gap`` (0.25) x the untrained model's loss (so that the relative noise of a loss near zero
    is not counted), x 16 / the batch size below 16 samples a row (:meth:`spike_gap`); spikes on
    consecutive steps count as one (a loss that grows at every step is diverging, not oscillating:
    measured, an exponential divergence otherwise read as 3 spikes in 3 steps). ``count`` (3)
    spikes within ``span`` (100) steps at one rate is the verdict. Measured: healthy runs at a good
    rate showed no such spike after their first steps at batch 32. At batch 8 (the digits MLP,
    ``benchmarks/RESULTS.md`` 2026-12-06) Adam 1e-3 and SGD 0.1 (0.84-0.96 validation accuracy) got
    it in 4 of 6 runs at the unscaled gap, none at twice it; Adam 3e-2 (0.89-0.94, against
    0.95-0.96) kept it in 3 of 3; at batch 16 the gap is unscaled. Classifiers only. With 2 classes the
    gap is ``binary_gap`` (3) x larger: one confidently wrong sample lifts a batch of 32 by up to ~0.5,
    past 0.25 x ln 2 (good rates on 3% positives got it in 14 of 16 fits at 1x, none of 24 at 3x;
    Adam 0.1 on the three tasks of ``benchmarks/bench_binary_verdicts.py`` in 24 of 24).
    """

    kind = "oscillating"
    binary_gap = 3.0

    def __init__(self, ratio: float = 2.0, gap: float = 0.25, count: int = 3, span: int = 100) -> None:
        super().__init__()
        self.ratio = check_float("ratio", ratio, gt=1)
        self.gap = check_float("gap", gap, gt=0)
        self.count = check_int("count", count, ge=1)
        self.span = check_int("span", span, ge=1)
        self._spikes: list[tuple[int, float]] = []  # at most `count` kept: O(1)
        self._before = math.nan
        self._in_spike = False

    def rearm(self) -> None:
        super().rearm()
        self._spikes = []

    def spike_gap(self, ctx: Context) -> float:
        """How far above the smoothed loss a spike must be: ``gap`` x the untrained model's loss, x 16 /
        the samples a row averages when fewer (one sample's loss moves a small batch's mean far: the digits
        MLP at batch 8, at good rates, got it in 4 of 6 runs); x ``binary_gap`` with 2 (``Context.binary``)."""
        rows = ctx.samples_per_row
        binary = self.binary_gap if ctx.num_classes == 2 or ctx.binary else 1.0
        return self.gap * binary * ctx.untrained_loss * (max(1.0, 16 / rows) if rows else 1.0)

    def state(self) -> tuple[float, bool]:
        """``(before, in_spike)``: the smoothed loss after the last step (the next step's spike is
        measured against it) and whether that step was a spike: what changes at a step with no
        spike to count. The spikes counted and ``fired`` stay with the detector, so
        :meth:`load_state` carries on from them on this detector, not on a new one."""
        return self._before, self._in_spike

    def load_state(self, before: float, in_spike: bool) -> None:
        self._before, self._in_spike = before, in_spike

    def on_step(self, ctx: Context) -> Diagnosis | None:
        t = ctx.track
        before, self._before = self._before, t.smooth
        loss = t.last_loss
        if self.fired or not math.isfinite(before) or t.steps <= t.warmup_steps or not ctx.judges_spikes:
            return None
        spike = loss > self.ratio * before and loss - before > self.spike_gap(ctx)
        was, self._in_spike = self._in_spike, spike
        if not spike or was:
            return None  # a run of spikes in a row is one: a loss growing every step is diverging
        recent = [s for s in self._spikes if t.step - s[0] < self.span][-(self.count - 1) :]
        self._spikes = [*recent, (t.step, loss)]
        if len(self._spikes) < self.count:
            return None
        first = self._spikes[0][0]
        peak = max(v for _, v in self._spikes)
        advice, fix = _lower(t.learning_rate, 3.0)
        steps = ", ".join(str(s) for s, _ in self._spikes)
        return self._report(
            Diagnosis(
                "oscillating",
                first,
                t.step,
                {
                    "spikes": float(len(self._spikes)),
                    "peak": peak,
                    "smoothed_loss": before,
                    "learning_rate": t.learning_rate,
                },
                f"{len(self._spikes)} loss spikes within {t.step - first + 1} steps (at steps {steps}; up to"
                f" {peak:.3g} against a smoothed loss of {before:.3g}) at learning rate {t.learning_rate:.3g}:"
                " the rate is at the edge of stability",
                advice,
                fix,
            )
        )


class PlateauDetector(Detector):
    """``plateau``: no progress for ``patience`` (400) steps at a rate that is neither too large nor
    too small.

    Progress is the smoothed loss going ``min_delta`` (1%) below its last reference; a loss below
    ``converged`` (5%) of the untrained model's is converged, not on a plateau. Measured: it never
    fired on the benchmark's runs (270-360 steps; the clean ones kept improving).
    """

    kind = "plateau"

    def __init__(self, patience: int = 400, min_delta: float = 0.01, converged: float = 0.05) -> None:
        super().__init__()
        self.patience = check_int("patience", patience, ge=1)
        self.min_delta = check_float("min_delta", min_delta, ge=0, lt=1)
        self.converged = check_float("converged", converged, ge=0, lt=1)
        self._ref = math.inf
        self._ref_step = 0

    def rearm(self) -> None:
        super().rearm()
        self._ref = math.inf

    def state(self) -> tuple[float, int]:
        """``(reference, its step)``: the smoothed loss that progress is measured from, what changes at
        a step that reports nothing. ``fired`` stays with the detector, so :meth:`load_state` carries
        on from them on this detector, not on a new one."""
        return self._ref, self._ref_step

    def load_state(self, ref: float, ref_step: int) -> None:
        self._ref, self._ref_step = ref, ref_step

    def on_step(self, ctx: Context) -> Diagnosis | None:
        t = ctx.track
        if t.smooth < self._ref * (1 - self.min_delta) or not math.isfinite(self._ref):
            self._ref, self._ref_step = t.smooth, t.step
            return None
        if self.fired or t.step - self._ref_step < self.patience or self._ref < self.converged * ctx.untrained_loss:
            return None
        value = t.learning_rate * 0.1
        return self._report(
            Diagnosis(
                "plateau",
                self._ref_step,
                t.step,
                {
                    "best": self._ref,
                    "smoothed_loss": t.smooth,
                    "steps": float(t.step - self._ref_step),
                    "learning_rate": t.learning_rate,
                },
                f"no progress for {t.step - self._ref_step} steps (steps {self._ref_step}-{t.step}): the smoothed"
                f" loss stayed above {self._ref * (1 - self.min_delta):.4g} (1% under {self._ref:.4g})",
                f"cut the rate 10x (as a plateau cut does), to {rate_text(value)}, or decay it from here",
                rate_fix(value),
            )
        )


#: The curve-shape detectors, in the order ``build`` lists kinds.
CURVE_DETECTORS: tuple[type[Detector], ...] = (
    CollapsedDetector,
    OscillatingDetector,
    UnstableDetector,
    TooSlowDetector,
    PlateauDetector,
    OverfittingDetector,
)
