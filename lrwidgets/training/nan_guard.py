"""Keep a copy of the last healthy model state during a fit, and put it back when the loss breaks.

A copy taken before batch ``k`` holds the weights that batch ``k`` computes its loss with, so it
is *confirmed* only when its trainable weights and optimizer state are finite and that loss comes
back finite and not diverged (the median of it and the next batches' at most ``factor`` times the
fit's best median of a block of batch losses, and not back up more than half of the fit's fall
from its start). Restoring puts back the last confirmed copy: never
weights that already produced an infinite or runaway loss, even when a whole epoch is one step (a
start-of-epoch copy would then hold weights of ~1e17). The learning rate and the per-layer
multipliers are left as they are: they are steered live, and the user's last choice stands.

Medians, not single batches: late in a fit single batch losses spread far more than ``factor``
(a digits MLP at step 4,000: the lowest 6e-4, the median 0.026), so a copy judged by one batch
against the lowest one was almost never confirmed, and a NaN put back the fit's first weights.
"""

from __future__ import annotations

import math
import time
import weakref
from typing import TYPE_CHECKING, Any, NamedTuple

import keras
import numpy as np

from lrwidgets.core.copy_health import JUDGED_BATCHES, judged_losses, lowest_median
from lrwidgets.training import _state

if TYPE_CHECKING:
    from lrwidgets.core import TrainingHistory

#: Epochs of fewer steps than this get a copy at their start only when the last copy is this many
#: steps back or copies take at most ``COPY_SHARE`` of the time since it: epochs of a few steps
#: (scikit-learn's wine at batch 32: 6 steps of ~0.27 ms, a copy ~0.21 ms) spent ~13% of the fit
#: copying at every start. Longer epochs are copied at each start, so a rewind goes back to the
#: blown-up epoch's start.
MIN_COPY_STEPS = 32
#: the share of the time since the last copy that copies may take at a short epoch's start (a
#: copy's time: the median of the last copies', each fit's first left out: on TensorFlow it builds
#: the optimizer, 12-18 ms)
COPY_SHARE = 0.02


def start_copy_due(epoch_steps: int | None, steps_since: int, seconds_since: float, costs: list[float]) -> bool:
    """Whether an epoch's start gets a copy: after an epoch of ``MIN_COPY_STEPS`` steps or more (or
    of unknown length: the fit's first), ``MIN_COPY_STEPS`` steps or more after the last copy, or
    where copies (``costs``: the last ones' seconds, the median read) take at most ``COPY_SHARE``
    of the ``seconds_since`` it. So in short epochs the copies are at most ``MIN_COPY_STEPS`` plus
    an epoch's steps apart (62 with epochs of 31).

    Example:
        >>> start_copy_due(6, 30, 0.008, [0.0002, 0.0003, 0.0002])  # wine: 0.2 ms a copy, 2.5% of 8 ms
        False
        >>> start_copy_due(6, 36, 0.010, [0.0002, 0.0003, 0.0002]), start_copy_due(57, 1, 0.001, [1.0])
        (True, True)
    """
    if epoch_steps is None or epoch_steps >= MIN_COPY_STEPS or steps_since >= MIN_COPY_STEPS or not costs:
        return True
    return sorted(costs)[len(costs) // 2] <= COPY_SHARE * seconds_since


def _values(variables: list[Any]) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v.value) for v in variables]


def _floating(dtype: np.dtype) -> bool:
    """A float or complex dtype, numpy's or one of ``ml_dtypes``' (``bfloat16``, the ``float8`` kinds:
    numpy does not count them as inexact)."""
    return dtype.kind in "fc" or (dtype.kind == "V" and "float" in dtype.name)


def _finite(values: list[np.ndarray]) -> bool:
    return all(bool(np.isfinite(v).all()) for v in values if _floating(v.dtype))


class State(NamedTuple):
    """A kept state: the values of the weights and of the optimizer's variables, the history step
    whose batch used them, and the optimizer they were read from (a weak reference)."""

    weights: list[np.ndarray]
    optimizer_values: list[np.ndarray]
    step: int
    optimizer: weakref.ref[Any]


def put_back(model: Any, state: State, keep: list[Any]) -> None:
    """Assign a kept ``state`` to ``model``'s weights and optimizer variables, except those in
    ``keep`` (training thread, or idle). Refused, nothing assigned, when the model was compiled
    again since (another optimizer) or its variables changed."""
    weights, opt_values, step, optimizer = state
    _state.sync(model)
    shapes = [tuple(v.shape) for v in (*model.weights, *model.optimizer.variables)]
    current: Any = model.optimizer
    read_from = optimizer()  # None once that optimizer is gone: another one since
    if read_from is None or id(read_from) != id(current) or shapes != [tuple(a.shape) for a in (*weights, *opt_values)]:
        raise ValueError(
            f"The state kept at step {step} does not fit the model any more: it was compiled again since"
            " (another optimizer), or its variables changed."
        )
    for var, value in zip(model.weights, weights, strict=True):
        var.assign(value)
    kept = {id(v) for v in keep}
    for var, value in zip(current.variables, opt_values, strict=True):
        if id(var) not in kept:
            var.assign(value)


class NanGuard:
    """Copies of the model and optimizer state, taken in the training thread, and their restore.

    A copy is judged lazily, from the history (when the next copy is taken, or at a restore), so
    that the per-batch path of a fit does no work for it.

    Args:
        history: the :class:`~lrwidgets.core.TrainingHistory` the fit records its batch losses in.
        factor: a copy is confirmed when its trainable and optimizer values are finite and the
            median loss of its batch and the next ones (``JUDGED_BATCHES`` in all, as far as
            recorded; up to a raise of the rate, then with the batches before it:
            :func:`judged_losses`) is finite, at most ``factor`` times the fit's best so far before
            the copy's batch (the lowest median of a block of ``BEST_WINDOW`` (64) batch losses, or over the
            fit's first 63 steps of ``FIRST_WINDOW`` (5) in a row), and has not given back more
            than half of the fit's fall from its start (a collapse back to chance may sit within
            ``factor`` of the best).
        interval: seconds between two copies within an epoch; on jax a copy syncs the whole state,
            so copies are rationed. Each epoch's start gets one too, except in epochs of fewer than
            ``MIN_COPY_STEPS`` (32) steps, where copies would take more than ``COPY_SHARE`` (2%) of
            the time: there the first start 32 steps or more after the last copy gets one
            (:func:`start_copy_due`).
    """

    def __init__(self, history: TrainingHistory, factor: float = 4.0, interval: float = 2.0) -> None:
        self.history = history
        self.factor = factor
        self.interval = interval
        self._pending: State | None = None
        self._good: State | None = None
        #: for a rewind (:meth:`healthy_before`), when :attr:`keeps_more`: the healthy copy before
        #: the last one, and the fit's first copy, kept for the whole fit
        self._previous: State | None = None
        self._start: State | None = None
        self.keeps_more = False
        self._fits = 0
        #: the fit (its count) and the history's step count when the last state was put back (:meth:`rewound`)
        self.rewound_at: tuple[int, int] | None = None
        self._first = 0  # the fit's first step
        self._start_loss = math.nan  # the fit's loss at its start (_start_level)
        self._best = math.inf  # the lowest median of finite batch losses of steps [_first, _seen) (lowest_median)
        self._tail = np.empty(0)  # the finite losses before `_seen` after the last whole block
        self._blocks = 0  # whole blocks of BEST_WINDOW losses in the fit so far
        self._seen = 0
        #: the step of a copy whose values were not finite (the loss may stay finite: TensorFlow's relu
        #: maps NaN to 0), until the fit acts on it (:meth:`take_broken`)
        self.broken: int | None = None
        self._due = 0.0
        self.restored_start = False  #: the last restore put back the state the fit started from
        self._copied: tuple[float, int] | None = None  # this fit's last copy: its start (perf_counter), its step
        self._epoch_started: int | None = None  # the step of this fit's last epoch start
        self._costs: list[float] = []  # seconds the last copies took (no fit's first)

    def begin_fit(self) -> None:
        self._pending = self._good = self._previous = self._start = None
        self._fits += 1
        self._first = self._seen = self.history.num_steps
        self._best, self._start_loss = math.inf, math.nan
        self._tail = np.empty(0)
        self._blocks = 0
        self.broken = None
        self._due = 0.0
        self._copied = self._epoch_started = None

    @property
    def fits(self) -> int:
        """Fits begun so far (a state kept for a rewind belongs to one)."""
        return self._fits

    @property
    def restorable_step(self) -> int | None:
        """The step (0-based, in the history) of the last confirmed copy, as judged so far."""
        return None if self._good is None else self._good.step

    @property
    def next_at(self) -> float:
        """When (``time.perf_counter()``) the next copy within an epoch is due."""
        return self._due

    def wants_copy(self, epoch_start: bool, now: float | None = None) -> bool:
        """Whether to take a copy before this batch (cheap: a clock read, or none given ``now``): at an
        epoch's start as :func:`start_copy_due` says; else every ``interval`` s."""
        now = time.perf_counter() if now is None else now
        if not epoch_start:
            return now >= self._due
        step, started = self.history.num_steps, self._epoch_started
        self._epoch_started = step
        if self._copied is None:
            return True
        since, copied = self._copied
        return start_copy_due(None if started is None else step - started, step - copied, now - since, self._costs)

    def take(self, model: Any, step: int) -> bool:
        """Copy the weights and optimizer state that batch ``step`` will use (training thread); False
        when they are not finite (the copy is not kept: :attr:`broken`)."""
        start = time.perf_counter()
        _state.sync(model)
        optimizer = model.optimizer
        if not getattr(optimizer, "built", True) and getattr(model, "built", False) and model.trainable_variables:
            # Keras builds it at the first batch on tensorflow (at the fit's start elsewhere): a copy
            # without its slots could not be put back. Built here as Keras's own `_symbolic_build`
            # builds it, with the model's trainable variables (none yet in a subclassed model that
            # builds at its first call: left to Keras, which would refuse the ones it then makes).
            optimizer.build(model.trainable_variables)
        state = State(_values(model.weights), _values(optimizer.variables), step, weakref.ref(optimizer))
        self._due = time.perf_counter() + self.interval
        trained = [v for v, var in zip(state.weights, model.weights, strict=True) if var.trainable]
        finite = _finite(trained + state.optimizer_values)  # not the other weights: a layer may keep an inf there
        self._judge(broken=not finite)
        if self._copied is not None:  # a fit's first copy builds TensorFlow's optimizer: not a copy's time
            self._costs = [*self._costs[-4:], time.perf_counter() - start]
        self._copied = (start, step)
        if finite:
            self._pending = state
            return True
        if self.broken is None:
            self.broken = step
        return False

    def take_broken(self) -> int | None:
        """The step of a copy found not finite since the last call (training thread), or None."""
        step, self.broken = self.broken, None
        return step

    def broken_at_end(self, model: Any) -> bool:
        """Whether a copy was found not finite, or the model's trainable weights or optimizer state
        are not finite as the fit ends (gone NaN under a finite loss after the last copy: then
        :attr:`broken` is the fit's last step)."""
        if self.broken is None:
            _state.sync(model)
            # Read as the copies are (on the host): reduced by the backend, each new shape would cost
            # jax a compile (0.6 s at a first fit's end for a 3-layer MLP, against 1 ms here).
            if not _finite(_values([*model.trainable_weights, *model.optimizer.variables])):
                self._judge(broken=True)
                self.broken = self.history.num_steps - 1
        return self.broken is not None

    def _judge(self, broken: bool = False) -> None:
        """Confirm the pending copy if the batch it was taken for is recorded and was healthy.

        ``broken``: the state after it was found not finite, so the batches after the copy's own may
        be a broken model's finite garbage (TensorFlow's relu maps NaN to 0): judged on its own
        batch alone. With BatchNormalization 8 of such a copy's 16 batches were, and the restore
        went back to the fit's first weights, a whole epoch before the healthy copy."""
        pending = self._pending
        n = self.history.num_steps
        if pending is None or pending.step >= n:
            return
        losses = self.history.column("loss", n)
        # A batch that returned no loss is a NaN row: the next batch with a loss judges the copy
        # (a real NaN loss ends the fit: no row follows it, and the copy stays unconfirmed).
        found = np.flatnonzero(~np.isnan(losses[pending.step :]))
        if not found.size:
            return
        self._pending = None
        step = pending.step + int(found[0])
        if step > self._seen:  # the best over the steps recorded since the last look, before this one
            earlier = losses[self._seen : step]
            self._best, self._tail, self._blocks = lowest_median(
                self._best, self._tail, self._blocks, earlier[np.isfinite(earlier)]
            )
            self._seen = step
        rewound = self.rewound_at
        floor = max(self._first, rewound[1]) if rewound is not None and rewound[0] == self._fits else self._first
        judged, upto = (
            (losses[step : step + 1], None)
            if broken
            else judged_losses(losses, self.history.column("learning_rate", n), pending.step, step, floor)
        )
        # The copy's batch's own loss must be finite; the later ones that are not broke after it.
        own = math.isfinite(float(losses[step])) or (upto is not None and not len(upto))
        loss = float(np.median(judged[np.isfinite(judged)])) if own and np.isfinite(judged).any() else math.inf
        if upto is not None and len(upto):  # the batches before it fill in: its own up to the raise pass too
            loss = max(loss, float(np.median(upto[np.isfinite(upto)])) if np.isfinite(upto).any() else math.inf)
        best, start = self._best, self._start_level(losses)
        # Gave back more than half of the fit's fall from its start: a collapse (a digits model blown up
        # back to chance, 2.5 against a best of 0.70) may sit within `factor` of the best.
        collapsed = start > 2 * best > 0 and loss > best + 0.5 * (start - best)
        if math.isfinite(loss) and not collapsed and (not math.isfinite(best) or loss <= self.factor * max(best, 0.0)):
            if self.keeps_more:
                self._previous = self._good
                if pending.step == self._first:
                    self._start = pending
            self._good = pending

    def _start_level(self, losses: np.ndarray) -> float:
        """The fit's loss at its start: the median of its first ``JUDGED_BATCHES`` finite batch losses
        (NaN until there are as many; kept once known)."""
        if math.isnan(self._start_loss):
            first = losses[self._first : self._first + 2 * JUDGED_BATCHES]
            first = first[np.isfinite(first)][:JUDGED_BATCHES]
            self._start_loss = float(np.median(first)) if len(first) == JUDGED_BATCHES else math.nan
        return self._start_loss

    def restore(self, model: Any, keep: list[Any]) -> int | None:
        """Put back the last confirmed copy, except the variables in ``keep``; its step, or None.

        With none confirmed (the fit's first batch already broke), the copy taken before that batch
        is the state the fit started from: it is put back when it is finite (:attr:`restored_start`
        says so), as a fit that did nothing."""
        self._judge()
        self.restored_start = False
        good = self._good
        if good is None:
            pending = self._pending
            if pending is None or pending.step != self._first:
                return None
            good, self.restored_start = pending, True  # finite: `take` keeps no other
        put_back(model, good, keep)
        return good.step

    def healthy_before(self, step: int) -> State | None:
        """The latest copy judged healthy whose batch came before history step ``step`` (confirmed:
        see the class docstring), or None (training thread).

        Looked for in the last healthy copy, the one before it and the fit's first copy (the last
        two only while :attr:`keeps_more`, set by a session's diagnosis: each is a full copy of
        the weights and optimizer state). A copy taken after a blow-up may be judged healthy by
        that rule (losses back under ``factor`` x the best) and replace the last one before it."""
        self._judge()
        kept = [c for c in (self._good, self._previous, self._start) if c is not None and c.step < step]
        return max(kept, key=lambda c: c.step) if kept else None

    def rewound(self, state: State) -> None:
        """``state`` was put back (training thread, or idle): it is the last healthy copy, and none
        taken since on the trajectory left is judged or kept."""
        self._pending = None
        self._good = state
        self.rewound_at = (self._fits, self.history.num_steps)
        self._previous = None if self._previous is None or self._previous.step >= state.step else self._previous
