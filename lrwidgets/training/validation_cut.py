"""Stop during a fit that validates: the epoch's validation pass ends early, and says so.

Keras runs an epoch's validation pass in full even when the fit was told to stop during its
training, and a Stop asked during the pass waits for its end: on a large validation set, minutes.
Keras's trainers end a pass after any batch at whose end ``model.stop_evaluating`` is set: the
session's callback sets it at the next validation batch's start. The epoch's ``val_`` results,
then of part of the pass, are set to NaN before any later callback sees them (a
``ModelCheckpoint`` whose file name reads ``{val_loss}`` still finds the key; ``EarlyStopping``
counts the epoch as no improvement), and the stop event says so.
"""

from __future__ import annotations

import math
from typing import Any


class ValidationCut:
    """One session callback's cut of a validation pass (training thread).

    It cuts only where :meth:`begin_fit` allows (``cuts``): the session's callback must come before
    every other callback in Keras's list, or one before it would see the part pass's results.
    A NaN stop does not cut: the weights put back are validated in full.
    """

    def __init__(self) -> None:
        self.cuts = False
        self._asked_in_training = False
        self._cut: str | None = None  #: where Stop was asked ("training", "validation") once a pass was cut

    def begin_fit(self, cuts: bool) -> None:
        self.cuts, self._cut = cuts, None  # a fit that raised after a cut leaves none for the next

    def begin_pass(self, stop_requested: bool) -> None:
        self._asked_in_training = stop_requested

    def before_batch(self, model: Any, batch: int, stop_requested: bool) -> None:
        """At a validation batch's start: end the pass after this batch when Stop was asked (and
        this is not its last batch anyway, when Keras knows how many it has)."""
        if not stop_requested or self._cut is not None or not self.cuts:
            return
        total = getattr(getattr(model, "_eval_epoch_iterator", None), "num_batches", None)
        per_call = getattr(model, "steps_per_execution", 1)
        if isinstance(total, int) and isinstance(per_call, int) and batch + per_call >= total:
            return  # the pass's last batch: its results are whole
        model.stop_evaluating = True
        self._cut = "training" if self._asked_in_training else "validation"

    def end_epoch(self, epoch: int, logs: dict[str, Any]) -> str | None:
        """The epoch's end (the session's callback first): its ``val_`` logs set to NaN after a cut;
        the stop event's note, or None when the pass was not cut."""
        cut, self._cut = self._cut, None
        if cut is None:
            return None
        for key in logs:
            if key.startswith("val_"):
                logs[key] = math.nan
        if cut == "validation":
            return f" during epoch {epoch}'s validation, cut short (`val_` results NaN)"
        return f" during epoch {epoch}'s training; its validation was cut short (`val_` results NaN)"
