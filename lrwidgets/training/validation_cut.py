"""Stop during a fit that validates: the epoch's validation pass ends early, and says so.

Keras runs an epoch's validation pass in full even when the fit was told to stop during its
training, and a Stop asked during the pass waits for its end: on a large validation set, minutes.
Keras's trainers end a pass after any batch at whose end ``model.stop_evaluating`` is set: the
session's callback sets it at the next validation batch's start. The pass's results, then of
part of it, are set to NaN before any later callback sees them (at the pass's end, the epoch's
end and the fit's end), and the stop event says so.

A callback that compares a ``val_`` result from epoch to epoch (:func:`watches_validation`) would
take a NaN for its first best, or for an epoch that did not improve (and may then restore earlier
weights, or cut the rate); without the key, a checkpoint's file name that reads ``{val_loss}``
fails. With one in the fit, the pass is not cut: it runs in full, as Keras runs it. The session's
own history records a cut epoch without its ``val_`` results (``epoch_logs`` reads NaN there), so
that a replay of the run (the designer's ``ReduceOnPlateau``) skips the epoch as one that did not
validate.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from lrwidgets.training._state import batches_per_row


def watches_validation(callback: Any) -> bool:
    """Whether ``callback`` compares a ``val_`` result from epoch to epoch: Keras's ``EarlyStopping``
    and ``ReduceLROnPlateau`` (on ``val_loss`` by default), ``ModelCheckpoint(save_best_only=True)``,
    and any other callback with a ``monitor`` attribute naming a ``val_`` key. A ``ModelCheckpoint``
    that saves every epoch compares nothing (its file name formats a NaN)."""
    monitor = getattr(callback, "monitor", None)
    if isinstance(callback, keras.callbacks.ModelCheckpoint) and not callback.save_best_only:
        return False
    return isinstance(monitor, str) and monitor.startswith("val_")


def _to_nan(logs: dict[str, Any] | None, prefix: str = "") -> None:
    if logs is not None:
        for key in logs:
            if key.startswith(prefix):
                logs[key] = math.nan


class ValidationCut:
    """One session callback's cut of a validation pass (training thread).

    It cuts only where :meth:`begin_fit` allows: the session's callback must come before every
    other callback in Keras's list (one before it would see the part results), and none of them
    may watch a ``val_`` result (:func:`watches_validation`). A NaN stop does not cut: the weights
    put back are validated in full.
    """

    def __init__(self) -> None:
        self.cuts = False
        self._asked_in_training = False
        self._cut: str | None = None  #: where Stop was asked ("training", "validation") once a pass was cut
        self._last_epoch_cut = False
        #: the batch count of this fit's last whole pass, for data whose length Keras does not know
        #: (a generator, a filtered ``tf.data`` set): a Stop at that pass's last batch cuts nothing
        self._whole_pass: int | None = None
        self._batches = 0
        #: a cut asked at a batch's start, made only once that batch has run: jax's and tensorflow's
        #: trainers start one batch more after the last of data of unknown length, and find none
        self._pending: str | None = None

    def begin_fit(self, first: bool, others: list[Any]) -> None:
        # (a fit that raised after a cut leaves none for the next)
        self.cuts = first and not any(watches_validation(cb) for cb in others)
        self._cut, self._last_epoch_cut = None, False
        self._whole_pass = None

    def begin_pass(self, stop_requested: bool) -> None:
        self._asked_in_training = stop_requested
        self._batches = 0
        self._pending = None

    def before_batch(self, model: Any, batch: int, stop_requested: bool) -> None:
        """At a validation batch's start: end the pass after this batch when Stop was asked (and
        this is not its last batch anyway: Keras knows how many it has, or, for data of unknown
        length, this fit's last whole pass had as many; a pass longer than that is cut)."""
        if not stop_requested or self._cut is not None or self._pending is not None or not self.cuts:
            return
        # Keras resets its iterator before each pass: for data of unknown length `num_batches` is
        # None during the pass (the count it sets when the data run out includes jax's extra start).
        total = getattr(getattr(model, "_eval_epoch_iterator", None), "num_batches", None)
        total = total if isinstance(total, int) else self._whole_pass
        if total is not None and batch < total <= batch + batches_per_row(model):
            return  # the pass's last batch: its results are whole
        model.stop_evaluating = True
        self._pending = "training" if self._asked_in_training else "validation"

    def after_batch(self, model: Any) -> None:
        """At a validation batch's end (``on_test_batch_end``): the batches are counted here, not
        at their starts, and a cut asked at this batch's start is made (the batch ran; with no
        batch after the start, the pass had ended: whole)."""
        self._batches += batches_per_row(model)
        if self._pending is not None:
            self._cut, self._pending = self._pending, None

    def end_pass(self, logs: dict[str, Any] | None) -> None:
        """The pass's end (``on_test_end``, the session's callback first): a cut pass's logs to NaN."""
        self._pending = None
        if self._cut is not None:
            _to_nan(logs)
        else:
            self._whole_pass = self._batches

    def end_epoch(self, epoch: int, logs: dict[str, Any]) -> str | None:
        """The epoch's end: its ``val_`` logs set to NaN after a cut; the stop event's note, or None
        when the pass was not cut."""
        cut, self._cut = self._cut, None
        self._last_epoch_cut = cut is not None
        if cut is None:
            return None
        _to_nan(logs, "val_")
        if cut == "validation":
            return f" during epoch {epoch}'s validation, cut short (`val_` results NaN)"
        return f" during epoch {epoch}'s training; its validation was cut short (`val_` results NaN)"

    def end_fit(self, logs: dict[str, Any] | None) -> None:
        """The fit's end (``on_train_end``: Keras passes the last epoch's logs again, as it made them)."""
        if self._last_epoch_cut:
            _to_nan(logs, "val_")
        self._last_epoch_cut = False
