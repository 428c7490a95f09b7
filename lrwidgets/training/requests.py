"""Requests to a fit, from any thread: carried out at once while idle, else queued for the
training thread, which carries them out at the next batch boundary (``callback.py``)."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, wait
from typing import TYPE_CHECKING, Any

from lrwidgets.core.checks import check_name, check_rate
from lrwidgets.core.rate_driver import RateDriver
from lrwidgets.schedules.table import ScheduleTable
from lrwidgets.training import _state, ownership

if TYPE_CHECKING:
    from lrwidgets.training.callback import ControllerCallback
    from lrwidgets.training.recorder import Recorder

Action = Callable[[Any], None]
Schedule = Callable[[Any], Any]


#: How long a wait for the training thread blocks at a time (s): between two, an interrupt reaches
#: the waiting thread, and a fit that ended without its callbacks is seen over.
WAIT_SLICE = 0.1


class Requests:
    """The request methods of :class:`~lrwidgets.training.controller.TrainingController` (its base):
    the live learning rate, per-layer multipliers, a schedule, actions on the model, pause, resume
    and stop. Each is checked in the caller's thread, so that a bad one raises there."""

    model: Any
    recorder: Recorder
    callback: ControllerCallback
    driver: RateDriver
    #: the driver's schedule was given to a session's ``fit``: it ends with that fit
    _schedule_of_fit = False
    #: meanwhile, the driver of the fits to come, which later fits go back to
    _standing: RateDriver | None = None
    _actions: collections.deque[tuple[Action, str]]
    _batch_actions: collections.deque[tuple[Action, str]]
    _cond: threading.Condition
    _pause_requested: bool
    _stop_requested: bool
    _attention: bool
    _state: str
    _thread: threading.Thread | None
    _lr_request: tuple[float, str] | None
    _schedule_request: tuple[Schedule, str] | None
    _multiplier_sources: dict[str, dict[str, float]]
    _multipliers: dict[str, float]

    if TYPE_CHECKING:

        @property
        def running(self) -> bool: ...

        @property
        def fit_step(self) -> int: ...

        @property
        def learning_rate(self) -> float: ...

        def _notify(self) -> None: ...

        def notify_throttled(self) -> None: ...

        def _settle(self) -> None: ...

    def in_training_thread(self) -> bool:
        """Whether the caller is the thread of the fit that runs (or ran last)."""
        return threading.current_thread() is self._thread

    def _queue(self) -> bool:
        """True (holding the lock's decision) when a request must wait for the training thread."""
        return self._state != "idle" and threading.current_thread() is not self._thread

    def _post(self, record: Callable[[], None], *, while_fitting: bool = False) -> bool:
        """Leave a request for the training thread: ``record()`` it and wake that thread, under the
        lock, when a fit runs in another thread (or, ``while_fitting``, whenever a fit runs: one
        asked from the training thread is carried out by the caller, from the same record).
        Returns whether the request waits for the training thread (the caller is done)."""
        self._settle()  # a fit Keras ended without its callbacks is ended first, outside the lock
        with self._cond:
            queued = self._queue()
            if queued or (while_fitting and self._state != "idle"):
                record()
                self._attention = True
                self._cond.notify_all()
            return queued

    def _check_free(self) -> None:
        """Idle here, the model may be training in another session (a range test of it): a change
        made now would race that fit and be undone when it ends, so it is refused."""
        owner = ownership.owner(self.model)
        if owner is not None and owner is not self:
            where = (
                "a learning-rate range test: change it once the test has put it back (`test.wait()`)"
                if ownership.reserved(self.model)
                else "another lrwidgets session: change it through that session, or once its fit has ended"
            )
            raise RuntimeError(f"Argument `model` ({self.model.name!r}) is training in {where}.")

    def submit(self, action: Action, description: str = "") -> None:
        """Run ``action(model)`` in the training thread before the next batch, or now when idle; with a
        ``description``, recorded as an ``action`` event (a failure always is, as an ``error``)."""
        if not callable(action):
            raise TypeError(f"Argument `action` must be callable. Received: action={action!r}")
        if not isinstance(description, str):
            raise TypeError(f"Argument `description` must be a str. Received: description={description!r}")
        if self._post(lambda: self._actions.append((action, description))):
            return
        self._check_free()
        self.callback.record_reduction()  # in the training thread: after one made at the epoch's end
        _state.sync(self.model)
        action(self.model)
        if description:
            self.recorder.event("action", description)
        self._notify()

    def call(self, fn: Callable[[Any], Any]) -> Any:
        """``fn(model)`` in the training thread between two batches (now when idle): its result, or
        its exception. For reads of model state during a fit, such as a save (on jax the state
        cannot be read elsewhere mid-epoch)."""
        future: Future[Any] = Future()

        def action(model: Any) -> None:
            try:
                future.set_result(fn(model))
            except BaseException as e:
                future.set_exception(e)

        self.submit(action)
        # In slices: a fit of `callbacks=[...]` in another thread may end by an exception, with no
        # callback at its end: seen over here, its end carries the action out.
        while not wait([future], timeout=WAIT_SLICE).done:
            self._settle()
        return future.result()

    def set_learning_rate(self, value: float, source: str = "user") -> None:
        """Set the learning rate, from the next batch while training; a schedule driving the run is
        scaled so that its value now is ``value``, and carries on from there. Refused while the
        schedule holds the rate at 0 (a frozen phase: nothing there to scale)."""
        lr = self._checked_rate(value, source)
        if self._post(lambda: setattr(self, "_lr_request", (lr, source)), while_fitting=True):
            return
        if self.running:  # from a callback, in the training thread: the next batch uses it
            self.callback.apply_requests(self.model)
        else:
            self._check_free()
            self.callback.write_idle(lr, source)
        self._notify()

    def queue_for_next_batch(
        self, learning_rate: float, source: str, action: Action | None = None, description: str = ""
    ) -> bool:
        """While a fit runs, from any thread: leave the rate and ``action`` (if any) for the next
        training batch, carried out by the training thread before it (the action, then the rate),
        not here: from a listener in the training thread, doing them here would call the listeners
        again from within one. Paused in a validation pass, the action waits with the rate (the
        pass's results are of one state). Returns False, nothing left, when no fit runs."""
        lr = self._checked_rate(learning_rate, source)
        if action is not None and not callable(action):
            raise TypeError(f"Argument `action` must be callable. Received: action={action!r}")
        with self._cond:
            if self._state == "idle":
                return False
            # The rate first: the training thread reads the two without this lock, and may see only
            # the first (then the action comes a batch later, at the lowered rate: never a batch at
            # the old rate from the state the action puts back).
            self._lr_request = (lr, source)
            if action is not None:
                self._batch_actions.append((action, description))  # not in a validation pass: its rate waits
            self._attention = True
            self._cond.notify_all()
        return True

    def _checked_rate(self, value: float, source: str) -> float:
        """``value`` as a rate to set now (checked, named); refused while a schedule holds the rate at 0."""
        lr = check_rate("learning_rate", value)
        check_name("source", source)
        _state.check_held_rate(self.model, lr, value)
        if self.running and self.driver.frozen(step := self.fit_step):
            raise ValueError(
                f"Argument `learning_rate` cannot be set at step {step} of this fit: its schedule holds the rate"
                f" at 0 there, and would undo the change at the next batch. Received: learning_rate={value!r}"
            )
        if not self.running and self.standing_driver.frozen(0):
            raise ValueError(
                "Argument `learning_rate` cannot be set for the next fit: the schedule set for the fits to come"
                f" holds the rate at 0 at its first step. Received: learning_rate={value!r}"
            )
        return lr

    def set_multipliers(self, multipliers: Mapping[str, float], source: str = "user", exact: bool = False) -> None:
        """Set per-layer multipliers, next batch: ``{group name or sub-model name or pattern: value}``
        matched as ``LayerwiseOptimizer`` matches its keys, or with ``exact`` each key a group's name
        setting that group only (see ``_state.check_multipliers``)."""
        changes = _state.check_multipliers(self.model, multipliers, exact)
        check_name("source", source)

        def record() -> None:
            asked = self._multiplier_sources  # who asked last for each layer, in the order they asked
            mine = {**asked.pop(source, {}), **changes}
            for other in list(asked):
                asked[other] = {n: m for n, m in asked[other].items() if n not in changes}
                if not asked[other]:
                    del asked[other]
            asked[source] = mine

        if self._post(record):
            return
        self._check_free()
        with self._cond:  # as the training thread's requests are recorded: a reader iterates them
            record()
        self.callback.record_reduction()  # in the training thread: after one made at the epoch's end
        self.callback.apply_multipliers(self.model)
        if self.running:  # a callback's change in the training thread: the views at their own pace
            self.notify_throttled()
        else:
            self._notify()

    def pending_multipliers(self) -> dict[str, float]:
        """The multiplier changes asked for and not yet made (by layer, whoever asked)."""
        with self._cond:
            return _merged(self._multiplier_sources)

    def take_multipliers(self) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        """The pending multiplier changes, and who asked for which (each layer under the last to ask).
        During a fit a value set again (a callback's, each batch) is no change, and no event."""
        with self._cond:
            asked, self._multiplier_sources = self._multiplier_sources, {}
        if self.running:
            now = self._multipliers
            asked = {who: {n: m for n, m in theirs.items() if now.get(n) != m} for who, theirs in asked.items()}
            asked = {who: theirs for who, theirs in asked.items() if theirs}
        return _merged(asked), asked

    def set_schedule(self, schedule: Schedule | None, plateau: Any = None, *, for_fit: bool = False) -> None:
        """Drive the rate from ``schedule(step)`` (from 0 in each fit), ``plateau`` reductions on top.

        See :class:`~lrwidgets.core.rate_driver.RateDriver`. ``None`` for both: the rate stays
        wherever it is set. Call it before a fit; during one, use :meth:`replace_schedule`.
        ``for_fit``: given to one fit (a session's ``fit``), and dropped when a later fit is called
        directly (``model.fit(callbacks=[callback])``); else it drives every fit until replaced.
        """
        if self.running:
            raise RuntimeError("A fit is running: use `replace_schedule` to change its schedule.")
        driver = RateDriver(schedule, plateau, self.learning_rate)
        driver.check_start()
        if for_fit and not self._schedule_of_fit:
            self._standing = self.driver
        self.driver, self._schedule_of_fit = driver, for_fit

    def set_plateau_for_fit(self, plateau: Any) -> None:
        """``plateau`` reductions for one session ``fit``, over the schedule set for the fits to come
        (its live factor kept), or over the rate as set."""
        self.forget_schedule()
        standing = self.driver
        self.set_schedule(standing.schedule, plateau, for_fit=True)
        self.driver.factor = standing.factor

    @property
    def standing_driver(self) -> RateDriver:
        """The driver of the fits to come (not one given to a session's ``fit``, which ends with it)."""
        return (self._standing or RateDriver()) if self._schedule_of_fit else self.driver

    def forget_schedule(self) -> None:
        """At the start of a fit: a schedule given to an earlier session's ``fit`` ended with it, and
        the one set for the fits to come (:meth:`set_schedule`, or edited while idle) drives this fit,
        if any; nothing is known of this fit's validation."""
        if self._schedule_of_fit:
            self.driver, self._schedule_of_fit, self._standing = self.standing_driver, False, None
        self.driver.validation_freq = None

    def replace_schedule(self, schedule: Schedule, source: str = "designer") -> None:
        """Follow ``schedule`` as designed (live factors dropped) from the next batch; the past stays.

        The schedule is evaluated here, at the step it would take over from: one that fails there
        (raises, or gives a negative, NaN or infinite rate) is refused with an error in the
        caller's thread and changes nothing.
        """
        if not callable(schedule):
            raise TypeError(f"Argument `schedule` must be callable on a step. Received: schedule={schedule!r}")
        check_name("source", source)
        ScheduleTable(schedule)(self.fit_step if self.running else 0)
        if self._post(lambda: setattr(self, "_schedule_request", (schedule, source)), while_fitting=True):
            return
        if self.running:  # from the training thread (a listener, an action): the next batch follows it
            self.callback.apply_requests(self.model)
        else:
            self.replace_idle(schedule)

    def replace_idle(self, schedule: Schedule) -> None:
        """Follow ``schedule`` from the next fit's first step, whichever fit starts (no fit runs); the
        last fit's own schedule and plateau, if it was given them, end with it."""
        target = self.standing_driver
        target.replace(0, schedule)  # a schedule that fails changes nothing
        self.driver, self._schedule_of_fit, self._standing = target, False, None

    def pause(self) -> None:
        """Hold training between two batches (no CPU used while paused)."""
        self._post(lambda: setattr(self, "_pause_requested", True), while_fitting=True)

    def resume(self) -> None:
        self._settle()  # a fit Keras ended without its callbacks is ended first, outside the lock
        with self._cond:
            self._pause_requested = False
            if self._state == "paused":
                self._state = "running"
            self._cond.notify_all()

    def stop(self, thread: threading.Thread | None = None) -> None:
        """End training at the next batch boundary; everything recorded is kept. ``thread``: only
        the fit that runs in it (a finished run's handle stops no later fit)."""

        def record() -> None:
            if thread is None or self._thread is thread:
                self._stop_requested = True
                self._state = "stopping"

        self._post(record, while_fitting=True)
        if self._state != "idle" and self._thread is threading.current_thread() and thread in (None, self._thread):
            # A callback's: Keras looks at this after each batch and each epoch's end (one called
            # at an epoch's end, after the session's callback had its turn, ends the fit there).
            self.model.stop_training = True

    def has_requests(self) -> bool:
        return (
            bool(self._actions)
            or bool(self._batch_actions)
            or self._lr_request is not None
            or self._schedule_request is not None
            or bool(self._multiplier_sources)
        )

    def request_stop(self) -> None:
        self._stop_requested = True
        self._attention = True


def _merged(asked: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """One dict of the changes recorded by who asked (disjoint, see ``set_multipliers``)."""
    return {name: value for theirs in asked.values() for name, value in theirs.items()}
