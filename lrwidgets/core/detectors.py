"""One detector per kind of bad learning rate; each a documented rule with its thresholds.

A detector sees the shared :class:`~lrwidgets.core.loss_track.LossTrack` after each finite batch
loss (``on_step``), each non-finite one (``on_nonfinite``) and each epoch's logs (``on_epoch``),
and returns a :class:`~lrwidgets.core.verdicts.Diagnosis` once when its rule holds; ``rearm``
(called when the learning rate jumps) lets it report again. Rules that look at the window are
checked every ``window // 4`` steps (O(window) then, O(1) amortised).

The curve-shape detectors (``collapsed``, ``oscillating``, ``plateau``, ``overfitting``) are in
:mod:`lrwidgets.core.curve_detectors`, ``too_slow`` and ``unstable`` (a loss that does not fall
at its rate) in :mod:`lrwidgets.core.stall_detectors`, ``spiked`` (a blow-up in a rate's
first steps) in :mod:`lrwidgets.core.start_detector`; :func:`build` makes any of them.
:func:`lrwidgets.core.plain_rows.feed_plain_rows` runs the per-step rules of ``diverging``,
``oscillating`` and ``plateau`` over a run of rows in one loop (``Diagnoser.step_many``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from lrwidgets.core.checks import check_float
from lrwidgets.core.diagnostics import DivergenceMonitor, small_batch_gap
from lrwidgets.core.fit_context import Context
from lrwidgets.core.verdicts import Diagnosis, Fix, rate_fix, rate_text


class Detector:
    """A rule that reports once, until re-armed (by a jump of the learning rate)."""

    kind = ""
    #: ``on_step`` acts only when the window rule is due (:meth:`_due`): the Diagnoser calls it then
    windowed = False

    def __init__(self) -> None:
        self.fired = False

    def rearm(self) -> None:
        self.fired = False

    def on_step(self, ctx: Context) -> Diagnosis | None:
        return None

    def on_nonfinite(self, ctx: Context, step: int, loss: float, learning_rate: float) -> Diagnosis | None:
        return None

    def on_epoch(self, ctx: Context, step: int) -> Diagnosis | None:
        return None

    def _due(self, ctx: Context) -> bool:
        """A window rule is checked when the window is full, every ``window // 4`` steps."""
        t = ctx.track
        return not self.fired and t.full and t.rate_steps % max(t.window // 4, 1) == 0

    def _report(self, diagnosis: Diagnosis) -> Diagnosis:
        self.fired = True
        return diagnosis


def _lower(learning_rate: float, factor: float = 10.0) -> tuple[str, Fix | None]:
    value = learning_rate / factor
    return f"lower the rate about {factor:g}x, to {rate_text(value)}", rate_fix(value)


class NanDetector(Detector):
    """``nan``: a batch loss that is NaN or infinite. Reported at that step; the advice is a rate
    10x lower (with ``on_nan="restore"`` the session has already put back the last healthy weights)."""

    kind = "nan"

    def on_nonfinite(self, ctx: Context, step: int, loss: float, learning_rate: float) -> Diagnosis | None:
        if self.fired:
            return None
        advice, fix = _lower(learning_rate)
        before = ctx.track.smooth
        was = f"; the smoothed loss before it was {before:.4g}" if math.isfinite(before) else ""
        return self._report(
            Diagnosis(
                "nan",
                step,
                step,
                {"loss": loss, "learning_rate": learning_rate, "smoothed_before": before},
                f"the loss became {loss} at step {step} (learning rate {learning_rate:.3g}){was}",
                advice,
                fix,
            )
        )


class DivergingDetector(Detector):
    """``diverging``: the smoothed loss above ``factor`` x its best for 5 steps in a row, and above it by more than
    0.25x the first loss (the untrained model's, in a fit from fresh weights).

    The rule of :class:`~lrwidgets.core.diagnostics.DivergenceMonitor` (debiased EMA 0.9, best taken after a 20-step
    warm-up and never below 1% of the loss then, re-armed when the loss comes back under ``sqrt(factor)`` x the best
    or within 0.125x the first loss of it): the one divergence rule of lrwidgets, also the session's ``diverging``
    event. The gap keeps it from bursts near zero that come back on their own (a BatchNorm MLP at 0.02 rising to 0.1
    for ten steps: 5x its best, a thirtieth of the way back to untrained); a classifier's is at least 4 / its samples
    a row (:meth:`use_samples`: on 3% positives at batch 8 and a good rate one wrong positive lifted a binary model's
    EMA from ~0.02 past 4x and 0.17; ``benchmarks/RESULTS.md`` 2026-12-06 22:55). It catches a run that learned and
    then blew up (a rate raised mid-fit); a rate too large from the first step collapses before the warm-up ends,
    which is :class:`CollapsedDetector`'s case.

    Example:
        >>> d = DivergingDetector(factor=4.0)
        >>> verdicts = [d.update(i, 1.0 if i < 30 else 10.0, 0.1) for i in range(40)]
        >>> [(v.kind, v.first_step, v.last_step) for v in verdicts if v]
        [('diverging', 33, 37)]
    """

    kind = "diverging"
    patience = 5

    def __init__(self, factor: float = 4.0) -> None:
        super().__init__()
        self.factor = check_float("factor", factor, gt=1)
        self.monitor = DivergenceMonitor(factor=self.factor, patience=self.patience)

    def use_samples(self, samples: int | None) -> None:
        """A classifier's rows of ``samples`` samples (None: unknown, or none): a gap at least ``small_batch_gap``."""
        self.monitor.min_gap = small_batch_gap(samples)

    def rearm(self) -> None:
        """Re-armed by its own hysteresis only (one rule with the session's ``diverging`` event)."""

    def update(self, step: int, loss: float, learning_rate: float) -> Diagnosis | None:
        """Feed one finite batch loss (the form the session's recorder uses)."""
        if not self.monitor.update(loss):
            return None
        return self._verdict(step, self.monitor.smoothed, self.monitor.best, learning_rate)

    def scan(
        self, first_step: int, losses: Sequence[float] | np.ndarray, learning_rates: Sequence[float] | np.ndarray
    ) -> list[Diagnosis]:
        """Feed a run of recorded steps (``first_step`` on); the verdicts, in step order.

        Non-finite losses are skipped, as ``update`` is never fed them: the session's recorder
        scans the steps recorded since its last look, a few times a second, off the per-batch path.
        """
        values = np.asarray(losses, dtype=np.float64)
        steps = np.flatnonzero(np.isfinite(values))
        found = self.monitor.update_many(values[steps] if len(steps) < len(values) else values)
        return [
            self._verdict(first_step + int(steps[i]), smooth, best, float(learning_rates[int(steps[i])]))
            for i, smooth, best in found
        ]

    def _verdict(self, step: int, smooth: float, best: float, learning_rate: float) -> Diagnosis:
        first = step - self.patience + 1
        advice, fix = _lower(learning_rate)
        return Diagnosis(
            "diverging",
            first,
            step,
            {
                "smoothed_loss": smooth,
                "best": best,
                # a best of 0 (a loss of exactly 0 through the warm-up): the reference was the noise floor
                "ratio": smooth / best if best > 0 else math.inf,
                "learning_rate": learning_rate,
            },
            f"the loss is diverging: its smoothed value ({smooth:.4g}) stayed above {self.factor:g}x its best"
            f" ({best:.4g}) over steps {first}-{step}; the learning rate ({learning_rate:.3g}) may be too high",
            advice,
            fix,
        )

    def on_step(self, ctx: Context) -> Diagnosis | None:
        t = ctx.track
        return self.update(t.step, ctx.track.last_loss, t.learning_rate)


def build(kinds: tuple[str, ...], *, divergence_factor: float = 4.0) -> list[Detector]:
    """One detector of each kind, in the order of ``kinds``."""
    from lrwidgets.core.curve_detectors import CURVE_DETECTORS  # they subclass Detector: imported once it exists
    from lrwidgets.core.start_detector import SpikedDetector

    every: tuple[type[Detector], ...] = (NanDetector, DivergingDetector, SpikedDetector, *CURVE_DETECTORS)
    detectors = {d.kind: d for d in every}
    return [DivergingDetector(divergence_factor) if k == "diverging" else detectors[k]() for k in kinds]


def __getattr__(name: str) -> object:
    """The names that moved to :mod:`lrwidgets.core.plain_rows`, still importable from here (imported
    on first use: that module imports this one)."""
    if name in ("feed_plain_rows", "plain_rules", "start_rule"):
        from lrwidgets.core import plain_rows

        return getattr(plain_rows, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
