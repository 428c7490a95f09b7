"""The training controller: the only code that touches model and optimizer state during a fit.

Widgets and user code post requests (``set_learning_rate``, ``pause``, ``stop``, ``submit``); the
controller's Keras callback carries them out in the training thread, at batch boundaries. It
also records the true per-batch loss and every live change into a :class:`TrainingHistory`, and
calls its listeners, throttled, so that a view can redraw.
"""

from __future__ import annotations

import collections
import math
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from lrwidgets.core import BatchLossRecovery, DivergenceMonitor, TrainingHistory
from lrwidgets.schedules import Constant
from lrwidgets.schedules.table import ScheduleTable
from lrwidgets.training import _state
from lrwidgets.training._compat import is_multi_optimizer

Action = Callable[[Any], None]
Schedule = Callable[[int], float]

ON_NAN_CHOICES = ("restore", "stop")
RATE_WINDOW = 2.0  # seconds of recent steps over which the progress speed (and so the ETA) is measured


def check_learning_rate(value: Any, name: str = "learning_rate") -> float:
    """A positive finite float, or a Keras-style error naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"Argument `{name}` must be a number. Received: {name}={value!r}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"Argument `{name}` must be a positive finite number. Received: {name}={value!r}")
    return v


def check_model(model: Any) -> None:
    """The model must be a compiled Keras model whose optimizer has a float learning rate."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"Argument `model` must be a keras.Model. Received: model={type(model).__name__}")
    optimizer = getattr(model, "optimizer", None)
    if not getattr(model, "compiled", False) or optimizer is None:
        raise ValueError(
            "Argument `model` must be compiled with an optimizer before it is watched: call"
            " `model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=...)` first."
        )
    if is_multi_optimizer(optimizer):
        # Its own `_learning_rate` is an unused placeholder 0.0: steering it would change nothing.
        raise ValueError(
            "Argument `model` must be compiled with an optimizer that has one learning rate; a `MultiOptimizer`"
            " has none (each of its optimizers has its own). For different step sizes per layer with one rate to"
            " steer, use `lrw.LayerwiseOptimizer(keras.optimizers.Adam(1e-3), multipliers={...})`."
            f" Received: optimizer={type(optimizer).__name__}"
        )
    lr = getattr(optimizer, "_learning_rate", None)
    if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
        raise ValueError(
            f"The model's optimizer was built with a Keras schedule ({type(lr).__name__}); Keras makes its"
            " learning rate read-only, so it cannot be steered live or reduced on plateau. Build the optimizer"
            " with a float learning rate and give the schedule to lrwidgets instead:"
            " `dash.fit(..., schedule=lrw.schedules.ExponentialDecay(...))`."
        )
    if not isinstance(lr, keras.Variable):
        raise ValueError(
            f"The model's optimizer has a learning rate of type {type(lr).__name__}, which cannot be set."
            " Build the optimizer with a float learning rate."
        )


def _values(variables: list[Any]) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v.value) for v in variables]


@dataclass(frozen=True)
class Progress:
    """Where a run is, for display: all counts are 0-based except ``epochs`` and ``steps``.

    ``elapsed`` is the wall time of the current fit (of the last one when idle); the speeds are
    measured over its last few seconds.
    """

    state: str
    epoch: int
    epochs: int
    step_in_epoch: int
    steps: int | None
    global_step: int
    steps_per_second: float
    samples_per_second: float | None
    elapsed: float
    eta: float | None
    learning_rate: float


class ControllerCallback(keras.callbacks.Callback):
    """The Keras callback through which a :class:`TrainingController` acts (``dash.callback``)."""

    def __init__(self, controller: TrainingController) -> None:
        super().__init__()
        self._controller = controller

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._controller._on_train_begin(self._model, self.params or {})

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._controller._on_epoch_begin(self._model, epoch)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._controller._on_batch_begin(self._model, batch)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._controller._on_batch_end(self._model, batch, logs or {})

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._controller._on_epoch_end(self._model, epoch, logs if logs is not None else {})

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._controller._on_train_end(self._model)


class TrainingController:
    """Owns a compiled Keras model while it trains and applies live changes in the training thread.

    Args:
        model: a compiled ``keras.Model`` whose optimizer has a float learning rate.
        update_interval: minimum seconds between two listener calls while training (> 0).
        on_nan: ``"restore"`` (default) puts back the weights and optimizer state saved at the start
            of the epoch when the loss turns NaN or inf, then stops; ``"stop"`` only stops.
        divergence_factor: warn when the smoothed loss exceeds this multiple of its best value.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        >>> ctl = TrainingController(model)
        >>> ctl.set_learning_rate(0.05)      # idle: applied at once
        >>> _ = model.fit(np.ones((64, 4)), np.ones((64, 1)), epochs=1, verbose=0, callbacks=[ctl.callback])
        >>> ctl.history.num_steps, round(float(ctl.history.learning_rate[-1]), 4)
        (2, 0.05)
    """

    def __init__(
        self,
        model: Any,
        *,
        update_interval: float = 0.1,
        on_nan: str = "restore",
        divergence_factor: float = 4.0,
    ) -> None:
        check_model(model)
        if not isinstance(update_interval, (int, float)) or not update_interval > 0:
            raise ValueError(
                f"Argument `update_interval` must be a positive number of seconds. Received: {update_interval=}"
            )
        if on_nan not in ON_NAN_CHOICES:
            raise ValueError(f"Argument `on_nan` must be one of {ON_NAN_CHOICES}. Received: on_nan={on_nan!r}")
        self.model = model
        self.update_interval = float(update_interval)
        self.on_nan = on_nan
        self.divergence_factor = divergence_factor
        self.history = TrainingHistory()
        self.callback = ControllerCallback(self)
        self._listeners: list[Callable[[], None]] = []
        self._actions: collections.deque[tuple[Action, str]] = collections.deque()
        self._cond = threading.Condition()
        self._pause_requested = False
        self._stop_requested = False
        self._stopped_by_nan = False
        self._state = "idle"
        self._thread: threading.Thread | None = None
        self._lr_request: tuple[float, str] | None = None
        self._lr_var = _state.learning_rate_variable(model.optimizer)
        self._lr_writer = _state.LearningRateWriter(self._lr_var)
        self._lr = float(keras.ops.convert_to_numpy(self._lr_var.value))
        self._schedule: Schedule | None = None
        self._table: ScheduleTable | None = None  # the schedule, evaluated ahead: O(1) a step
        self._schedule_factor = 1.0
        self._schedule_request: tuple[Schedule, str] | None = None
        self._plateau: Any = None
        self._plateau_monitor = "val_loss"
        self._plateau_warned = False
        self._fit_step = 0
        self._t0: float | None = None  # origin of the recorded step times (all fits)
        self._fit_span: tuple[float, float | None] | None = None  # start and end of the last fit
        self._last_push = 0.0
        self._epoch = 0
        self._epochs = 0
        self._step_in_epoch = 0
        self._steps: int | None = None
        self._fit_first_record = 0
        self._recovery = BatchLossRecovery()
        self._monitor = DivergenceMonitor(factor=divergence_factor)
        self._snapshot: tuple[list[np.ndarray], list[np.ndarray], int] | None = None
        self.batch_size: int | None = None

    # ---- requests (any thread) ---------------------------------------------------------------
    @property
    def state(self) -> str:
        """``idle``, ``running``, ``paused`` or ``stopping``."""
        return self._state

    @property
    def pause_requested(self) -> bool:
        """True from ``pause()`` until ``resume()`` (the run may still be finishing its batch)."""
        return self._pause_requested

    @property
    def running(self) -> bool:
        return self._state != "idle"

    @property
    def learning_rate(self) -> float:
        """The learning rate in effect (or requested, if a change is pending)."""
        pending = self._lr_request
        return pending[0] if pending is not None else self._lr

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after changes; from the training thread while training. Keep it cheap."""
        self._listeners.append(listener)

    def submit(self, action: Action, description: str = "") -> None:
        """Run ``action(model)`` in the training thread before the next batch, or now when idle.

        With a ``description``, a success is recorded in the history as an ``action`` event (a
        failure always is, as an ``error``).
        """
        if not callable(action):
            raise TypeError(f"Argument `action` must be callable. Received: action={action!r}")
        with self._cond:
            if self.running and not self._in_training_thread():
                self._actions.append((action, description))
                self._cond.notify_all()
                return
        _state.sync(self.model)
        action(self.model)
        if description:
            self._event("action", description)
        self._notify()

    def _in_training_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def set_learning_rate(self, value: float, source: str = "user") -> None:
        """Set the learning rate; while training it takes effect at the next batch.

        With a schedule driving the run, the schedule is scaled so that its value now is ``value``
        and it carries on from there.
        """
        lr = check_learning_rate(value)
        with self._cond:
            if self.running and not self._in_training_thread():
                self._lr_request = (lr, source)
                self._cond.notify_all()
                return
        if self.running:  # from a callback, in the training thread: the next batch uses it
            self._lr_request = (lr, source)
            self._apply_requests(self.model)
            self._notify()
            return
        self._write_lr_idle(lr, source)

    def set_schedule(self, schedule: Schedule | None, plateau: Any = None) -> None:
        """Drive the learning rate from ``schedule(step)`` (step counted from 0 in each fit).

        ``plateau`` (an ``lrwidgets.schedules.ReduceOnPlateau``) reduces the rate on plateaus of
        its monitored value (``val_loss`` unless it names another) on top of the schedule: each
        reduction multiplies the rest of the schedule by its factor. A ``ReduceOnPlateau`` given
        as ``schedule`` drives a constant rate with such reductions. ``None`` for both: the rate
        stays wherever it is set. Call it before a fit; during one, use :meth:`replace_schedule`.

        The schedule must be a pure function of the step. One that takes a numpy array of steps
        (every ``lrwidgets.schedules`` object does) is evaluated ahead, 1024 steps at a time, so a
        step costs a lookup; any other callable is called once a step.
        """
        if schedule is not None and not callable(schedule):
            raise TypeError(f"Argument `schedule` must be callable on a step. Received: schedule={schedule!r}")
        if plateau is None and hasattr(schedule, "tracker"):
            plateau = schedule
        if plateau is not None and not hasattr(plateau, "tracker"):
            raise TypeError(
                f"Argument `plateau` must be an lrwidgets.schedules.ReduceOnPlateau. Received: plateau={plateau!r}"
            )
        if plateau is not None and schedule is None:
            schedule = Constant(self.learning_rate)  # a constant rate for the reductions to act on
        self._use_schedule(schedule)
        self._plateau = None if plateau is None else plateau.tracker()
        self._plateau_monitor = getattr(plateau, "monitor", "val_loss")
        self._plateau_warned = False

    def replace_schedule(self, schedule: Schedule, source: str = "designer") -> None:
        """Switch to a new schedule; while training, from the next batch (the past stays as it was).

        Live factors (earlier manual changes, plateau reductions) are dropped: the new schedule is
        followed as designed, evaluated at the current step of the fit.
        """
        if not callable(schedule):
            raise TypeError(f"Argument `schedule` must be callable on a step. Received: schedule={schedule!r}")
        with self._cond:
            if self.running and not self._in_training_thread():
                self._schedule_request = (schedule, source)
                self._cond.notify_all()
                return
        self._use_schedule(schedule)

    @property
    def schedule(self) -> Schedule | None:
        """What drives the learning rate step by step (None: it stays where it is set)."""
        return self._schedule

    @property
    def fit_step(self) -> int:
        """Steps taken in the current (or last) fit; what a schedule is evaluated at."""
        return self._fit_step

    def pause(self) -> None:
        """Hold training between two batches (no CPU used while paused)."""
        with self._cond:
            if self.running:
                self._pause_requested = True
                self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._pause_requested = False
            self._cond.notify_all()

    def stop(self) -> None:
        """End training at the next batch boundary; everything recorded is kept."""
        with self._cond:
            if self.running:
                self._stop_requested = True
                self._state = "stopping"
                self._cond.notify_all()

    def progress(self) -> Progress:
        now = time.perf_counter()
        elapsed = 0.0
        if self._fit_span is not None:
            start, end = self._fit_span
            elapsed = (now if end is None else end) - start
        eta = None
        rate = self._steps_per_second()
        if self._steps and rate > 0 and self._epochs:
            remaining = (self._epochs - self._epoch - 1) * self._steps + (self._steps - self._step_in_epoch)
            eta = max(remaining, 0) / rate
        return Progress(
            state=self._state,
            epoch=self._epoch,
            epochs=self._epochs,
            step_in_epoch=self._step_in_epoch,
            steps=self._steps,
            global_step=self.history.num_steps,
            steps_per_second=rate,
            samples_per_second=rate * self.batch_size if self.batch_size else None,
            elapsed=elapsed,
            eta=eta,
            learning_rate=self.learning_rate,
        )

    def _steps_per_second(self) -> float:
        """Batches a second over the last RATE_WINDOW seconds of the current (or last) fit.

        Measured from the recorded step times, validation included, rather than between two
        callbacks: on jax, batch-end callbacks arrive in bursts and one gap says little.
        """
        t = self.history.time
        first, n = self._fit_first_record, len(t)
        if n - first < 2:
            return 0.0
        last = float(t[n - 1])
        start = min(first + int(np.searchsorted(t[first:n], last - RATE_WINDOW)), n - 2)
        dt = last - float(t[start])
        if dt <= 0:
            return 0.0
        batches_per_record = self._fit_step / (n - first)  # > 1 with steps_per_execution
        return (n - 1 - start) * batches_per_record / dt

    def _begin(self, thread: threading.Thread) -> None:
        """A background fit is about to start in ``thread``: from now on, requests are queued."""
        with self._cond:
            if self.running:
                raise RuntimeError(
                    "A fit is already running on this model; wait for it (`run.wait()`) or stop it"
                    " (`dash.stop()`) before starting another."
                )
            self._state = "running"
            self._thread = thread
            self._stop_requested = False

    # ---- helpers ---------------------------------------------------------------------------
    def _now(self) -> float:
        if self._t0 is None:
            self._t0 = time.perf_counter()
        return time.perf_counter() - self._t0

    def _notify(self) -> None:
        self._last_push = time.perf_counter()
        for listener in list(self._listeners):
            try:
                listener()
            except Exception as e:  # a broken view must not kill the training run
                self.history.add_event("error", f"display update failed: {type(e).__name__}: {e}")

    def _notify_throttled(self) -> None:
        if time.perf_counter() - self._last_push >= self.update_interval:
            self._notify()

    def _event(self, kind: str, message: str, **kw: Any) -> None:
        self.history.add_event(kind, message, time=self._now(), **kw)

    def _write_lr_idle(self, lr: float, source: str) -> None:
        self._lr_var.assign(lr)
        self._lr = lr
        self._event("learning_rate", f"learning rate set to {lr:.3g} ({source})", value=lr, source=source)
        self._notify()

    def _use_schedule(self, schedule: Schedule | None) -> None:
        """Drive the rate from ``schedule`` (as designed: live factors are dropped)."""
        self._table = None if schedule is None else ScheduleTable(schedule)
        self._schedule, self._schedule_factor = schedule, 1.0

    def _has_requests(self) -> bool:
        return bool(self._actions) or self._lr_request is not None or self._schedule_request is not None

    def _apply_lr(self, model: Any, lr: float) -> None:
        if lr != self._lr:
            self._lr_writer.write(model, lr)
            self._lr = lr

    # ---- callback hooks (training thread) ----------------------------------------------------
    def _on_train_begin(self, model: Any, params: dict[str, Any]) -> None:
        if self._state == "idle":  # callback mode: the fit runs in the caller's thread
            self._stop_requested = False
        self._state = "running"
        self._thread = threading.current_thread()
        self._now()
        self._epochs = int(params.get("epochs") or 0)
        self._steps = params.get("steps")
        self._fit_step = 0
        self._fit_first_record = self.history.num_steps
        self._fit_span = (time.perf_counter(), None)
        self._lr = _state.read_variable(model, self._lr_var)
        self._lr_writer.begin(model)
        self._install_warning_hook()
        self._notify()

    def _on_epoch_begin(self, model: Any, epoch: int) -> None:
        self._epoch = epoch
        self._step_in_epoch = 0
        self.history.start_epoch(epoch)
        self._recovery.start_epoch()
        # Another callback (e.g. keras.callbacks.ReduceLROnPlateau) may have set the rate.
        lr = _state.read_variable(model, self._lr_var)
        if not math.isclose(lr, self._lr, rel_tol=1e-6):
            if self._schedule is not None:
                self._schedule_factor *= lr / self._lr
            self._event(
                "learning_rate", f"learning rate changed to {lr:.3g} by another callback", value=lr, source="callback"
            )
            self._lr = lr
        if self.on_nan == "restore":
            _state.sync(model)
            self._snapshot = (_values(model.weights), _values(model.optimizer.variables), self.history.num_steps)

    def _on_batch_begin(self, model: Any, batch: int) -> None:
        # The hot path: two attribute tests, a list lookup and a multiplication when nothing changed.
        if self._has_requests() and self._apply_requests(model):
            return
        if self._table is not None:
            self._apply_lr(model, self._table(self._fit_step) * self._schedule_factor)

    def _apply_requests(self, model: Any) -> bool:
        """Carry out queued actions and a pending learning-rate change; True if the rate was set."""
        while self._actions:
            action, description = self._actions.popleft()
            _state.sync(model)
            try:
                action(model)
            except Exception as e:
                self._event("error", f"{description or 'change'} failed: {type(e).__name__}: {e}")
            else:
                if description:
                    self._event("action", description, step=self.history.num_steps)
        replaced = self._schedule_request
        if replaced is not None:
            self._schedule_request = None
            self._use_schedule(replaced[0])
            assert self._table is not None
            lr = self._table(self._fit_step)
            self._apply_lr(model, lr)
            self._event(
                "learning_rate",
                f"schedule edited: {lr:.3g} from here on ({replaced[1]})",
                value=lr,
                source=replaced[1],
                step=self.history.num_steps,
            )
        request = self._lr_request
        if request is not None:
            self._lr_request = None
            lr, source = request
            if self._table is not None:
                self._schedule_factor = lr / self._table(self._fit_step)
            self._apply_lr(model, lr)
            self._event(
                "learning_rate",
                f"learning rate set to {lr:.3g} ({source})",
                value=lr,
                source=source,
                step=self.history.num_steps,
            )
            return True
        return replaced is not None

    def _on_batch_end(self, model: Any, batch: int, logs: dict[str, Any]) -> None:
        now = self._now()
        mean = float(logs.get("loss", math.nan))
        loss = self._recovery.update(batch, mean)
        self.history.record_step(loss, self._lr, now)
        # With steps_per_execution > 1 one call covers several batches; schedules count batches.
        self._fit_step += max(batch + 1 - self._step_in_epoch, 1)
        self._step_in_epoch = batch + 1
        if not math.isfinite(loss):
            self._handle_nan(model, loss)
        elif self._monitor.update(loss):
            self._event(
                "diverging",
                f"the loss is diverging: its smoothed value rose above"
                f" {self.divergence_factor:g}x its best ({self._monitor.best:.4g});"
                f" the learning rate ({self._lr:.3g}) may be too high",
            )
        if self._pause_requested and not self._stop_requested:
            self._wait_while_paused(model)
        if self._stop_requested:
            model.stop_training = True
        self._notify_throttled()

    def _wait_while_paused(self, model: Any) -> None:
        """Block the training thread until resumed or stopped; changes made meanwhile apply at once."""
        self._state = "paused"
        self._event("pause", "paused")
        self._notify()
        while True:
            with self._cond:
                while self._pause_requested and not self._stop_requested and not self._has_requests():
                    self._cond.wait()
                if not self._pause_requested or self._stop_requested:
                    break
            self._apply_requests(model)
            self._notify()
        if not self._stop_requested:
            self._state = "running"
            self._event("resume", "resumed")

    def _handle_nan(self, model: Any, loss: float) -> None:
        msg = f"the loss became {loss} at step {self.history.num_steps - 1} (learning rate {self._lr:.3g})"
        if self.on_nan == "restore" and self._snapshot is not None:
            weights, opt_vars, step = self._snapshot
            _state.sync(model)
            for var, value in zip(model.weights, weights, strict=True):
                var.assign(value)
            for var, value in zip(model.optimizer.variables, opt_vars, strict=True):
                if var is not self._lr_var:
                    var.assign(value)
            msg += f"; training stopped and the weights from step {step} (start of the epoch) were restored"
            self._event("nan", msg)
            self._event("restore", f"weights restored from step {step}")
        else:
            msg += "; training stopped (the weights are not finite: fit again with on_nan='restore' to keep them)"
            self._event("nan", msg)
        self._stop_requested = True
        self._stopped_by_nan = True
        model.stop_training = True

    def _on_epoch_end(self, model: Any, epoch: int, logs: dict[str, Any]) -> None:
        # Keras's History then records the rate in effect, as keras.callbacks.ReduceLROnPlateau does.
        logs.setdefault("learning_rate", self._lr)
        self.history.record_epoch(epoch, logs)
        # A reduction after the last epoch would never take effect in this fit: it is not applied.
        if self._plateau is not None and epoch + 1 < self._epochs and not self._stop_requested:
            self._plateau_step(logs)
        if self._stop_requested:
            model.stop_training = True
        # Throttled like the batches: with short epochs (tens of steps) an update per epoch would
        # flood the browser; the end of the fit always notifies.
        self._notify_throttled()

    def _plateau_step(self, logs: dict[str, Any]) -> None:
        key = self._plateau_monitor
        if key not in logs and key == "val_loss" and "loss" in logs:
            if not self._plateau_warned:
                self._plateau_warned = True
                self._event("warning", "reduce-on-plateau watches `loss`: this fit has no validation data")
            key = "loss"
        if key not in logs:
            if not self._plateau_warned:
                self._plateau_warned = True
                self._event("warning", f"reduce-on-plateau cannot watch `{key}`: it is not in the logs")
            return
        tracker = self._plateau
        tracker.update(float(logs[key]), learning_rate=self._lr)
        if tracker.last_factor != 1.0:
            self._schedule_factor *= tracker.last_factor
            lr = self._lr * tracker.last_factor
            self._event(
                "learning_rate",
                f"reduced on plateau: `{key}` stopped improving; {lr:.3g} from here on",
                value=lr,
                source="plateau",
                step=self.history.num_steps,
            )

    def _on_train_end(self, model: Any) -> None:
        self._finish()

    def _finish(self, error: BaseException | None = None) -> None:
        """End of a fit, normal or not (called by the run thread too, so it must be idempotent)."""
        if self._state == "idle":
            return
        if self._fit_span is not None:
            self._fit_span = (self._fit_span[0], time.perf_counter())
        self._lr_writer.end(self.model)
        if error is not None:
            self._event("error", f"training failed: {type(error).__name__}: {error}")
        elif self._stop_requested and not self._stopped_by_nan:
            self._event("stop", "stopped")
        self._uninstall_warning_hook()
        with self._cond:
            self._state = "idle"
            self._pause_requested = False
            self._stop_requested = False
            self._stopped_by_nan = False
            # Requests that came after the last batch: carried out (and recorded) now.
            self._apply_requests(self.model)
        self._notify()

    # ---- warnings raised in the training thread are shown, not lost -------------------------
    def _install_warning_hook(self) -> None:
        original = warnings.showwarning
        if getattr(original, "_lrwidgets", False):
            return
        thread = threading.current_thread()

        def showwarning(
            message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
        ) -> None:
            if threading.current_thread() is thread:
                self._event("warning", f"{category.__name__}: {message}")
            original(message, category, filename, lineno, file, line)

        showwarning._lrwidgets = True  # type: ignore[attr-defined]
        showwarning._original = original  # type: ignore[attr-defined]
        warnings.showwarning = showwarning

    def _uninstall_warning_hook(self) -> None:
        current = warnings.showwarning
        if getattr(current, "_lrwidgets", False):
            warnings.showwarning = current._original  # type: ignore[attr-defined]
