"""The training controller: the state a fit's requests wait in (their methods: ``requests.py``),
carried out in the training thread by its callback (``callback.py``) at the next batch boundary;
the thread and the fit's lifecycle."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterator
from typing import Any

from lrwidgets.core import TrainingHistory
from lrwidgets.core.checks import check_choice, check_float, check_name
from lrwidgets.core.rate_driver import RateDriver
from lrwidgets.training import _state, ownership
from lrwidgets.training.callback import ControllerCallback
from lrwidgets.training.fit_args import DATA_ARGUMENTS, known_batches
from lrwidgets.training.fit_frame import FitFrame
from lrwidgets.training.interrupts import InterruptStops
from lrwidgets.training.listeners import Listeners
from lrwidgets.training.progress import Progress
from lrwidgets.training.rate_writer import LearningRateWriter
from lrwidgets.training.recorder import ON_NAN_CHOICES, Recorder
from lrwidgets.training.requests import Action, Requests, Schedule


class TrainingController(Requests):
    """Owns a compiled Keras model while it trains and applies live changes in the training thread.

    Most code uses :class:`~lrwidgets.training.TrainingSession`, which runs the fit too; the
    controller alone serves a ``model.fit`` you call yourself, through ``callbacks=[ctl.callback]``.

    Args:
        model: a compiled ``keras.Model`` whose optimizer has a float learning rate.
        update_interval: minimum seconds between two listener calls while training (> 0).
        on_nan: ``"restore"`` (default) puts back the last weights and optimizer state whose loss
            was finite and not diverging when the loss turns NaN or inf, then stops; ``"stop"`` only stops.
        divergence_factor: warn when the smoothed loss stays above this multiple of its best value.
        monitor: the log key whose per-batch value is recorded as the loss (default: ``loss``, or,
            when the train step returns none, its first scalar, named in an event).
    ``ctl.set_learning_rate(0.05)`` while idle is applied at once; during a fit, before the next
    batch (tests/test_training_parts.py shows each request).
    """

    def __init__(
        self,
        model: Any,
        *,
        update_interval: float = 0.1,
        on_nan: str = "restore",
        divergence_factor: float = 4.0,
        monitor: str | None = None,
    ) -> None:
        _state.steerable_optimizer(model)
        self.update_interval = check_float("update_interval", update_interval, gt=0, le=3600)
        check_choice("on_nan", on_nan, ON_NAN_CHOICES)
        if monitor is not None:
            check_name("monitor", monitor)  # a log key
        self.model = model
        self.history = TrainingHistory()
        self.recorder = Recorder(self.history, on_nan, check_float("divergence_factor", divergence_factor, gt=1))
        self.recorder.monitor = monitor
        self.callback = ControllerCallback(self)
        self.driver = RateDriver()
        self.listeners = Listeners(self.update_interval, self.recorder)
        #: called with (model, epoch, logs) at each epoch's end, in the training thread
        self.epoch_hooks: list[Callable[[Any, int, dict[str, Any]], None]] = []
        #: the session's open Diagnosticians, oldest first: the first writes the verdicts' events
        self.diagnosticians: list[Any] = []
        self._actions: collections.deque[tuple[Action, str]] = collections.deque()
        #: actions that go with a rate (a rewind): at the next training batch, not in a validation pass
        self._batch_actions: collections.deque[tuple[Action, str]] = collections.deque()
        self._cond = threading.Condition()
        self._interrupts = InterruptStops(self)  # SIGINT as Stop for a fit in the main thread
        self._pause_requested = False
        self._stop_requested = False
        #: set (after the request itself) by every request the training thread must see at a batch's end
        self._attention = False
        self._state = "idle"
        self._thread: threading.Thread | None = None
        self._fit_frame: FitFrame | None = None  # a fit of `callbacks=[ctl.callback]`: its Keras frame
        #: the data arguments of the last fit (``x``, ``y``, ``batch_size``...: ``fit_args.DATA_ARGUMENTS``),
        #: a session's or one called with ``callbacks=[ctl.callback]`` (read from Keras's ``fit``); None: unknown
        self.fit_data: dict[str, Any] | None = None
        self._end_lock = threading.Lock()
        self._lr_request: tuple[float, str] | None = None
        self._schedule_request: tuple[Schedule, str] | None = None
        self._multiplier_sources: dict[str, dict[str, float]] = {}  # the pending changes, by who asked
        self._optimizer: Any = None
        self._writer: LearningRateWriter | None = None
        self._lr = _state.current_learning_rate(model)
        self._multipliers = _state.current_multipliers(model)

    # ---- state (any thread) -------------------------------------------------------------------
    @property
    def state(self) -> str:
        """``idle``, ``running``, ``paused`` or ``stopping``."""
        self._settle()
        return self._state

    @property
    def pause_requested(self) -> bool:
        """True from ``pause()`` until ``resume()`` (the run may still be finishing its batch)."""
        return self._pause_requested

    @property
    def running(self) -> bool:
        """True from a fit's start to its end; a fit of ``callbacks=[ctl.callback]`` that ended by an
        exception or an interrupt (Keras then calls no callback) is ended here, when first seen."""
        if self._state == "idle":
            return False
        frame = self._fit_frame
        if frame is not None and frame.over():
            self._end_abandoned(frame)
        return self._state != "idle"

    def _settle(self) -> None:
        """End a fit that Keras ended without its callbacks (see ``running``): call it before taking
        ``_cond``, under which only the raw state is read (finish takes other locks)."""
        self.running  # noqa: B018

    def begin_fit_frame(self, callers: bool) -> None:
        """A fit begins, in its thread (the callback's ``on_train_begin``). One called with
        ``callbacks=[ctl.callback]`` (``callers``): the model claimed, the last session fit's schedule
        dropped (and its validation, not known here), Keras's ``fit`` frame kept (Keras calls no end
        when such a fit raises). Every fit: its data read from that frame, for a range test "like
        the last fit" (``x`` and ``y`` are the training part once ``validation_split`` took the
        rest; a session's fit keeps its own arguments where the frame is not found). None for a
        one-shot iterator of unknown length: this fit reads it to its end."""
        frame = FitFrame(threading.current_thread())
        if callers:
            ownership.claim(self.model, self)
            self.forget_schedule()
            self._stop_requested = False
            self._thread = threading.current_thread()
            self._fit_frame = frame
            if frame.found:  # its end is known: an interrupt after it is not taken for a Stop
                self._interrupts.install()
        data = frame.arguments(DATA_ARGUMENTS) if frame.found or callers else self.fit_data
        if data is not None and isinstance(data.get("x"), Iterator) and data.get("steps_per_epoch") is None:
            data = None
        self.fit_data = data
        if callers:  # a session's fit sets them from its own arguments (the live diagnosis reads the size)
            size, samples = known_batches(data)
            self.recorder.use_batches(size, samples, samples is not None, self.model)

    def _end_abandoned(self, frame: FitFrame) -> None:
        with self._end_lock:  # claimed by one thread; finish (its listeners) runs outside the lock
            if self._fit_frame is not frame:  # ended meanwhile, or by another thread
                return
            self._fit_frame = None
        self.recorder.event(
            "error",
            "the fit ended before its end (an exception or an interrupt where it ran): everything up to"
            " its last batch is kept",
        )
        self.finish()

    @property
    def learning_rate(self) -> float:
        """The learning rate in effect (or requested, if a change is pending)."""
        pending = self._lr_request
        if pending is not None:
            return pending[0]
        if not self.running:  # idle: the optimizer may have been changed or re-compiled since
            self._lr = _state.idle_learning_rate(self.model, self._lr)
        return self._lr

    @property
    def multipliers(self) -> dict[str, float]:
        """Per-layer multipliers in effect (or requested); empty without a ``LayerwiseOptimizer``."""
        if not self.running:  # idle: read the optimizer (someone may have set them directly)
            self._multipliers = _state.current_multipliers(self.model)
        return {**self._multipliers, **self.pending_multipliers()}

    @property
    def schedule(self) -> Schedule | None:
        """What drives the learning rate step by step (None: it stays where it is set)."""
        return self.driver.schedule

    @property
    def fit_step(self) -> int:
        """Steps taken in the current (or last) fit; what a schedule is evaluated at."""
        return self.recorder.fit_step()

    @property
    def batch_size(self) -> int | None:
        return self.recorder.meter.batch_size

    def progress(self) -> Progress:
        lr = self.learning_rate  # first: it may end an abandoned fit, which the state then shows
        return self.recorder.progress(self.state, lr)

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after changes, throttled; from the training thread while training.

        Returns a function that removes it. Keep listeners cheap: they run between two batches.
        """
        return self.listeners.add(listener)

    # ---- lifecycle ----------------------------------------------------------------------------
    def begin(self, thread: threading.Thread) -> None:
        """A background fit is about to start in ``thread``: from now on, requests are queued."""
        self.end_stale()
        with self._cond:
            if self._state != "idle":
                raise RuntimeError(
                    "A fit is already running on this model; wait for it (`run.wait()`) or stop it"
                    " (`session.stop()`) before starting another."
                )
            ownership.claim(self.model, self)
            self._state = "running"
            self._thread = thread
            self._stop_requested = False

    def end_stale(self) -> None:
        """End a fit of ``callbacks=[ctl.callback]`` in the calling thread that was interrupted before
        Keras called its end (a fit there blocks the thread: if we are here, it is over)."""
        if self.running and self._thread is threading.current_thread():
            self.finish()

    def end_callback_fit(self, logs: Any = None) -> None:
        """The end of a fit of ``callbacks=[ctl.callback]`` (its ``on_train_end``, in its thread): it
        is finished, and a kernel interrupt that stopped it is raised after the later callbacks' ends
        (``InterruptStops``; ``logs``: what Keras gave them)."""
        self.finish()
        if self._interrupts.asked:
            self._interrupts.raise_after(self.callback.callback_list, self.model, self.callback, logs)

    def finish(self, error: BaseException | None = None) -> None:
        """End of a fit, normal or not: a session's by its run thread, after every callback's end; one of
        ``callbacks=[ctl.callback]`` by the callback's ``on_train_end``, or when found abandoned
        (``running``). A second call does nothing."""
        if self._state == "idle":
            return
        self._interrupts.uninstall()  # first: an interrupt from here on is Python's, as before the fit
        self._fit_frame = None
        if self._writer is not None:
            self._writer.end(self.model)
        self.callback.reader.end_run()  # another callback's changes at each step until the end, as one event
        self.callback.reader.assigns.unwatch()
        self.recorder.end_fit(error, self._stop_requested)
        self.callback.others, self.callback.reader_attached = [], False  # a session's fit sets them
        ownership.release(self.model, self)
        with self._cond:
            self._state = "idle"
            self._pause_requested = False
            self._stop_requested = False
            self._attention = False
            try:
                self.callback.apply_requests(self.model)  # requests that came after the last batch: now
            except Exception as e:  # the fit is over whatever a late request does: never raise here
                self.recorder.event("error", f"a change made as the fit ended failed: {type(e).__name__}: {e}")
        self._notify()

    # ---- helpers ------------------------------------------------------------------------------
    def _notify(self) -> None:
        self.recorder.scan()  # new rows through the divergence watch first (locked: any thread)
        self.listeners.notify()

    def notify_throttled(self) -> None:
        if self.listeners.due():
            self._notify()

    def end_epoch(self, model: Any, epoch: int, logs: dict[str, Any]) -> None:
        """An epoch's end (training thread): :attr:`epoch_hooks` with the logs it recorded (a
        diagnostician keeps the best epoch's weights there), then the listeners if due."""
        for hook in list(self.epoch_hooks):
            try:
                hook(model, epoch, logs)
            except Exception as e:  # a hook's failure is recorded; the fit goes on
                self.recorder.event("error", f"at epoch {epoch}'s end: {type(e).__name__}: {e}")
        self.notify_throttled()
