"""The snapshots a :class:`~lrwidgets.training.TrainingSession` sends its listeners: what changed
since each listener's last call, taken in the training thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrwidgets.core import Event
from lrwidgets.training.progress import Progress


@dataclass(frozen=True)
class Snapshot:
    """What changed since a listener's last call, taken in the training thread (immutable).

    ``loss``, ``learning_rate`` and ``time`` are the new per-step rows, ``first_step`` the index
    of the first of them (so ``num_steps = first_step + len(loss)``); ``epochs`` and ``events``
    are the new per-epoch logs and events. ``multipliers`` and ``update_sizes`` are the per-layer
    multipliers in effect and the last measured ``||dW|| / ||W||`` (empty without a
    ``LayerwiseOptimizer``).
    """

    progress: Progress
    paused: bool
    first_step: int
    loss: np.ndarray
    learning_rate: np.ndarray
    time: np.ndarray
    epochs: tuple[dict[str, Any], ...]
    events: tuple[Event, ...]
    multipliers: dict[str, float] = field(default_factory=dict)
    update_sizes: dict[str, float] = field(default_factory=dict)

    @property
    def num_steps(self) -> int:
        return self.first_step + len(self.loss)


Listener = Callable[[Snapshot], None]


class Snapshots:
    """A session's listeners, each sent :class:`Snapshot` s of what is new since its last call."""

    def __init__(self, controller: Any, update_sizes: Callable[[], dict[str, float]]) -> None:
        self._controller = controller
        self._update_sizes = update_sizes
        self._shared: tuple[tuple[int, ...], Snapshot] | None = None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """See :meth:`TrainingSession.subscribe`."""
        if not callable(listener):
            raise TypeError(f"Argument `listener` must be callable. Received: listener={listener!r}")
        cursor = {"steps": 0, "epochs": 0, "events": 0}
        lock = threading.Lock()
        inside = threading.local()  # in this thread, the listener is running: a change it makes
        # (a rate, a save) notifies again from within it. That nested call is skipped, not waited
        # for (the lock is this thread's: it would wait forever), and its rows come in one more
        # snapshot when the listener returns (its cursor has not moved past them).

        def tick() -> None:
            if getattr(inside, "active", False):
                inside.again = True
                return
            with lock:
                inside.active, inside.again = True, False
                try:
                    listener(self._take(cursor))
                    if inside.again:  # once: a listener that steers on each call must not loop
                        listener(self._take(cursor))
                finally:
                    inside.active = False

        return self._controller.add_listener(tick)

    def _take(self, cursor: dict[str, int]) -> Snapshot:
        h = self._controller.history
        n = h.num_steps
        first, seen_epochs, seen_events = cursor["steps"], cursor["epochs"], cursor["events"]
        # Listeners called in one round from the same point share one snapshot (it is immutable).
        key = (self._controller.listeners.rounds, first, seen_epochs, seen_events, n, len(h.epochs), len(h.events))
        shared = self._shared
        if shared is not None and shared[0] == key:
            snapshot = shared[1]
        else:
            snapshot = Snapshot(
                progress=self._controller.progress(),
                paused=self._controller.pause_requested,
                first_step=first,
                loss=np.array(h.column("loss", n)[first:]),
                learning_rate=np.array(h.column("learning_rate", n)[first:]),
                time=np.array(h.column("time", n)[first:]),
                epochs=tuple(h.epochs[seen_epochs : key[5]]),
                events=tuple(h.events[seen_events : key[6]]),
                multipliers=self._controller.multipliers,
                update_sizes=dict(self._update_sizes()),
            )
            for rows in (snapshot.loss, snapshot.learning_rate, snapshot.time):
                rows.flags.writeable = False  # shared: no listener may change what the next one reads
            self._shared = (key, snapshot)
        cursor.update(steps=n, epochs=key[5], events=key[6])
        return snapshot
