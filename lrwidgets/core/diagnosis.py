"""Live diagnosis of a bad learning rate: verdicts with their evidence, advice and one fix each.

:class:`Diagnoser` is fed the per-step loss and rate (and the per-epoch logs) of a fit as they arrive and returns a
:class:`Diagnosis` whenever one of its detectors (:mod:`lrwidgets.core.detectors`) reaches a verdict. Every update is
O(1) per step (the detectors share one :class:`LossTrack`: a debiased EMA, a fixed-size window with running sums, the
loss at the start and since the last rate change), O(1) per epoch: never O(history).

The thresholds were set on real fits (``benchmarks/bench_diagnosis.py``: MLPs on scikit-learn's digits, Adam and plain
SGD at rates from 100x too small to 1000x too large, 3 seeds); each detector's docstring says what those runs showed.

Example:
    >>> d = Diagnoser()
    >>> verdicts = [v for step in range(40) for v in d.step(step, 2.3, 1e-5)]
    >>> verdicts += d.step(40, float("nan"), 1e-5)
    >>> [v.kind for v in verdicts]
    ['too_slow', 'nan']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lrwidgets.core import detectors, plain_rows
from lrwidgets.core.checks import check_choice, check_float, check_int
from lrwidgets.core.detectors import DivergingDetector
from lrwidgets.core.fit_context import Context, starts_where_it_ended
from lrwidgets.core.loss_track import LossTrack
from lrwidgets.core.stall_detectors import TooSlowDetector
from lrwidgets.core.verdicts import (
    FIX_KINDS,
    KINDS,
    RAISE_FAILED,
    TOO_LARGE,
    Diagnosis,
    Fix,
    rate_fix,
    rate_text,
)

# The verdicts, their fix and the fit's context live in their own modules; importable from here too.
__all__ = [
    "FIX_KINDS",
    "KINDS",
    "MUTED_WHEN_TOO_LARGE",
    "MUTED_WHEN_TOO_SLOW",
    "RAISE_FAILED",
    "TOO_LARGE",
    "Context",
    "Diagnoser",
    "Diagnosis",
    "Fix",
    "rate_fix",
    "rate_text",
    "starts_where_it_ended",
]

#: The verdicts a ``TOO_LARGE`` one mutes until the rate is raised (``unstable``: it would only
#: say again that the rate is too large).
MUTED_WHEN_TOO_LARGE = ("unstable", "too_slow", "plateau")
#: The verdicts ``too_slow`` mutes until the rate rises ``rate_jump`` x above the one it judged, at
#: once or gradually (a warm-up; then the rules start again from that step, as after a jump): read
#: from a flat loss and a batch far above it, they would turn the advice round on a few bad
#: batches that come much later at a rate too small.
MUTED_WHEN_TOO_SLOW = ("collapsed", "unstable", "plateau")


class Diagnoser:
    """Runs every detector on a stream of batch losses and epoch logs; returns their verdicts.

    A detector reports once, then stays quiet until the learning rate jumps (by ``rate_jump`` x
    or more between two steps: the user acted) or, for ``diverging``, until the loss comes back
    (its hysteresis). After a verdict that the rate is too large, ``unstable``, ``too_slow`` and
    ``plateau`` stay quiet until the rate jumps up (measured: a model collapsed at Adam 1.0 stayed
    flat at ~14 after the rate was lowered 10x, and got a `plateau` verdict 400 steps later:
    neither a rate too small nor a plateau a cut would help). After ``too_slow``, ``collapsed`` and
    ``unstable`` stay quiet until the rate has risen ``rate_jump`` x above the one it judged, at
    once or gradually; a gradual rise that gets there counts as a jump. A ``too_slow`` verdict
    after a raise that did not help (evidence ``rate_before``: it advises keeping the rate) mutes nothing.

    Args:
        num_classes: for classifiers, the number of classes (chance accuracy is ``1/num_classes``);
            None when unknown or not a classifier.
        kinds: the detectors to run (default: all of :data:`KINDS`).
        rate_jump: a change of the rate between two steps by this factor or more re-arms the
            detectors (a schedule's gradual decay does not).
        divergence_factor: the ``diverging`` detector's factor (see
            :class:`lrwidgets.core.detectors.DivergingDetector`).
    """

    def __init__(
        self,
        *,
        num_classes: int | None = None,
        kinds: Iterable[str] | None = None,
        rate_jump: float = 1.5,
        divergence_factor: float = 4.0,
    ) -> None:
        if num_classes is not None:
            num_classes = check_int("num_classes", num_classes, ge=2)
        if isinstance(kinds, str):
            raise TypeError(f"Argument `kinds` must be a list of kinds, not one str. Received: kinds={kinds!r}")
        chosen = tuple(KINDS if kinds is None else kinds)
        for kind in chosen:
            check_choice("kinds", kind, KINDS)
        if not chosen or len(set(chosen)) != len(chosen):
            raise ValueError(f"Argument `kinds` must name each kind once, at least one. Received: kinds={kinds!r}")
        self.rate_jump = check_float("rate_jump", rate_jump, gt=1)
        self.kinds = chosen
        self.divergence_factor = check_float("divergence_factor", divergence_factor, gt=1)
        self.context = Context(LossTrack(), num_classes)
        self.detectors = detectors.build(chosen, divergence_factor=self.divergence_factor)
        self._muted: set[str] = set()
        self._unmute_at = math.inf  # the rate at which MUTED_WHEN_TOO_SLOW are heard again
        # a TOO_LARGE verdict not yet followed by a jump up (MUTED_WHEN_TOO_LARGE are muted only then)
        self._large_pending = False
        self.diagnoses: list[Diagnosis] = []
        # Only the detectors with a per-step rule are called each step (the hot path), and those
        # whose rule looks at the window only when it is due.
        self._per_step = [d for d in self.detectors if type(d).on_step is not detectors.Detector.on_step]
        self._every_step = [d for d in self._per_step if not d.windowed]
        self._plain_rules = plain_rows.plain_rules(self._every_step)  # for step_many
        #: a rule fed row by row in its first steps at a rate, then never called by step_many's loop
        self._start_rule = plain_rows.start_rule(self._every_step)

    def next_fit(self) -> Diagnoser:
        """A diagnoser for the model's next fit: every rule starts again, judged against that fit's
        own best (a fit from reset weights starts far above the last one's best: no divergence),
        but the untrained model's loss is kept (a fit that continues a trained model, its loss flat
        and low, is not too slow; ``diverging``'s gap stays a share of it)."""
        fresh = Diagnoser(
            num_classes=self.context.num_classes,
            kinds=self.kinds,
            rate_jump=self.rate_jump,
            divergence_factor=self.divergence_factor,
        )
        old, new = self.context.track, fresh.context.track
        new.initial, new._initial_sum, new._initial_count = old.initial, old._initial_sum, old._initial_count
        for was, det in zip(self.detectors, fresh.detectors, strict=True):
            if isinstance(was, DivergingDetector) and isinstance(det, DivergingDetector):
                det.monitor.initial = was.monitor.initial
            if isinstance(was, TooSlowDetector) and isinstance(det, TooSlowDetector):
                det.judged = was.judged  # a raise made before the fit from reset weights is judged too
        return fresh

    def step(self, step: int, loss: float, learning_rate: float) -> list[Diagnosis]:
        """Feed one batch: its history step, loss and rate. O(1) (a rule's O(window) check is due
        once per ``window // 4`` steps at most)."""
        found: list[Diagnosis] = []
        track = self.context.track
        if not math.isfinite(loss):
            for det in self.detectors:
                self._keep(det.on_nonfinite(self.context, step, loss, learning_rate), found)
            return found
        before = track.learning_rate
        # A rise to where too_slow's mute ends (at once or gradually) starts the rules again, as a jump.
        restart = self._unmute_at < math.inf and learning_rate >= self._unmute_at
        if restart:
            self._unmute_at = math.inf
        jumped = track.update(step, loss, learning_rate, self.rate_jump, restart)
        if jumped or restart:
            # A rate lowered after a too-large verdict leaves a broken model behind, whose flat loss
            # is no sign of a rate too small nor of a plateau: those mutes wait for a jump up (a
            # gradual rise that ends too_slow's mute does not end them).
            self._large_pending = self._large_pending and not (jumped and learning_rate > before)
            self._muted.intersection_update(MUTED_WHEN_TOO_LARGE if self._large_pending else ())
            if self._unmute_at < math.inf:
                self._muted.update(MUTED_WHEN_TOO_SLOW)
            for det in self.detectors:
                det.rearm()
        muted, context = self._muted, self.context
        due = track.full and track.rate_steps % max(track.window // 4, 1) == 0
        for det in self._per_step if due else self._every_step:
            if det.kind not in muted:
                verdict = det.on_step(context)
                if verdict is not None:
                    self._keep(verdict, found)
        return found

    def step_many(self, first_step: int, losses: Sequence[float], learning_rates: Sequence[float]) -> list[Diagnosis]:
        """Feed a run of batches, history steps ``first_step`` on: the verdicts of :meth:`step`
        called once per batch, in the same order, and the same state after.

        A plain batch (a finite loss, no jump of the rate, no per-step rule reporting) is taken
        in one loop over local names (:func:`lrwidgets.core.plain_rows.feed_plain_rows`; the
        window rules are called from it when due); any other goes through :meth:`step`. The
        cost a batch of both, measured: ``benchmarks/bench_diagnosis_cost.py``.

        Example:
            >>> d = Diagnoser()
            >>> verdicts = d.step_many(0, [2.3] * 40 + [float("nan")], [1e-5] * 41)
            >>> [(v.kind, v.last_step) for v in verdicts]
            [('too_slow', 39), ('nan', 40)]
        """
        if len(losses) != len(learning_rates):
            raise ValueError(
                "Arguments `losses` and `learning_rates` must have the same length. Received: "
                f"len(losses)={len(losses)}, len(learning_rates)={len(learning_rates)}"
            )
        found: list[Diagnosis] = []
        rows = zip(losses, learning_rates, strict=True)
        step, end = first_step, first_step + len(losses)
        while step < end:
            step, special = plain_rows.feed_plain_rows(self, step, rows, found)
            if special is not None:
                found += self.step(step, *special)
                step += 1
        return found

    def epoch(self, step: int, logs: Mapping[str, Any]) -> list[Diagnosis]:
        """Feed one epoch's logs (``loss``, ``val_loss``, ``accuracy``...), ``step`` its last step."""
        if not isinstance(logs, Mapping):
            raise TypeError(f"Argument `logs` must be a mapping of log keys to values. Received: logs={logs!r}")
        step = max(check_int("step", step), 0)  # -1: an epoch that ran no batch, at the start
        row = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self.context.last_epoch = row
        found: list[Diagnosis] = []
        for det in self.detectors:
            if det.kind not in self._muted:
                self._keep(det.on_epoch(self.context, step), found)
        return found

    def _keep(self, verdict: Diagnosis | None, found: list[Diagnosis]) -> None:
        if verdict is None:
            return
        found.append(verdict)
        self.diagnoses.append(verdict)
        if verdict.kind in TOO_LARGE:
            self._muted.update(MUTED_WHEN_TOO_LARGE)
            self._large_pending = True
        elif verdict.kind == "too_slow" and RAISE_FAILED not in verdict.evidence:
            rate = self.context.track.learning_rate
            at = self.rate_jump * rate
            if 0 < rate < at < math.inf:  # a rate that can rise rate_jump x
                self._muted.update(MUTED_WHEN_TOO_SLOW)
                self._unmute_at = at
