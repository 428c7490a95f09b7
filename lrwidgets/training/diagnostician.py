"""``Diagnostician``: a session's live diagnosis of a bad learning rate, recorded and acted on.

It subscribes to a :class:`~lrwidgets.training.TrainingSession`'s snapshots (in the training
thread, at most once per ``update_interval``), feeds their new rows and epochs to the core's
:class:`~lrwidgets.core.diagnosis.Diagnoser` (O(new rows)), and records each verdict as a
``diagnosis`` event in the session's history (its ``source`` is the verdict's kind), so the
history's exports carry it. Fixes go through the session's public requests only.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from lrwidgets.core.checks import check_bool, check_choice
from lrwidgets.core.detectors import DivergingDetector
from lrwidgets.core.diagnosis import Diagnoser, Diagnosis, Fix, starts_where_it_ended
from lrwidgets.training import _state
from lrwidgets.training.best_weights import BestWeights, best_weights_callback
from lrwidgets.training.fit_traits import binary_head, majority_share, num_classes_of, regression_loss, weighted
from lrwidgets.training.fixes import Fixes
from lrwidgets.training.rewind import BLOW_UPS
from lrwidgets.training.session import Snapshot, TrainingSession

ON_DIVERGE_CHOICES = ("warn", "lower", "rewind", "stop")
# By id: a diagnostician holds its session, so a session key would never be released. The session's
# listener list holds the diagnostician: it lives exactly as long as its session.
_ATTACHED: weakref.WeakValueDictionary[int, Diagnostician] = weakref.WeakValueDictionary()
_ATTACH_LOCK = threading.RLock()
#: The verdicts ``on_diverge`` acts on: the loss has blown up (at a rate's start or later) or collapsed.
ACTED_ON = BLOW_UPS


def _check_on_diverge(session: TrainingSession, on_diverge: Any) -> str:
    """``on_diverge`` checked: one of the choices, and ``"rewind"`` only where states are kept."""
    value = check_choice("on_diverge", on_diverge, ON_DIVERGE_CHOICES)
    if value == "rewind" and session.controller.recorder.on_nan != "restore":
        raise ValueError(
            "Argument `on_diverge` cannot be 'rewind' in a session made with on_nan='stop': it keeps no"
            " state to rewind to (make it with on_nan='restore'). Received: on_diverge='rewind'"
        )
    return value


class Diagnostician(Fixes):
    """Watches a session for a bad learning rate; each verdict is an event and a :class:`Diagnosis`.

    Args:
        session: the :class:`TrainingSession` to watch: its history so far is read at the first
            snapshot, then every fit after. A fit that starts where the last one ended continues
            its diagnosis; one that starts far above it (reset weights) is diagnosed on its own
            (against its own best loss: no divergence), against the untrained model's loss. The
            session's first open diagnostician (its dashboards share :meth:`attach`'s) writes the
            verdicts in the history; another keeps them in its own ``diagnoses`` (until the first
            is closed).
        on_diverge: what to do on a ``diverging``, ``spiked`` or ``collapsed`` verdict: ``"warn"`` (default:
            record it only), ``"lower"`` (set the advised rate, 10x lower), ``"rewind"`` (its
            ``rewind`` fix: put back the last healthy state kept before the blow-up and set the
            advised rate; only ``"lower"`` when none is kept) or ``"stop"`` (the weights left as
            they are), each at the snapshot that brings the verdict: the next batch after it,
            which on fast steps comes many batches after the verdict's own.
        num_classes: for chance accuracy and an untrained model's loss; default: the width of the
            model's output when >= 2 and the model classifies (a softmax output, or compiled with a
            categorical cross-entropy); 2 for one output 1 wide compiled with a binary cross-entropy;
            for several such outputs, the classes of a uniform guess whose loss is their weighted sum
            (:func:`~lrwidgets.training.fit_traits.num_classes_of`).
        weighted: whether the fits' samples are weighted (no ``spiked``, ``collapsed``,
            ``oscillating`` nor ``unstable`` verdicts then); default:
            as their arguments show (``class_weight``, ``sample_weight``, a ``tf.data.Dataset`` of
            ``(x, y, sample_weight)``); say ``True`` for weights a generator or a ``PyDataset``
            yields, which are not read ahead.
        keep_best: keep a copy of the weights at each new best ``val_loss``, so that an
            ``overfitting`` verdict can restore them: taken at that epoch's end by the session's
            own callback (in a session's fit, and in a fit given ``callbacks=[session.callback]``).

    The fix of a ``diverging``, ``spiked`` or ``collapsed`` verdict is ``rewind`` when the session's
    NaN guard (``on_nan="restore"``) kept a healthy state from before the blow-up: its copies are
    taken at each epoch's start (fewer in epochs under 32 steps: ``start_copy_due``) and every 2 s, and one
    is healthy when its trainable and optimizer values are finite and the median loss of its batch
    and the next ones (up to 16 batches; up to a raise of the rate, then with the batches before it)
    is finite, within ``divergence_factor`` x the fit's best
    and not back up more than half of the fit's fall from its start (``NanGuard``). Before the
    batch whose rate blew it up (``spiked`` and ``collapsed``: the rate's first batch), before the
    steps that diverged (``diverging``).
    The fix puts that state back (weights and optimizer state; the rate and per-layer multipliers
    stay steered) and sets the advised rate, training going on; the latest such verdict holds its
    state. Without one, the fix only sets the rate.

    Example:
        >>> import keras, numpy as np, lrwidgets as lrw
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.SGD(1e-7), loss="mse")
        >>> session = lrw.TrainingSession(model)
        >>> doctor = lrw.Diagnostician(session)
        >>> _ = session.fit(np.ones((1280, 8)), np.ones((1280, 1)), epochs=1, batch_size=32).wait()
        >>> [d.kind for d in doctor.diagnoses]
        ['too_slow']
    """

    ON_DIVERGE_CHOICES = ON_DIVERGE_CHOICES

    def __init__(
        self,
        session: TrainingSession,
        *,
        on_diverge: str = "warn",
        num_classes: int | None = None,
        keep_best: bool = True,
        weighted: bool | None = None,
    ) -> None:
        if not isinstance(session, TrainingSession):
            raise TypeError(f"Argument `session` must be a TrainingSession. Received: session={session!r}")
        self.session = session
        # Every argument checked before the session is touched (Fixes makes its guard keep more copies)
        self.on_diverge = on_diverge
        kept_best = BestWeights(check_bool("keep_best", keep_best))
        self.weighted = weighted
        classes = num_classes if num_classes is not None else num_classes_of(session.model)
        self.diagnoser = Diagnoser(num_classes=classes, divergence_factor=session.controller.recorder.divergence_factor)
        Fixes.__init__(self, session, kept_best)
        self._diagnoses: list[Diagnosis] = []
        self._lock = threading.Lock()
        #: called with each new verdict, in the training thread (keep it cheap)
        self.listeners: list[Callable[[Diagnosis], None]] = []
        self._callback: Any = None
        self._fit_start = session.progress.fit_first_step  # the fit the diagnoser judges
        self._weighed: tuple[Diagnoser, int] | None = None  # the diagnoser and fit `weighted` was set for
        self._stepped = False  # the diagnoser has seen a step
        with _ATTACH_LOCK:  # before its first snapshot: the session's first open one writes the events
            session.controller.diagnosticians.append(self)
        self._unsubscribe = session.subscribe(self._on_snapshot)
        session.controller.epoch_hooks.append(self._at_epoch_end)

    @classmethod
    def attach(cls, session: TrainingSession, *, on_diverge: str | None = None) -> Diagnostician:
        """The session's diagnostician (one a session, shared by its views), created when needed
        (``on_diverge="warn"`` unless given); a given ``on_diverge`` is set on it, None keeps it."""
        with _ATTACH_LOCK:  # on_diverge is checked by the constructor, or by the property
            found = _ATTACHED.get(id(session))
            if found is None or found.session is not session:
                found = _ATTACHED[id(session)] = cls(session, on_diverge=on_diverge or "warn")
            elif on_diverge is not None:
                found.on_diverge = on_diverge
        return found

    @property
    def on_diverge(self) -> str:
        """What is done on a blow-up's verdict (see the class); set it to change that, checked."""
        return self._on_diverge

    @on_diverge.setter
    def on_diverge(self, value: str) -> None:
        self._on_diverge = _check_on_diverge(self.session, value)

    @property
    def diagnoses(self) -> tuple[Diagnosis, ...]:
        """Every verdict so far, oldest first."""
        with self._lock:
            return tuple(self._diagnoses)

    @property
    def weighted(self) -> bool | None:
        """Whether the fits' batches are weighted (then no ``spiked``, ``collapsed``, ``oscillating``
        nor ``unstable`` verdict: a heavily weighted rare class makes single batches several times
        an untrained model's loss, and a first batch of light samples half the level); None (default):
        as the fit's arguments show (:func:`~lrwidgets.training.fit_traits.weighted`). Read at
        each fit's first snapshot."""
        return self._weighted

    @weighted.setter
    def weighted(self, value: bool | None) -> None:
        self._weighted = None if value is None else check_bool("weighted", value)

    @property
    def keep_best(self) -> bool:
        """Whether the best ``val_loss`` epoch's weights are kept (for a ``restore_best`` fix)."""
        return self._kept_best.enabled

    @keep_best.setter
    def keep_best(self, value: bool) -> None:
        self._kept_best.enabled = check_bool("keep_best", value)

    def close(self) -> None:
        """Stop watching the session."""
        with _ATTACH_LOCK:  # the next open one (if any) writes the events from here on
            if _ATTACHED.get(id(self.session)) is self:
                del _ATTACHED[id(self.session)]
            with contextlib.suppress(ValueError):  # closed before
                self.session.controller.diagnosticians.remove(self)
        self._unsubscribe()
        with contextlib.suppress(ValueError):  # closed before
            self.session.controller.epoch_hooks.remove(self._at_epoch_end)

    # ---- the training thread -------------------------------------------------------------------
    def _on_snapshot(self, snap: Snapshot) -> None:
        losses, rates, first = snap.loss.tolist(), snap.learning_rate.tolist(), snap.first_step
        nan_steps = {e.step for e in snap.events if e.kind == "nan"}
        # A NaN row is a real NaN loss only when the session said so (else: no loss logged): not fed.
        skipped = [i for i in np.flatnonzero(np.isnan(snap.loss)).tolist() if first + i not in nan_steps]
        epochs = sorted(snap.epochs, key=lambda row: int(row.get("step", -1)))
        fit_start = snap.progress.fit_first_step
        found: list[Diagnosis] = []
        i = e = k = 0
        n = len(losses)
        # Runs of rows fed in one call, cut where an event must come in order: an epoch (after
        # the row of its step), a skipped row, the first row of a new fit.
        while i < n:
            if k < len(skipped) and skipped[k] == i:
                k, end = k + 1, i + 1
            else:
                if first + i >= fit_start > self._fit_start:
                    self._next_fit(fit_start, losses[i])
                end = min(
                    skipped[k] if k < len(skipped) else n,
                    int(epochs[e].get("step", -1)) - first + 1 if e < len(epochs) else n,
                    fit_start - first if fit_start > self._fit_start and fit_start - first > i else n,
                )
                end = max(end, i + 1)
                self._fit_context(fit_start)
                found += self.diagnoser.step_many(first + i, losses[i:end], rates[i:end])
                self._stepped = True
            while e < len(epochs) and int(epochs[e].get("step", -1)) < first + end:
                found += self._epoch(epochs[e])
                e += 1
            i = end
        for row in epochs[e:]:
            found += self._epoch(row)
        for verdict in found:
            self._record(verdict)

    def _next_fit(self, fit_start: int, first_loss: float) -> Diagnoser:
        """A fit that starts where the last one ended (its first batch loss, taken before its first
        update, within ``divergence_factor`` x the last smoothed loss) continues its diagnosis: a
        rate raised between two fits is judged against what the model had reached. One that starts
        far above (reset weights, another model) is diagnosed on its own
        (:meth:`Diagnoser.next_fit`)."""
        self._fit_start = fit_start
        d = self.diagnoser
        if self._stepped and not starts_where_it_ended(first_loss, d.context.track.smooth, d.divergence_factor):
            self.diagnoser = d.next_fit()
            self._kept_best.drop_before(fit_start)
        return self.diagnoser

    @property
    def callback(self) -> Any:
        """A Keras callback that keeps the best ``val_loss`` epoch's weights at that epoch's end.

        Not needed: the session's own callback does it (``keep_best``). Kept for code that adds
        it to a fit; the weights are then copied once, not twice."""
        if self._callback is None:
            self._callback = best_weights_callback(self._at_epoch_end)
        return self._callback

    def _at_epoch_end(self, model: Any, epoch: int, logs: dict[str, Any]) -> None:
        val = logs.get("val_loss")
        if val is not None:
            self.keep(model, float(val), epoch, self.session.history.num_steps - 1)

    def _fit_context(self, fit_start: int) -> None:
        """What the rules read of the fit, set once a fit (and a diagnoser): weighted samples (their
        batches vary far beyond an untrained model's loss), batches a row, samples a batch."""
        if self._weighed == (self.diagnoser, fit_start):
            return
        self._weighed = (self.diagnoser, fit_start)
        said, ctx = self._weighted, self.diagnoser.context
        data = self.session.fit_data or {}
        ctx.weighted = weighted(data) if said is None else said
        ctx.majority = majority_share(data, ctx.num_classes)
        ctx.batches_per_row = _state.batches_per_row(self.session.model)  # steps_per_execution
        ctx.batch_size = self.session.controller.recorder.meter.batch_size  # None: not known
        ctx.regression = regression_loss(self.session.model)  # re-compiled between fits: read each fit
        ctx.binary = binary_head(self.session.model)
        samples = self.session.controller.recorder.watch.samples  # the session's event's reading: one rule
        for det in self.diagnoser.detectors:
            if isinstance(det, DivergingDetector):
                det.use_samples(samples)

    def keep(self, model: Any, val_loss: Any, epoch: int, step: int) -> None:
        """Copy the weights if ``val_loss`` is a new best of this fit (training thread, or idle)."""
        self._kept_best.keep(model, val_loss, epoch, step, self.session.progress.fit_first_step)

    def _epoch(self, row: dict[str, Any]) -> list[Diagnosis]:
        return self.diagnoser.epoch(int(row.get("step", 0)), row)

    def _record(self, verdict: Diagnosis) -> None:
        stale = self.stale(verdict)
        if not stale:
            verdict = self._rewinds.offer(verdict)
        with self._lock:
            self._diagnoses.append(verdict)
        rec = self.session.controller.recorder
        said = f"{verdict.message}; advice: {verdict.advice}"
        if stale:
            said += f" (its steps came before the fix of a blow-up asked at step {self._fixed_at}: not acted on)"
        writers = self.session.controller.diagnosticians  # one event a verdict, however many watch
        if writers and writers[0] is self:
            rec.event("diagnosis", said, source=verdict.kind, step=verdict.last_step)
        if verdict.kind in ACTED_ON and self.on_diverge != "warn" and not stale:
            fix = verdict.action if self.on_diverge != "stop" else Fix("stop")
            if fix is not None and fix.kind == "rewind" and self.on_diverge == "lower":
                fix = Fix("set_learning_rate", fix.learning_rate)
            if fix is not None:
                self._act(verdict, fix)
        for listener in list(self.listeners):
            listener(verdict)

    def _act(self, verdict: Diagnosis, fix: Fix) -> None:
        """``on_diverge``'s fix, in the thread of the snapshot that brought the verdict: during a fit
        (the training thread) left for the next batch boundary (:meth:`_set_rate`) or, for a stop, a
        flag; as the fit ends (idle, still its thread: before ``run.wait()`` returns), carried out
        here (the listeners called from within it are called once more after it, not nested)."""
        try:
            self.apply(verdict, fix, source="on_diverge")
        except ValueError as e:  # a rate a schedule holds at 0 there, a model compiled again: nothing changed
            self.session.controller.recorder.event("warning", f"on_diverge did not act on {verdict.kind}: {e}")
