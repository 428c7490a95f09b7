"""What a fit leaves behind: the history of every step, its events, and the guard against NaN.

:class:`Recorder` is fed by the controller's callback in the training thread: the true loss of
each batch (recovered from Keras's running mean), the rate it ran with, the epoch logs, the events; it keeps
the NaN guard's copies and the divergence monitor, and routes the training thread's warnings to this history.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from lrwidgets.core import BatchLossRecovery, TrainingHistory
from lrwidgets.training import _step_logs, raw_rows, warnings_hook
from lrwidgets.training.divergence_watch import DivergenceWatch
from lrwidgets.training.nan_guard import NanGuard
from lrwidgets.training.progress import Progress, ProgressMeter

ON_NAN_CHOICES = ("restore", "stop")


class SetupNote(NamedTuple):
    """A note on a fit being set up (:meth:`Recorder.hold_setup`), recorded as an event when it begins."""

    kind: str
    message: str
    time: float
    source: str | None = None


class Recorder:
    """History, progress, NaN guard and divergence watch of one controller's fits.

    The per-batch path (the controller's callback) only appends a raw row to :attr:`rows`:
    ``(batch, monitored value or None, rate, clock)``. :meth:`flush` turns the rows into history
    steps (the true batch loss, the progress); the history calls it before every read, from any
    thread, so that no reader misses a step.
    """

    def __init__(self, history: TrainingHistory, on_nan: str, divergence_factor: float) -> None:
        self.history = history
        self.on_nan = on_nan
        self.divergence_factor = divergence_factor
        self.monitor: str | None = None  # the log key recorded as the loss (None: `loss`, else the first)
        self.meter = ProgressMeter()
        self.guard = NanGuard(history, factor=divergence_factor)
        self.recovery = BatchLossRecovery()
        self.loss_floor: float | None = None
        #: the train step's log keys that are running means (None: all; see `_step_logs.averaged_keys`)
        self.averaged_keys: frozenset[str] | None = None
        self.custom_step = False  #: the model's own `train_step` runs (Keras's always logs running means)
        #: called before each rate event: the rate reader records a run of another callback's
        #: changes first, so that the events stay in the order of their steps
        self.before_rate_event: Callable[[], None] | None = None
        self.watch = DivergenceWatch(
            history, divergence_factor, lambda text, step: self.event("diverging", text, step=step)
        )
        self._t0: float | None = None
        self._close_warnings: Callable[[], None] | None = None
        #: events of a session's fit made before Keras begins it (None: no fit being set up)
        self._setup: list[SetupNote] | None = None
        self._key: str | None = None
        self.stopped_by_nan = False
        #: added to the "stop" event's "stopped" (set when Stop cut a validation pass short)
        self.stop_note = ""
        self._missing_told = False
        #: rows appended by the training thread since the last flush (only ever emptied in place)
        self.rows: list[tuple[int, float | None, float, float]] = []
        self._flush_lock = threading.RLock()
        history.drain = self.flush

    clock = staticmethod(time.perf_counter)

    def now(self) -> float:
        """Seconds since this history's first fit began (the time axis of every record)."""
        if self._t0 is None:
            self._t0 = time.perf_counter()
        return time.perf_counter() - self._t0

    def event(self, kind: str, message: str, **kw: Any) -> None:
        self.history.add_event(kind, message, time=self.now(), **kw)

    def rate_event(self, learning_rate: float, message: str, source: str, *, idle: bool = False) -> None:
        """A change of the learning rate from the next step, with its cause (``user``, ``callback``,
        ``plateau``...); ``idle``: made between fits, for the next fit's first step."""
        if self.before_rate_event is not None:
            self.before_rate_event()
        fit = self.history.num_fits if idle else None
        self.event("learning_rate", message, value=learning_rate, source=source, step=self.history.num_steps, fit=fit)

    def hold_setup(self, notes: list[SetupNote]) -> None:
        """A session's fit is being set up in the calling thread (its own, once the fit is
        claimed): ``notes`` (made before) and :meth:`setup_event`'s are recorded when it begins."""
        self._setup = notes

    def setup_event(self, kind: str, message: str) -> None:
        """An event of the fit being set up (the session's notes on its data, Keras's warnings
        before its first callback): recorded under that fit, at its first step, once it begins.
        A fit that never begins (Keras raised in its set-up) has them under the last fit, before
        the error; with no fit being set up, they are recorded at once."""
        held = self._setup
        if held is None:
            self.event(kind, message)
        else:
            held.append(SetupNote(kind, message, self.now()))

    def _release_setup(self, begun: bool) -> None:
        held, self._setup = self._setup, None
        step = self.history.num_steps if begun else None  # begun: the fit's first step, to come
        for note in held or ():
            self.history.add_event(note.kind, note.message, time=note.time, step=step, source=note.source)

    def progress(self, state: str, learning_rate: float) -> Progress:
        self.flush()
        return self.meter.snapshot(state, self.history.time, learning_rate)

    @property
    def key(self) -> str | None:
        """The log key recorded as the loss (None until a fit's first batch chose it)."""
        return self._key

    def use_batches(self, size: int | None, samples: int | None, exact: bool, model: Any) -> bool:
        """A fit's batch size and samples an epoch (None: not known); ``exact``: its batches known before it
        runs. Sets and returns :attr:`custom_step` (``model`` has its own ``train_step``: its logs are not the batch's
        own). Called once a fit, before Keras begins it (a session's fit, or the callback's of a fit of its own)."""
        self.meter.batch_size, self.custom_step = size, _step_logs.custom_train_step(model)
        self.watch.use_batches(size, model)
        self.recovery.weigh(size, samples, exact and not self.custom_step)
        return self.custom_step

    def begin_fit(self, params: dict[str, Any], data_ends_epochs: bool = False) -> None:
        self.now()
        self.history.start_fit()  # first: what is recorded from here on is this fit's
        self._release_setup(begun=True)
        self.stopped_by_nan = False
        self._key = self.monitor
        self._missing_told = False
        if self._key is not None:
            self._use_key(self._key)
        epochs, steps = int(params.get("epochs") or 0), params.get("steps")
        self.meter.begin_fit(epochs, steps, self.history.num_steps, data_ends_epochs)
        self.guard.begin_fit()
        self.watch.begin_fit()
        self._close_warnings = warnings_hook.open_route(lambda text: self.event("warning", text))

    def end_fit(self, error: BaseException | None, stopped: bool) -> None:
        self._release_setup(begun=False)  # a fit that never began: what its set-up said comes first
        self.history.end_fit()
        self.scan()
        self.meter.end_fit()
        if self._close_warnings is not None:
            self._close_warnings()
            self._close_warnings = None
        if error is not None:
            self.event("error", f"training failed: {type(error).__name__}: {error}")
        elif stopped and not self.stopped_by_nan:
            self.event("stop", "stopped" + self.stop_note)
        self.stop_note = ""

    def begin_epoch(self, epoch: int) -> None:
        with self._flush_lock:
            self.flush()  # the last epoch's rows, recovered with its running mean
            self.meter.begin_epoch(epoch)
            self.history.start_epoch(epoch)
            self.recovery.start_epoch()

    def monitored_value(self, logs: dict[str, Any] | None) -> float | None:
        """The monitored log value (Keras's running mean of it), choosing the key at a fit's first
        batch; None when the step returned none."""
        if not logs:
            return None
        key = self._key
        if key is None:
            key = self._key = self._choose_key(logs)
            if key is None:
                return None
            self._use_key(key)
        value = logs.get(key)
        if value is None:
            self._missing(key, logs)
            return None
        return float(value)

    def _use_key(self, key: str) -> None:
        """Record ``key``: as Keras's running mean of it, or as it is when the train step returns
        each batch's own value (a custom step's key that no metric of the model averages)."""
        r = self.recovery
        r.switched = False
        averaged = self.averaged_keys
        r.per_batch = averaged is not None and key not in averaged
        # Checked against the floor of a compiled loss that cannot be negative: a custom step's `loss`
        # only (Keras's own is its running mean; a short batch of unknown size would skew the check).
        r.floor = self.loss_floor if key == "loss" and self.custom_step else None
        if r.per_batch:
            self.event(
                "info",
                f"the train step returns `{key}` as each batch's own value (the model has no metric of that"
                " name, nor trackers of its own, to average it over the epoch): recorded as it is",
            )

    def check_running_mean(self, model: Any) -> None:
        """After a fit's first batch (Keras builds its compiled metrics in the first step): a warning
        when the recorded key is a metric whose value is no running mean of batch values."""
        key = self._key
        r = self.recovery
        if key == "loss" and self.custom_step and not r.per_batch and _step_logs.loss_tracker_unused(model):
            r.per_batch, r.floor = True, None  # its first row is the same either way (a mean of one)
            self.event(
                "info",
                "the train step returns `loss` as each batch's own value (its first step left the model's"
                " `loss` tracker, Keras's running mean of it, at no sample): recorded as it is",
            )
            return
        kind = None if key is None or r.per_batch else _step_logs.not_running_means(model).get(key)
        if kind is not None:
            self.event(
                "warning",
                f"`{key}` ({kind}) is the metric's value over the epoch so far, not a running mean of batch"
                " values: each batch's own value recovered from it is approximate (monitor a loss or a mean"
                " metric, such as `accuracy` or `mae`, for exact ones)",
            )

    def _told_switch(self) -> None:
        """The floor check found the recorded key no running mean (a custom step's raw batch loss): said once."""
        self.recovery.switched = False
        self.event(
            "warning",
            f"the train step's `{self._key}` is not Keras's running mean of the loss (a batch's loss recovered"
            " from it fell below 0): recorded as each batch's own value from here on; the steps before"
            " were recovered as if it were a mean",
        )

    def _missing(self, key: str, logs: dict[str, Any]) -> None:
        """The monitored key is not in a batch's logs: said once a fit (a misspelt ``monitor``)."""
        if self._missing_told:
            return
        self._missing_told = True
        self.event(
            "warning",
            f"the train step logs no `{key}`: its steps are recorded with no loss. Logged: {sorted(logs)};"
            " choose one with `monitor=`",
            source="missing_key",  # a range test suggests nothing then
        )

    def _choose_key(self, logs: dict[str, Any]) -> str | None:
        if "loss" in logs:
            return "loss"
        scalars = sorted(k for k, v in logs.items() if isinstance(v, (int, float)) or getattr(v, "shape", None) == ())
        if not scalars:
            return None
        self.event(
            "warning",
            f"the train step returns no `loss`: recording `{scalars[0]}` as the loss (of {scalars});"
            " choose another with `monitor=`",
        )
        self.recovery.weigh(None, None, exact=False)  # a custom tracker: every batch weighs the same
        return scalars[0]

    def fit_step(self) -> int:
        """Steps taken in this fit (the buffered rows written first)."""
        self.flush()
        return self.meter.fit_step

    def steps_recorded(self) -> int:
        """The history's steps with the rows not yet written: the step the next batch will be (no
        write: a caller before every batch)."""
        with self._flush_lock:
            return self.history._n + len(self.rows)

    def step_before_batch(self) -> int:
        """:meth:`fit_step`, for a caller before every batch (a schedule's rate), without writing
        the buffered rows: Keras numbers an epoch's batches upwards (by one, or by
        ``steps_per_execution``), so their steps are the last number's end (``meter.batch_end``)
        less the epoch's steps already written. Each call checks the newest row against the one
        before it (called before every batch, it checks them all); a row whose number does not go
        up is written first, and then counted as the written rows count it."""
        rows, meter = self.rows, self.meter
        with self._flush_lock:  # another thread's flush would move rows and counts under us
            n = len(rows)
            if n:
                last = rows[-1][0]
                ahead = meter.batch_end(last) - meter.step_in_epoch
                if ahead >= n and (n == 1 or rows[-2][0] < last):
                    return meter.fit_step + ahead
                self.flush()
            return meter.fit_step

    def flush(self) -> None:
        """Write the buffered rows as history steps: each batch's true loss, recovered from Keras's
        running mean (None: a NaN gap), its rate and time; the progress advances. Any thread."""
        rows = self.rows
        if not rows:
            return
        with self._flush_lock:
            k = len(rows)
            if not k:
                return
            t0 = self._t0
            if t0 is None:
                t0 = self._t0 = float(rows[0][3])
            steps, batches = raw_rows.written(rows, k, self.recovery, self.loss_floor, t0)
            # Written, then taken off the list: a reader that finds rows waits on the lock above,
            # so none sees the rows gone before they are in the history.
            self.meter.end_batches(batches)
            self.history.extend_steps(steps)
            del rows[:k]  # the training thread only appends: the rows after k stay
        if self.recovery.switched:  # told once the rows are in (an event reads the history)
            self._told_switch()

    def scan(self) -> None:
        """Run the divergence watch over the steps recorded since its last look (:class:`DivergenceWatch`)."""
        self.watch.scan()

    def idle_optimizer(self, model: Any, optimizer: Any, batches: int) -> None:
        """Warn that ``optimizer``, whose rate is recorded and steered, took no step in a fit of ``batches``."""
        why = (
            "the model has no trainable weights (frozen: `trainable=False`), so the rates shown moved nothing"
            if not model.trainable_weights
            else "if the train step updates the weights otherwise (with optimizers of its own, as keras.io's"
            " GANs do), the rates shown are not the ones used"
        )
        self.event(
            "warning",
            f"the model's optimizer ({type(optimizer).__name__}), whose learning rate is recorded and"
            f" steered here, took no step in this fit's {batches} batches: {why}",
            source="idle_optimizer",  # a range test gives no suggestion then
        )

    def check_state_at_end(self, model: Any, learning_rate: float, keep: list[Any]) -> None:
        """At a fit's end (``on_nan="restore"``): a state gone NaN under a finite loss since the last
        copy is acted on as a NaN loss is (:meth:`nan`)."""
        if self.on_nan == "restore" and not self.stopped_by_nan and self.guard.broken_at_end(model):
            self.nan(model, learning_rate, keep, weights_only=True)

    def nan(self, model: Any, learning_rate: float, keep: list[Any], weights_only: bool = False) -> None:
        """The last batch's loss is not finite, or (``weights_only``) the NaN guard found the weights
        or optimizer state not finite while the loss stayed finite (:attr:`NanGuard.broken`):
        restore (if asked) and say what happened (steps 0-based, as on the plots)."""
        self.scan()  # the divergence that led here is told first
        step = self.history.num_steps - 1
        loss = self.history.last("loss")
        msg = f"the loss became {loss} at step {step} (learning rate {learning_rate:.3g})"
        broken = self.guard.take_broken()  # cleared either way: a NaN loss is said as one
        if weights_only and broken is not None:
            msg = (
                f"the weights or optimizer state held NaN or inf by step {broken} while the loss stayed finite"
                f" ({loss:.4g} at step {step}, learning rate {learning_rate:.3g}: an op that maps NaN to a number,"
                " such as relu on TensorFlow, hides it; look for NaN in the data)"
            )
        restored = self.guard.restore(model, keep) if self.on_nan == "restore" else None
        if restored is not None and self.guard.restored_start:
            self.event(
                "nan",
                msg + "; training stopped and the weights the fit started with were restored (its first batch"
                " already gave no finite loss: look at the data, or the rate)",
            )
            self.event("restore", f"weights restored from step {restored}, where the fit started")
        elif restored is not None:
            self.event(
                "nan",
                msg + f"; training stopped and the weights of step {restored} were restored (the latest copy kept"
                " whose loss was finite and not diverging: copies are taken at epochs' starts and every 2 s)",
            )
            self.event("restore", f"weights restored from step {restored}")
        elif self.on_nan == "restore":
            self.event("nan", msg + "; training stopped (no earlier state with a finite loss to restore)")
        else:
            self.event("nan", msg + "; training stopped (on_nan='stop': the weights are left as they are)")
        self.stopped_by_nan = True
