"""A sweep's bookkeeping: each trial's status, streamed curve and ended row, the queue of trials
still to submit, and the listeners told of each change. Thread-safe: Dask's client thread, the
sweep's own thread and the caller's share it under one lock."""

from __future__ import annotations

import threading
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lrwidgets.core.checks import check_int, received
from lrwidgets.sweep.grid import Trial
from lrwidgets.sweep.results import FINISHED

STATUSES = ("queued", "running", "done", "failed", "cancelled")
UNFINISHED = ("queued", "running")


@dataclass
class TrialCurve:
    """What a trial has streamed so far: per-step loss and rate (chunk means), per-epoch logs."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    epochs: list[dict[str, float]] = field(default_factory=list)
    epoch: int = 0
    num_epochs: int = 0
    #: the run of the trial these points are from (a worker's id of it), and the runs given up:
    #: Dask may run a task again (its worker lost, on a cluster that allows it), and a trial queued
    #: again runs anew; a late message of a run given up is not added
    attempt: str | None = None
    retired: frozenset[str] = frozenset()

    def copy(self) -> TrialCurve:
        return TrialCurve(
            list(self.steps),
            list(self.loss),
            list(self.learning_rate),
            list(self.epochs),
            self.epoch,
            self.num_epochs,
            self.attempt,
            self.retired,
        )

    def given_up(self) -> frozenset[str]:
        """The runs given up once this one is (when another one starts)."""
        return self.retired if self.attempt is None else self.retired | {self.attempt}


class TrialTable:
    """Status, curve and row of every trial of a grid; the queue of the trials to submit.

    Every method takes the lock (an ``RLock``: a caller may hold it around several calls).
    """

    def __init__(self, trials: Sequence[Trial]) -> None:
        self.trials = trials
        self.lock = threading.RLock()
        self.status: dict[int, str] = {t.trial: "queued" for t in trials}
        self.ended: dict[int, dict[str, Any]] = {}
        self.curves: dict[int, TrialCurve] = {t.trial: TrialCurve() for t in trials}
        self.queue: deque[Trial] = deque()
        self.stopping = False
        self.cancel_times: dict[int, float] = {}  # trial -> time.time() of its cancel request
        self._listeners: list[Callable[[set[int]], None]] = []

    # ---- reading ---------------------------------------------------------------------------------
    def statuses(self) -> dict[int, str]:
        with self.lock:
            return dict(self.status)

    def curve(self, trial: int) -> TrialCurve:
        with self.lock:
            return self.curves[trial].copy()

    def rows(self) -> list[dict[str, Any]]:
        """One dict a trial: its ended row, else its config, status and an empty reason."""
        with self.lock:
            return [
                self.ended.get(t.trial) or {**t.config(), "status": self.status[t.trial], "reason": ""}
                for t in self.trials
            ]

    def unfinished(self, trial: int) -> bool:
        with self.lock:
            return self.status[trial] in UNFINISHED

    # ---- listeners -------------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[set[int]], None]) -> Callable[[], None]:
        if not callable(listener):
            raise TypeError(f"Argument `listener` must be callable. {received('listener', listener)}")
        with self.lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self.lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def notify(self, trials: set[int]) -> None:
        """Call every listener; one that raises is warned about and never stops the sweep."""
        with self.lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(trials)
            except Exception as e:
                warnings.warn(f"a sweep listener failed: {type(e).__name__}: {e}", RuntimeWarning, stacklevel=2)

    # ---- changes ---------------------------------------------------------------------------------
    def start(self, resume: bool) -> None:
        """A new run: every trial queued again, but (when ``resume``) the done and failed ones."""
        with self.lock:
            if not resume:
                self.ended.clear()
            keep = {t for t, r in self.ended.items() if r["status"] in FINISHED}
            self.ended = {t: self.ended[t] for t in keep}
            self.cancel_times = {t: v for t, v in self.cancel_times.items() if t in keep}  # the last run's
            self.queue = deque(t for t in self.trials if t.trial not in keep)
            for t in self.trials:
                if t.trial not in keep:
                    self.status[t.trial] = "queued"
                    self.curves[t.trial] = TrialCurve()
            self.stopping = False

    def next_queued(self) -> Trial | None:
        """The next trial to submit (taken off the queue), or None when stopping or none is left."""
        with self.lock:
            if self.stopping or not self.queue:
                return None
            return self.queue.popleft()

    def requeue(self, trial: Trial) -> bool:
        """Queue ``trial`` again, first, its curve started afresh (Dask cancelled it: the data sent
        to the workers was lost); False, and nothing changes, when stopping or asked to cancel it."""
        with self.lock:
            if self.stopping or trial.trial in self.cancel_times:
                return False
            self.queue.appendleft(trial)
            self.status[trial.trial] = "queued"
            self.curves[trial.trial] = TrialCurve(retired=self.curves[trial.trial].given_up())
            return True

    def end(self, trial: Trial, row: dict[str, Any]) -> None:
        """Trial ``trial`` ended with ``row`` (its status in ``row["status"]``)."""
        with self.lock:
            self.ended[trial.trial] = row
            self.status[trial.trial] = row["status"]

    def add_progress(self, msg: dict[str, Any]) -> int:
        """A worker's progress message added to its trial's curve (a queued trial is now running); the trial."""
        t: int = msg["trial"]
        attempt = msg.get("attempt")
        with self.lock:
            c = self.curves[t]
            if attempt in c.retired:
                return t  # sent by a run given up, arriving late
            if attempt != c.attempt:
                if c.attempt is not None:  # Dask ran the trial again: its curve starts afresh
                    c = self.curves[t] = TrialCurve(retired=c.given_up())
                c.attempt = attempt
            c.steps += msg["steps"]
            c.loss += msg["loss"]
            c.learning_rate += msg["learning_rate"]
            c.epochs += msg["epochs"]
            c.epoch, c.num_epochs = msg["epoch"], msg["num_epochs"]
            if self.status[t] == "queued":
                self.status[t] = "running"
        return t

    def cancel(self, trial: int, now: float) -> Trial | None:
        """Record a cancel request of an unfinished trial; the trial if it was still queued (taken
        off the queue), else None."""
        with self.lock:
            self.cancel_times[trial] = now
            queued = next((q for q in self.queue if q.trial == trial), None)
            if queued is not None:
                self.queue.remove(queued)
            return queued

    def stop(self, now: float) -> list[Trial]:
        """Stop submitting; the trials still queued (the queue emptied). Cancel times recorded."""
        with self.lock:
            self.stopping = True
            left, self.queue = list(self.queue), deque()
            for t in self.trials:
                if self.status[t.trial] in UNFINISHED:
                    self.cancel_times.setdefault(t.trial, now)
            return left

    def abandon(self) -> list[Trial]:
        """The queue emptied; the trials not ended (queued or running), to be ended as cancelled."""
        with self.lock:
            left = [t for t in self.trials if self.status[t.trial] in UNFINISHED]
            self.queue.clear()
            return left

    def _trials_of(self, rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Trial | None]]:
        """Each saved row with the trial of its learning rate, optimizer, schedule and seed (None: none here)."""
        by_key = {t.key: t for t in self.trials}
        return [
            (row, by_key.get((row["learning_rate"], row["optimizer"], row["schedule"], row["seed"]))) for row in rows
        ]

    def unmatched(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The saved rows of no trial here."""
        return [row for row, t in self._trials_of(rows) if t is None]

    def restore(self, rows: list[dict[str, Any]]) -> None:
        """Saved rows put back on their trials (see :meth:`unmatched` for the others)."""
        with self.lock:
            for row, t in self._trials_of(rows):
                if t is not None:
                    self.ended[t.trial] = {**row, "trial": t.trial}
                    self.status[t.trial] = row["status"]


def check_trial(trial: Any, count: int) -> int:
    """`trial` checked as the index of one of `count` trials."""
    t = check_int("trial", trial, ge=0)
    if t >= count:
        raise ValueError(f"Argument `trial` must be < {count} (the sweep's trials). {received('trial', trial)}")
    return t
