"""The Keras callbacks through which a :class:`~lrwidgets.training.TrainingController` acts.

``ControllerCallback`` goes first in the fit's callback list, so every batch is recorded even
when a later callback fails; ``RateReader`` goes last, so the rate recorded for a step is the
one the step runs with, after every other callback (``LearningRateScheduler``, a warm-up) had
its say. Both run in the training thread. The hot path (a batch with nothing to do) reads the
loss, appends one raw row and compares two values; the recorder makes the history's rows from
the raw ones in bulk, when they are read.
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any

import keras

from lrwidgets.training import _state, _step_logs, callback_list, rate_writer
from lrwidgets.training.callback_list import BATCH_ENDS, BATCH_STARTS, acts_at_batches, overrides
from lrwidgets.training.pause import wait_while_paused
from lrwidgets.training.rate_reader import RateReader
from lrwidgets.training.validation_cut import ValidationCut

if TYPE_CHECKING:
    from lrwidgets.training.controller import TrainingController


_clock = time.perf_counter  # the recorder's clock
_isfinite = math.isfinite


def _nothing(batch: int, logs: dict[str, Any] | None = None) -> None: ...  # a light fit's batch start


class StoppedBeforeStart(Exception):
    """Raised at a session fit's start when Stop came first: the fit ends with no batch run."""


class ControllerCallback(keras.callbacks.Callback):
    """First in the list: requests, the schedule's rate, records, pause and stop (``dash.callback``).

    A fit is *light* when no schedule drives it and no other callback acts at an epoch's start or
    at a batch's start or end (a dashboard's common fit): then nothing is done at a batch's start,
    and what would be (the requests, the NaN guard's copy) is done at the end of the batch before,
    between the same two batches; the requests that arrive during validation are carried out at
    the next epoch's start. Otherwise each batch's start carries out the requests, sets the
    schedule's rate, and (the rate reader, last) reads the rate and takes the copies. In either,
    a Stop asked during an epoch that validates ends the pass at its next batch (``ValidationCut``).
    """

    def __init__(self, controller: TrainingController) -> None:
        super().__init__()
        self._controller = controller
        self.reader = RateReader(controller)
        #: the fit's other callbacks, whether the reader is in the list (set by the session, or by
        #: callback_list.join), and the Keras list of a fit called directly
        self.others: list[Any] = []
        self.reader_attached = False
        self.callback_list: Any = None
        self._read_each_batch = False
        self._read_after_batches = False
        self._steps_at_start: int | None = None
        self._rows = controller.recorder.rows  # the per-batch path appends here (never replaced)
        self._key: str | None = None  # the log key recorded as the loss, once chosen
        self._next = 0.0  # when (the recorder's clock) a batch's end must look further
        self._first_batch = True  # a fit's first batch end: checks made once the step has run
        self._light = False
        self._callback_mode = False
        #: a plateau reduction made at an epoch's end: recorded when the next epoch begins (a
        #: callback after this one, such as EarlyStopping, may end the fit there: then it never applies)
        self._reduction: tuple[float, str] | None = None
        self.validation_cut = ValidationCut()

    @property
    def light(self) -> bool:
        """Whether the current (or last) fit runs the light way (nothing at a batch's start)."""
        return self._light

    def _set_light(self, light: bool) -> None:
        self._light = light
        if light:  # an instance attribute: what Keras calls at each batch's start
            self.__dict__["on_train_batch_begin"] = _nothing
        else:
            self.__dict__.pop("on_train_batch_begin", None)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        c = self._controller
        model = self._model
        stale = c._fit_frame
        if stale is not None and stale.thread is threading.current_thread():
            c._end_abandoned(stale)  # a new fit in the thread of one that raised: that one is over
        self._callback_mode = c._state == "idle"  # `callbacks=[...callback]` in a fit called directly
        stop_first = c._stop_requested and c._state == "stopping"  # a session's fit, stopped in Keras's set-up
        # Looked up at each fit (re-compiles); first: a fit refused here changes nothing.
        found = callback_list.find(self, model, c.model) if self._callback_mode else None
        optimizer, variable = _state.steerable_optimizer(model)
        c.begin_fit_frame(callers=c.state == "idle")  # callback mode: the fit runs in the caller's thread
        if not stop_first:
            c._state = "running"
        if optimizer is not c._optimizer:
            if c._optimizer is not None:
                lr = _state.read_variable(model, variable)
                c.recorder.rate_event(  # idle: the fit about to begin runs with it (not the last one)
                    lr,
                    f"the model was re-compiled: new optimizer {type(optimizer).__name__}, rate {lr:.3g}",
                    "compile",
                    idle=True,
                )
            c._optimizer = optimizer
            c._writer = rate_writer.LearningRateWriter(variable)
        assert c._writer is not None
        lr = _state.read_variable(model, variable)
        c._lr = c._lr if _state.held(variable, c._lr) == lr else lr  # as set, where the variable holds it rounded
        c._multipliers = _state.current_multipliers(model)
        c._writer.begin(model)
        self._steps_at_start = _state.optimizer_steps(model, optimizer)
        c.recorder.loss_floor = _step_logs.loss_floor(model)
        c.recorder.averaged_keys = _step_logs.averaged_keys(model)
        data = c.fit_data  # read from Keras's fit: without steps_per_epoch each epoch reads the data to its end
        c.recorder.begin_fit(self.params or {}, data is not None and data.get("steps_per_epoch") is None)
        if stop_first:  # after the fit's records begin: the progress shows a fit of no step
            raise StoppedBeforeStart("stopped before the fit's first batch")
        self._key = c.recorder.key
        self._next = 0.0  # the first batch's end comes between batches
        self._first_batch = True
        self._reduction = None
        if self._callback_mode:  # set by the session's fit, else from the list of the fit called
            callback_list.join(self, found)
        self.validation_cut.begin_fit(not self._callback_mode or callback_list.first(self), self.others)
        self._set_light(not c.driver.active and not acts_at_batches(self.others))
        # Another callback that acts at a batch's start or end may set the rate the next batch runs
        # with: it is read before that batch (after the others' starts; before the schedule's write).
        self._read_each_batch = any(overrides(cb, h) for cb in self.others for h in BATCH_STARTS)
        self._read_after_batches = any(overrides(cb, h) for cb in self.others for h in BATCH_ENDS)
        if self._read_each_batch or self._read_after_batches:  # read when assigned (till the fit's end)
            self.reader.assigns.watch(variable, model.optimizer)
        self.reader.set_model(model)
        c._notify()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        c = self._controller
        self.record_reduction()  # at the last epoch's last step, as made
        c.recorder.begin_epoch(epoch)
        _state.hold_state(self._model)
        if not self.reader_attached:
            self.reader.on_epoch_begin(epoch)
        if self._light:  # what the first batch's start would do
            if c.has_requests():
                self.apply_requests(self._model)
            self.copy_if_due(epoch_start=True)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        c = self._controller
        if self._read_after_batches:  # a change made at the last batch's end, before a schedule's write
            self.reader.check_rate(batch=True)
        if not self.reader_attached:
            self.reader.on_train_batch_begin(batch)
        if c.has_requests() and self.apply_requests(self._model):
            return
        rate = c.driver.rate(c.recorder.step_before_batch()) if c.driver.active else None
        if rate is not None:
            self.write_rate(self._model, rate)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # The hot path: one raw row; the rest only when a request, a round or a bad loss asks.
        c = self._controller
        try:
            value: float | None = float(logs[self._key])  # type: ignore[index]
        except Exception:  # the fit's first batch (the key is chosen), or no value (a gap)
            value = c.recorder.monitored_value(logs)
            self._key = c.recorder.key
        t = _clock()
        self._rows.append((batch, value, c._lr, t))
        if c._attention or t >= self._next or (value is not None and not _isfinite(value)):
            self._between_batches(value, t)

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.validation_cut.begin_pass(self._controller._stop_requested)

    def on_test_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        c = self._controller
        if c._pause_requested and not c._stop_requested:
            self.wait_while_paused(self._model, validating=True)
        self.validation_cut.before_batch(self._model, batch, c._stop_requested and not c.recorder.stopped_by_nan)

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.validation_cut.after_batch(self._model)

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        self.validation_cut.end_pass(logs)

    def _between_batches(self, value: float | None, now: float) -> None:
        c = self._controller
        model = self._model
        if self._first_batch:
            self._first_batch = False
            c.recorder.check_running_mean(model)
        nan = value is not None and not math.isfinite(value)
        if nan or c.recorder.guard.broken is not None:  # a copy not finite (copy_if_due): as a NaN loss
            c.request_stop()
            c.recorder.nan(model, c._lr, _state.steered_variables(model), weights_only=not nan)
        due = now >= self._next
        if due and c.listeners.due(now):
            c._notify()
        if c._attention:  # after the views: a change made from one is used by the next batch
            c._attention = False  # first: a request that arrives from here on sets it again
            if self._light and c.has_requests():
                self.apply_requests(model)
            if c._pause_requested and not c._stop_requested:
                self.wait_while_paused(model)
                if self._light and c.has_requests():  # made just before the resume
                    self.apply_requests(model)
            if c._stop_requested:
                model.stop_training = True
                c._attention = True  # until the fit ends
        if due:
            if self._light:
                self.copy_if_due(epoch_start=False, now=now)  # after the requests: what the next batch uses
            copies = self._light and c.recorder.on_nan == "restore"
            self._next = min(c.listeners.next_at, c.recorder.guard.next_at if copies else math.inf)

    def record_reduction(self) -> None:
        """Record the plateau reduction made at the last epoch's end, now that the fit goes on
        (the next epoch begins), at the fit's end (the rate it leaves), or before a change made
        after it (the training thread)."""
        c = self._controller
        if self._reduction is not None and c._state != "idle":
            (factor, monitor), self._reduction = self._reduction, None
            lr = c._lr * factor
            c.recorder.rate_event(
                lr, f"reduced on plateau: `{monitor}` stopped improving; {lr:.3g} from here on", "plateau"
            )

    def copy_if_due(self, epoch_start: bool, now: float | None = None) -> None:
        """The NaN guard's copy of the weights the next batch uses, when one is due (training thread:
        at a light fit's batch ends and epoch starts, else the rate reader's batch starts)."""
        c, guard = self._controller, self._controller.recorder.guard
        due = c.recorder.on_nan == "restore" and not c._stop_requested and guard.wants_copy(epoch_start, now)
        if due and not guard.take(self._model, c.history.num_steps):  # not finite: at the next batch's end
            c._attention = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        c = self._controller
        c._writer.settle(self._model)  # type: ignore[union-attr]  # a rate written since the last step ran
        logs = logs if logs is not None else {}
        note = self.validation_cut.end_epoch(epoch, logs)  # before any later callback reads the logs
        # Keras's History then records the rate in effect, as keras.callbacks.ReduceLROnPlateau does.
        logs.setdefault("learning_rate", c._lr)
        if note is not None:  # a cut pass: recorded here as an epoch that did not validate
            c.recorder.stop_note += note
        row = logs if note is None else {k: v for k, v in logs.items() if not k.startswith("val_")}
        c.recorder.history.record_epoch(epoch, row)
        # One at the last epoch's end is written at the fit's end, as Keras's ReduceLROnPlateau's is.
        if not c._stop_requested:
            step = c.driver.end_epoch(logs, c._lr, epoch)
            if step.warning:
                c.recorder.event("warning", step.warning)
            if step.factor != 1.0:
                self._reduction = (step.factor, step.monitor)
        if c._stop_requested:
            self._model.stop_training = True
        # Throttled like the batches: with short epochs an update per epoch would flood the browser.
        c.end_epoch(self._model, epoch, row)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        c = self._controller
        self.validation_cut.end_fit(logs)
        c.recorder.check_state_at_end(self._model, c._lr, _state.steered_variables(self._model))
        c.history.end_fit()  # its last step ran: a change recorded from here applies from the next fit
        self.reader.check_rate()  # a change another callback made at the last epoch's end, then the plateau's
        if self._reduction is not None:  # made at the last epoch's end: the rate the next fit starts at
            lr = c._lr * self._reduction[0]
            self.record_reduction()
            self.write_rate(self._model, lr)
        batches = c.fit_step
        # keras.io's GANs compile with no optimizer (Keras adds an unused RMSprop) and step their own. A state
        # put back (a rewind) puts its step count back too: judged only if a batch ran after it.
        watched = self._steps_at_start is not None and batches and not c.recorder.stopped_by_nan
        watched = watched and c.recorder.guard.rewound_at != (c.recorder.guard.fits, c.history.num_steps)
        if watched and _state.optimizer_steps(self._model, c._optimizer) == self._steps_at_start:
            c.recorder.idle_optimizer(self._model, c._optimizer, batches)
        if self._callback_mode:  # a session's fit is finished by its thread, after every callback's end
            callback_list.leave(self)
            c.end_callback_fit(logs)

    def write_rate(self, model: Any, lr: float) -> None:
        c = self._controller
        if lr != c._lr:
            assert c._writer is not None
            c._writer.write(model, lr)
            c._lr, self.reader.assigns.assigned = lr, False  # its own write is no other's change

    def write_idle(self, lr: float, source: str) -> None:
        """Set the rate while no fit runs: on the model's current optimizer (it may be re-compiled)."""
        c = self._controller
        c._lr_request = None
        _, variable = _state.steerable_optimizer(c.model)
        if _state.held(variable, _state.read_variable(c.model, variable)) == _state.held(variable, lr):
            c._lr = lr
            return  # the rate in effect already: nothing changes, nothing is recorded
        variable.assign(lr)
        c._lr = lr
        c.standing_driver.set_rate(0, lr)  # a schedule set for the fits to come starts the next at `lr`
        c.recorder.rate_event(lr, f"learning rate set to {lr:.3g} ({source})", source, idle=True)

    def apply_multipliers(self, model: Any) -> None:
        c = self._controller
        changes, asked = c.take_multipliers()
        if not changes:
            return
        c._multipliers = _state.write_multipliers(model, changes)  # the others as they are now, whoever set them
        for source, theirs in asked.items():  # one event for each who asked
            described = ", ".join(f"{n} x{m:g}" for n, m in theirs.items())
            fit = None if c.running else c.history.num_fits  # idle: for the next fit's first step
            c.recorder.event(
                "action", f"layer learning rates: {described}", step=c.history.num_steps, source=source, fit=fit
            )

    def apply_requests(self, model: Any) -> bool:
        """Carry out queued requests (training thread, or idle); True if the rate was set."""
        c = self._controller
        self.record_reduction()  # made before them
        self.run_actions(model)
        if c._multiplier_sources:
            self.apply_multipliers(model)
        if not c.running:
            request, c._lr_request = c._lr_request, None
            if request is not None:
                self.write_idle(*request)
            replaced, c._schedule_request = c._schedule_request, None
            if replaced is not None:
                try:
                    c.replace_idle(replaced[0])
                except Exception as e:
                    c.recorder.event("error", f"schedule edit refused: {e}")
            return False
        step = c.fit_step
        replaced, c._schedule_request = c._schedule_request, None
        if replaced is not None:
            try:
                lr = c.driver.replace(step, replaced[0])
            except Exception as e:
                c.recorder.event("error", f"schedule edit refused: {e}")
            else:
                if self._light:  # a schedule drives the rest of the fit: set at each batch's start
                    c.recorder.flush()  # (`step_before_batch` checks the rows from here on)
                    self._set_light(False)
                self.write_rate(model, lr)
                c.recorder.rate_event(lr, f"schedule edited: {lr:.3g} from here on ({replaced[1]})", replaced[1])
        request, c._lr_request = c._lr_request, None
        if request is None:
            return replaced is not None
        lr, source = request
        if not c.driver.set_rate(step, lr):  # asked just as a frozen phase began: refused, not undone
            c.recorder.event(
                "error", f"learning rate {lr:.3g} refused at step {step}: the schedule holds it at 0 there"
            )
            return replaced is not None
        if _state.held(c._writer.variable, lr) != _state.held(c._writer.variable, c._lr):  # type: ignore[union-attr]
            self.write_rate(model, lr)
            c.recorder.rate_event(lr, f"learning rate set to {lr:.3g} ({source})", source)
        return True

    def run_actions(self, model: Any, validating: bool = False) -> None:
        """Carry out the queued actions on the model (a save, a restore), each on live variables;
        a rate one of them set is then recorded (an ``action`` change). In a validation pass
        (``validating``), not those that go with a rate (a rewind): they wait for it, for the
        next training batch, so that the pass's results are of one state."""
        c = self._controller
        queues = (c._actions,) if validating else (c._actions, c._batch_actions)
        ran = any(queues)
        if ran and c.running:
            self.reader.check_rate()  # first: one another callback set before them is theirs
        for queue in queues:
            while queue:
                action, description = queue.popleft()
                _state.sync(model)
                try:
                    action(model)
                except Exception as e:
                    c.recorder.event("error", f"{description or 'change'} failed: {type(e).__name__}: {e}")
                else:
                    if description:
                        c.recorder.event("action", description, step=c.history.num_steps)
        if ran and c.running:
            self.reader.check_rate("an action (`submit`)", "action")

    def wait_while_paused(self, model: Any, validating: bool = False) -> None:
        """See :func:`lrwidgets.training.pause.wait_while_paused`."""
        wait_while_paused(self, model, validating)
