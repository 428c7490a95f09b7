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
from dataclasses import dataclass, field
from typing import Any

from lrwidgets.core.checks import check_choice, check_float, check_int
from lrwidgets.core.loss_track import LossTrack

KINDS = (
    "nan", "diverging", "spiked", "collapsed", "oscillating", "unstable", "too_slow", "plateau", "overfitting",
)  # fmt: skip
#: Verdicts that say the rate is too large.
TOO_LARGE = ("nan", "diverging", "spiked", "collapsed", "oscillating", "unstable")
FIX_KINDS = ("set_learning_rate", "rewind", "restore_best", "stop")
#: The verdicts a ``TOO_LARGE`` one mutes until the rate is raised (``unstable``: it would only
#: say again that the rate is too large).
MUTED_WHEN_TOO_LARGE = ("unstable", "too_slow", "plateau")
#: The verdicts ``too_slow`` mutes until the rate rises ``rate_jump`` x above the one it judged, at
#: once or gradually (a warm-up; then the rules start again from that step, as after a jump): read
#: from a flat loss and a batch far above it, they would turn the advice round on a few bad
#: batches that come much later at a rate too small.
MUTED_WHEN_TOO_SLOW = ("collapsed", "unstable", "plateau")
#: The evidence key of a ``too_slow`` verdict after a raise that made the batches noisier but the
#: loss fall no faster: the rate before that raise. It advises no further raise, and mutes nothing.
RAISE_FAILED = "rate_before"


@dataclass(frozen=True)
class Fix:
    """What the one-click fix of a verdict does.

    ``set_learning_rate``: set the rate to ``learning_rate``; ``rewind``: put back the weights and
    optimizer state kept before the batch of history step ``step`` (the last healthy state before a
    blow-up) and set the rate to ``learning_rate``, training going on; ``restore_best``: stop and put
    back the weights of epoch ``epoch`` (0-based, as Keras counts; None: the best epoch kept);
    ``stop``: stop training.
    """

    kind: str
    learning_rate: float | None = None
    epoch: int | None = None
    step: int | None = None

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, FIX_KINDS)
        # The rate to set, present (the detectors' own value: not converted here). A `restore_best`
        # with no epoch restores the best epoch kept.
        if self.kind in ("set_learning_rate", "rewind") and self.learning_rate is None:
            raise ValueError(f"Argument `learning_rate` is needed by a '{self.kind}' fix. Received: learning_rate=None")
        if self.kind == "rewind" and self.step is None:
            raise ValueError("Argument `step` is needed by a 'rewind' fix. Received: step=None")
        if self.step is not None:
            if self.kind != "rewind":
                raise ValueError(f"Argument `step` is only for a 'rewind' fix. Received: step={self.step!r}")
            check_int("step", self.step, ge=0)
        if self.learning_rate is not None:
            if self.kind not in ("set_learning_rate", "rewind"):
                raise ValueError(
                    f"Argument `learning_rate` is only for a 'set_learning_rate' or 'rewind' fix. "
                    f"Received: learning_rate={self.learning_rate!r}"
                )
            check_float("learning_rate", self.learning_rate, gt=0)
        if self.epoch is not None:
            if self.kind != "restore_best":
                raise ValueError(f"Argument `epoch` is only for a 'restore_best' fix. Received: epoch={self.epoch!r}")
            check_int("epoch", self.epoch, ge=0)

    @property
    def label(self) -> str:
        """A button label: ``set the rate to 3.0e-03``, ``rewind to step 420, rate 3.0e-03``,
        ``stop and restore epoch 12``, ``stop training``."""
        if self.kind == "set_learning_rate":
            return f"set the rate to {self.learning_rate:.1e}"
        if self.kind == "rewind":
            return f"rewind to step {self.step}, rate {self.learning_rate:.1e}"
        if self.kind == "restore_best":
            return "stop and restore the best epoch" if self.epoch is None else f"stop and restore epoch {self.epoch}"
        return "stop training"


@dataclass(frozen=True)
class Diagnosis:
    """One verdict: what is wrong, over which steps, the numbers that show it, and what to do.

    ``first_step``/``last_step`` are history steps (0-based, as on the plots); ``evidence`` holds
    the measured values the verdict rests on; ``message`` states them; ``advice`` says what to do
    in numbers; ``action`` is the one-click fix (None when there is none to offer).
    """

    kind: str
    first_step: int
    last_step: int
    evidence: dict[str, float]
    message: str
    advice: str
    action: Fix | None = None

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, KINDS)
        first = check_int("first_step", self.first_step, ge=0)
        check_int("last_step", self.last_step, ge=first)
        for name in ("message", "advice"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Argument `{name}` must be a str. Received: {name}={getattr(self, name)!r}")
        if self.action is not None and not isinstance(self.action, Fix):
            raise TypeError(f"Argument `action` must be a Fix or None. Received: action={self.action!r}")

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}; {self.advice}"


def starts_where_it_ended(first_loss: float, level: float, factor: float) -> bool:
    """Whether a fit whose first batch loss is ``first_loss`` continues the last one, which ended at
    the smoothed ``level``: within ``factor`` x it (a rate raised between two fits is judged against
    what the model had reached), not far above (reset weights, another model: judged on its own)."""
    return math.isfinite(level) and first_loss <= factor * max(level, 0.0)


def rate_fix(value: float) -> Fix | None:
    """The fix that sets the rate to ``value``: None where the rate it was computed from was not a
    finite positive number (no rate to advise)."""
    return Fix("set_learning_rate", value) if math.isfinite(value) and value > 0 else None


def rate_text(value: float) -> str:
    """A learning rate as advice writes it: two significant digits (``3e-03``, ``0.3``)."""
    return f"{value:.2g}"


@dataclass
class Context:
    """The track, plus what is known about the model (its number of classes, for chance accuracy)."""

    track: LossTrack
    num_classes: int | None = None
    last_epoch: dict[str, float] = field(default_factory=dict)
    #: the fit weighs its samples (``class_weight``, ``sample_weight``): set by the Diagnostician
    weighted: bool = False
    #: batches a row covers (``steps_per_execution``: a row is the mean of that many): set by the Diagnostician
    batches_per_row: int = 1
    #: samples a batch, when known (a row's loss is the mean of ``batch_size x batches_per_row``)
    batch_size: int | None = None
    #: the loss is a regression's, unbounded above (MSE, MAE, Huber...): set by the Diagnostician
    regression: bool = False
    #: the largest class's share of the training labels, when known: set by the Diagnostician
    majority: float | None = None
    #: an output of a model of several is a 2-class one (a sigmoid's): judged as 2 classes are (spikes)
    binary: bool = False

    @property
    def samples_per_row(self) -> int | None:
        """Samples a row's loss is the mean of, when the batch size is known."""
        return None if not self.batch_size else self.batch_size * self.batches_per_row

    @property
    def chance(self) -> float | None:
        return None if not self.num_classes else 1.0 / self.num_classes

    @property
    def collapse_veto(self) -> float:
        """The accuracy above which a flat loss is no collapse: twice chance, or halfway from the
        labels' largest share (:attr:`majority`; a constant prediction scores it at most) to 1 where
        known and twice chance is not above it (with 2 classes it is 1, never exceeded). Binary fits
        on 63/37 data got ``collapsed`` at 0.84-0.95 accuracy (bar 0.815 now)."""
        bar = 2.0 / self.num_classes if self.num_classes else math.inf
        m = self.majority
        return (1.0 + m) / 2 if m is not None and (self.num_classes == 2 or m >= bar) else bar

    @property
    def untrained_loss(self) -> float:
        """The untrained model's loss, which the rules' gaps and bands are shares of: the fit's first
        batch loss (``LossTrack.initial``), or for a classifier whose first loss is under half of
        ln(classes) (a trained model in a new session: fine-tuned, loaded) ln(classes), a uniform
        guess's loss. Scaled by a trained model's tiny first loss, they collapsed: a classifier at
        98% accuracy got ``oscillating`` at Adam 1e-3 and ``unstable`` while it improved. Also
        ln(classes) when the first row was already blown up (:attr:`first_row_blown`)."""
        initial, classes = self.track.initial, self.num_classes or 0
        trained = classes >= 2 and initial < 0.5 * math.log(classes)
        return math.log(classes) if trained or self.first_row_blown else initial

    @property
    def first_row_blown(self) -> bool:
        """Whether the fit's first row, a mean of several batches (``batches_per_row`` > 1) of which
        only the first ran before an update, stands above 2 x ln(classes) (a classifier's): Adam 1.0
        on the digits MLP with ``steps_per_execution=4`` made it 10.9 (then ~14.5; ln 10 = 2.30), and
        that row, read as the untrained loss, hid the blow-up (no verdict; with 8, `too_slow`). A
        classifier fed raw inputs, whose untrained loss can stand that high, then gets no `too_slow`."""
        classes = self.num_classes or 0
        return self.batches_per_row > 1 and classes >= 2 and self.track.initial > 2 * math.log(classes)

    @property
    def judges_spikes(self) -> bool:
        """Whether the rules that read single batches far above the loss judge this fit: a
        classifier's (a regression's heavy-tailed batch losses spike at good rates), its samples
        not weighted (a batch of heavy samples stands far above the rest at any rate)."""
        return (self.num_classes or 0) >= 2 and not self.weighted

    @property
    def judges_spread(self) -> bool:
        """Whether ``unstable`` judges this fit: :attr:`judges_spikes`, with 3 classes or more (with 2,
        a wrong sample in 32 moves a batch past its gaps, shares of ln 2: ``oscillating``'s is 3x)."""
        return self.judges_spikes and (self.num_classes or 0) >= 3 and not self.binary


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
        from lrwidgets.core import detectors, plain_rows

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
        from lrwidgets.core.detectors import DivergingDetector
        from lrwidgets.core.stall_detectors import TooSlowDetector

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
        from lrwidgets.core.plain_rows import feed_plain_rows

        if len(losses) != len(learning_rates):
            raise ValueError(
                "Arguments `losses` and `learning_rates` must have the same length. Received: "
                f"len(losses)={len(losses)}, len(learning_rates)={len(learning_rates)}"
            )
        found: list[Diagnosis] = []
        rows = zip(losses, learning_rates, strict=True)
        step, end = first_step, first_step + len(losses)
        while step < end:
            step, special = feed_plain_rows(self, step, rows, found)
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
