"""The detector of a rate that blows an untrained classifier up in its first steps: ``spiked``.

Measured on the diagnosis benchmark's digits fits (``benchmarks/RESULTS.md``): Adam at 0.1 on the
64-64-10 MLP throws the loss from ~2.3 (ln 10) to 8.7-12.1 within 1-3 steps, then learns slowly
(29-61% training accuracy after 8 epochs against 96-99% at 1e-3): neither flat at a high level
(``collapsed``), nor above 4x a best taken after the warm-up (``diverging``), nor spiking again
later (``oscillating``): no verdict at all before this rule. Its smoothed loss reached 2.4-3.7x
the first batch loss; at the good rates of that benchmark (Adam 1e-3 to 1e-2, SGD 0.1-0.3) and on
a hard binary task with half its labels flipped it never passed 1.2x.
"""

from __future__ import annotations

import math

from lrwidgets.core.checks import check_float, check_int
from lrwidgets.core.detectors import Detector, _lower
from lrwidgets.core.fit_context import Context
from lrwidgets.core.smoothing import EmaSmoother
from lrwidgets.core.verdicts import Diagnosis


class SpikedDetector(Detector):
    """``spiked``: in the first ``horizon`` (20) steps at a rate, the loss smoothed since the rate
    was set (the track's debiased EMA, started again there) reached ``factor`` (2) x the rate's
    first batch loss, and that first loss was an untrained classifier's: at least ``untrained``
    (0.5) x ln(number of classes).

    The last condition keeps the rule to a model that starts near its untrained level: a rate
    raised mid-fit, from a trained model's low and noisy loss, is ``diverging``'s case (measured:
    a clean fit's smoothed loss over 20 steps reached 2x its first batch loss from 15% of the
    starts taken after its first epoch), as is a session started on a model trained below half
    that level. The rule does not run without a number of classes (the Diagnostician's default
    is the output's width for a classifier: a softmax output, or a categorical cross-entropy loss;
    2 for one sigmoid or logit compiled with a binary cross-entropy),
    nor on a fit that weighs its samples (``class_weight``, ``sample_weight``: a rare class
    weighted 50x makes single batches several times the untrained loss).

    Example:
        >>> from lrwidgets.core.diagnosis import Diagnoser
        >>> d = Diagnoser(num_classes=10)
        >>> verdicts = d.step_many(0, [2.3, 12.0, 9.0, 6.0, 4.0], [0.1] * 5)
        >>> [(v.kind, v.first_step, v.last_step) for v in verdicts]
        [('spiked', 0, 1)]
    """

    kind = "spiked"

    def __init__(self, factor: float = 2.0, horizon: int = 20, untrained: float = 0.5) -> None:
        super().__init__()
        self.factor = check_float("factor", factor, gt=1)
        self.horizon = check_int("horizon", horizon, ge=1)
        self.untrained = check_float("untrained", untrained, gt=0)
        self._ema: EmaSmoother | None = None  # the track's EMA, started again when the rate was set

    def rearm(self) -> None:
        super().rearm()
        if self._ema is not None:
            self._ema.reset()

    def _judges(self, ctx: Context) -> bool:
        """Not fired, and the fit is one the rule judges: a classifier's, its samples not weighted."""
        return not self.fired and ctx.judges_spikes

    def live(self, ctx: Context) -> bool:
        """Whether the rule may report at the track's next step (``step_many`` feeds those rows one
        by one)."""
        return ctx.track.rate_steps < self.horizon and self._judges(ctx)

    def on_step(self, ctx: Context) -> Diagnosis | None:
        t = ctx.track
        if t.rate_steps > self.horizon or not self._judges(ctx):
            return None
        classes = ctx.num_classes or 0
        if self._ema is None:
            self._ema = EmaSmoother(t.smoothing)
        first, smooth = t.rate_first, self._ema.update(t.last_loss)
        # The fit's first row already blown up (several batches a row), and the loss rose on from
        # it: measured from the untrained model's, ln(classes), which that row's first batch had.
        averaged = ctx.first_row_blown and t.steps == t.rate_steps and t.rate_max > 1.1 * first
        if averaged:
            first = math.log(classes)
        if not (first >= self.untrained * math.log(classes) and smooth >= self.factor * first):
            return None
        advice, fix = _lower(t.learning_rate)
        return self._report(
            Diagnosis(
                "spiked",
                t.rate_start,
                t.step,
                {
                    "smoothed_loss": smooth,
                    "first_loss": first,
                    "ratio": smooth / first,
                    "peak": t.rate_max,
                    "learning_rate": t.learning_rate,
                },
                f"the loss blew up at the start of this rate: from {first:.4g} at its first step (an"
                f" untrained model's is about ln {classes} = {math.log(classes):.3g}"
                + (f"; that step's {ctx.batches_per_row} batches averaged {t.rate_first:.4g}" if averaged else "")
                + f") its smoothed value"
                f" rose to {smooth:.4g} ({smooth / first:.1f}x) by step {t.step}, with a batch loss of"
                f" {t.rate_max:.4g} at step {t.rate_max_step}: the learning rate ({t.learning_rate:.3g}) is too large",
                advice,
                fix,
            )
        )
