"""The rate reader: last in a fit's callback list, it reads the rate after every other callback."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import keras

from lrwidgets.training import _state

if TYPE_CHECKING:
    from lrwidgets.training.controller import TrainingController


class RateReader(keras.callbacks.Callback):
    """Last in the list: reads the rate after every other callback, and takes the NaN guard's copies.

    At each epoch's start (where ``LearningRateScheduler`` acts), and before each batch when another
    callback acts there, the rate the optimizer holds is read; a change the controller did not make
    is recorded as made by another callback, and the rest of the schedule is scaled by as much.
    """

    def __init__(self, controller: TrainingController) -> None:
        super().__init__()
        self._controller = controller
        self._epoch_start = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.check_rate()
        self._epoch_start = True

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        c = self._controller
        if c.callback._read_each_batch:
            self.check_rate()
        c.callback.copy_if_due(self._epoch_start)
        self._epoch_start = False

    def check_rate(self, by: str = "another callback", source: str = "callback") -> None:
        """Record a rate set outside lrwidgets' requests (``by`` whom), used from the next batch on; a
        schedule's rest is scaled by as much (the event's value: the rate the next step runs with)."""
        c = self._controller
        writer = c._writer
        if writer is None or writer.pending is not None:
            return
        lr = _state.read_variable(self._model, writer.variable)
        if not math.isclose(lr, c._lr, rel_tol=1e-6):
            # Relative, as Keras's callbacks set it (ReduceLROnPlateau: the last rate x factor): the
            # rest of the schedule is scaled by as much, its own drops kept (a staircase's too).
            c.driver.scale(lr / c._lr if c._lr > 0 else math.nan)
            try:
                used = c.driver.rate(c.recorder.step_before_batch())  # what the next step runs with
            except Exception:  # a schedule that fails there: the fit's write says so
                used = None
            if used is None or math.isclose(used, lr, rel_tol=1e-6):
                said = f"learning rate changed to {lr:.3g} by {by}"
            else:
                said = f"learning rate changed to {lr:.3g} by {by}; the schedule, scaled by as much: {used:.3g}"
            c.recorder.rate_event(lr if used is None else used, said, source)
            c._lr = lr
