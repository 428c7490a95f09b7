"""The rate reader: last in a fit's callback list, it reads the rate after every other callback."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import keras

from lrwidgets.training import _state
from lrwidgets.training.assign_watch import AssignWatch

if TYPE_CHECKING:
    from lrwidgets.training.controller import TrainingController


class RateReader(keras.callbacks.Callback):
    """Last in the list: reads the rate after every other callback, and takes the NaN guard's copies.

    At each epoch's start (where ``LearningRateScheduler`` acts), and before each batch when another
    callback acts there, the rate the optimizer holds is read; a change the controller did not make
    is recorded as made by another callback, and the rest of the schedule is scaled by as much.

    A callback that changes the rate at each batch (a warm-up, a one-cycle policy written as a
    callback) makes a run of changes at consecutive steps: its first is an event, the rest are one
    event when the run ends (the rate's curve has each step's rate). One event a step would bury
    every other event and cost a fit about a tenth of its time.

    Before a batch, in a fit no schedule drives, the rate is read only when its variable was assigned
    through Keras since the last read (:class:`AssignWatch`: a read costs ~50 us a batch on TensorFlow);
    a change graph code writes (a ``tf.function``) is read at the next epoch's start. Under a schedule,
    whose next write would replace such a change unseen, it is read before each batch.
    """

    def __init__(self, controller: TrainingController) -> None:
        super().__init__()
        self._controller = controller
        self._epoch_start = False
        self._last_change: int | None = None  # the history's step another callback last changed the rate before
        #: another callback's changes at consecutive steps after the first, not yet an event:
        #: ``[first step, last step, the rate from the last, by whom]`` (the history's steps)
        self._run: list[Any] | None = None
        controller.recorder.before_rate_event = self.end_run
        self.assigns = AssignWatch()  # before a batch: the rate's variable assigned since the last read?

    def set_model(self, model: Any) -> None:  # at each fit's start
        super().set_model(model)
        self._last_change = self._run = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.check_rate()
        self._epoch_start = True

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        c = self._controller
        if c.callback._read_each_batch:
            self.check_rate(batch=True)
        c.callback.copy_if_due(self._epoch_start)
        self._epoch_start = False

    def check_rate(self, by: str = "another callback", source: str = "callback", batch: bool = False) -> None:
        """Record a rate set outside lrwidgets' requests (``by`` whom), used from the next batch on; a
        schedule's rest is scaled by as much (the event's value: the rate the next step runs with).
        Before a ``batch`` of a fit no schedule drives, a watched variable not assigned since the last read
        is not read."""
        c = self._controller
        writer = c._writer
        if writer is None or writer.pending is not None:
            return
        # On jax mid-epoch (the variables not live) no callback changed the rate the steps use since
        # the last step the way Keras's callbacks do: through `Callback.model`, which makes them live
        # (Keras syncs the state); a change to a variable held from before is not used (Keras's next
        # step takes its own state); one made inside a wrapped `train_function` is read at the
        # epoch's start. Not read then: a read is a device-to-host copy (~10 us a batch, ~8% of a
        # small model's step, in every fit with another callback acting at batches).
        assigns = self.assigns
        unread = batch and not assigns.assigned and assigns.watching and not c.driver.active
        if unread or not _state.variables_live(self._model):
            lr = c._lr
        else:
            asked = assigns.assigned
            assigns.assigned = False  # first: an assignment from here on is read next time
            lr = _state.read_variable(self._model, writer.variable)
            if asked:  # the rate as an assign set it, where the variable holds it rounded (16 bits)
                lr = assigns.take(writer.variable, lr, c._lr)
        if math.isclose(lr, c._lr, rel_tol=1e-6) or lr == _state.held(writer.variable, c._lr):
            # A step with no change ends a run (an epoch's start, read before its first batch's, does not).
            if self._run is not None and c.recorder.steps_recorded() > self._last_change + 1:  # type: ignore[operator]
                self.end_run()
            return
        # Relative, as Keras's callbacks set it (ReduceLROnPlateau: the last rate x factor): the
        # rest of the schedule is scaled by as much, its own drops kept (a staircase's too).
        c.driver.scale(lr / c._lr if c._lr > 0 else math.nan)
        try:
            used = c.driver.rate(c.recorder.step_before_batch())  # what the next step runs with
        except Exception:  # a schedule that fails there: the fit's write says so
            used = None
        value = lr if used is None else used
        c._lr = lr
        if source == "callback" and self._in_run(c.recorder.steps_recorded(), value, by):
            return
        if used is None or math.isclose(used, lr, rel_tol=1e-6):
            said = f"learning rate changed to {lr:.3g} by {by}"
        else:
            said = f"learning rate changed to {lr:.3g} by {by}; the schedule, scaled by as much: {used:.3g}"
        c.recorder.rate_event(value, said, source)

    def _in_run(self, step: int, value: float, by: str) -> bool:
        """Whether another callback's change before the history's ``step`` extends a run of changes
        at consecutive steps (then no event now: :meth:`end_run` makes one; a second change before
        the same step sets the rate the run ends at), else the run before ends."""
        run, last = self._run, self._last_change
        self._last_change = step
        if run is not None and step == last:
            run[2:] = [value, by]
            return True
        if last == step - 1:
            if run is None:
                self._run = [step, step, value, by]
            else:
                run[1:] = [step, value, by]
            return True
        self.end_run()
        return False

    def end_run(self) -> None:
        """Record the run of another callback's changes at consecutive steps, if one is open, as one
        event at its last step (a batch's start without a change, a fit's end, a change not next)."""
        run, self._run = self._run, None
        if run is None:
            return
        first, last, value, by = run
        changes = last - first + 1  # one a step
        c = self._controller
        more = f"at each of the {changes} steps from step {first}" if changes > 1 else "again at the next step"
        c.recorder.event(
            "learning_rate",
            f"learning rate changed by {by} {more}: {value:.3g} from there on"
            " (each step's rate is in the rate's curve)",
            value=value,
            source="callback",
            step=last,
        )
