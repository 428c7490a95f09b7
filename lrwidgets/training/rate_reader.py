"""The rate reader: last in a fit's callback list, it reads the rate after every other callback."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import keras

from lrwidgets.training import _state

if TYPE_CHECKING:
    from lrwidgets.training.controller import TrainingController


_ASSIGNS = ("assign", "assign_add", "assign_sub")


class RateReader(keras.callbacks.Callback):
    """Last in the list: reads the rate after every other callback, and takes the NaN guard's copies.

    At each epoch's start (where ``LearningRateScheduler`` acts), and before each batch when another
    callback acts there, the rate the optimizer holds is read; a change the controller did not make
    is recorded as made by another callback, and the rest of the schedule is scaled by as much.

    A callback that changes the rate at each batch (a warm-up, a one-cycle policy written as a
    callback) makes a run of changes at consecutive steps: its first is an event, the rest are one
    event when the run ends (the rate's curve has each step's rate). One event a step would bury
    every other event and cost a fit about a tenth of its time.

    Before a batch the rate is read only when its variable was assigned since the last read
    (:meth:`watch`): Keras's callbacks and the ways of setting a rate (``optimizer.learning_rate =``,
    ``optimizer.learning_rate.assign``) go through the variable's ``assign``. A read costs ~50 us a
    batch on TensorFlow (a device-to-host copy on any backend). A change that bypasses it (the
    backend's own variable under ``variable.value``, or a change made inside the train step) is read
    at the next epoch's start.
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
        #: the variable whose assignments are watched, with what its instance held under those names before
        self._watched: tuple[Any, dict[str, Any]] | None = None
        self.assigned = True  # the rate variable was assigned since the last read (:meth:`watch`)

    def watch(self, variable: Any) -> None:
        """Mark :attr:`assigned` whenever ``variable`` is assigned, until :meth:`unwatch` (a fit's start, in
        a fit where the rate is checked before each batch)."""
        self.unwatch()
        prior = {name: variable.__dict__.get(name) for name in _ASSIGNS}

        def marking(name: str) -> Any:
            method = prior[name] or getattr(type(variable), name).__get__(variable)

            def assign(*args: Any, **kwargs: Any) -> Any:
                self.assigned = True
                return method(*args, **kwargs)

            return assign

        for name in _ASSIGNS:
            variable.__dict__[name] = marking(name)
        self._watched, self.assigned = (variable, prior), True

    def unwatch(self) -> None:
        """Leave the watched variable's ``assign`` as it was (a fit's end)."""
        watched, self._watched = self._watched, None
        if watched is not None:
            variable, prior = watched
            for name, method in prior.items():
                if method is None:
                    variable.__dict__.pop(name, None)
                else:
                    variable.__dict__[name] = method

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
        Before a ``batch``, a watched variable not assigned since the last read is not read."""
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
        if (batch and not self.assigned and self._watched is not None) or not _state.variables_live(self._model):
            lr = c._lr
        else:
            self.assigned = False  # first: an assignment from here on is read next time
            lr = _state.read_variable(self._model, writer.variable)
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
