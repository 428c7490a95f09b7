"""The views of a fit, called after changes: throttled while training, never allowed to break it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Listeners:
    """Callables run after changes; while training, at most once per ``interval`` s (see :meth:`due`).

    A listener that raises is recorded as an ``error`` event in ``recorder``'s history: a broken
    view must not end the training run.
    """

    def __init__(self, interval: float, recorder: Any) -> None:
        self.interval = interval
        self._recorder = recorder
        self._listeners: list[Callable[[], None]] = []
        self._last = 0.0

    def add(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Add ``listener``; returns a function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def notify(self) -> None:
        self._last = self._recorder.clock()
        for listener in list(self._listeners):
            try:
                listener()
            except Exception as e:
                self._recorder.event("error", f"display update failed: {type(e).__name__}: {e}")

    def due(self) -> bool:
        """Whether ``interval`` seconds have passed since the last notification."""
        return self._recorder.clock() - self._last >= self.interval
