"""The views of a fit, called after changes: throttled while training, never allowed to break it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: The largest share of the training thread's time that the listeners may take while training, as
#: measured around a round: when a round takes longer than this share of ``interval``, the next round
#: waits longer. A round costs the fit more than the time measured around it: the 30-100 batches
#: after it are slower than usual ones, by 0.3-0.9x the round's own time in all, in a kernel and
#: outside one. 1%, not 0.5%: outside a kernel a 4-epoch fit of the benchmark's smallest step
#: (~1.5 s) spent 29 ms in and after its rounds at 1% and 20 ms at 0.5%, but in a kernel 183 paired
#: fits at each share read the same (1.039x / 1.051x at 1%, 1.036x / 1.051x at 0.5%, in a background
#: fit / with `dash.callback`), and 0.5% gave a third to half the updates a second there (1.0-1.1
#: instead of 2.1-3.0). 2026-12-02; benchmarks/RESULTS.md.
MAX_SHARE = 0.01
#: ... but never more than this many ``interval``s: a view slower than that still updates that often.
MAX_STRETCH = 10.0


class Listeners:
    """Callables run after changes; while training, at most once per ``interval`` s (see :meth:`due`).

    The views run in the training thread, between two batches: their time is the fit's. So a
    round that takes more than ``MAX_SHARE`` (1%) of ``interval`` (a dashboard drawing a fast fit's
    many new steps) spreads the rounds further apart, to ``cost / MAX_SHARE`` (``cost``: the
    recent rounds' time: the last one's if it was slower, else halfway down to it), up to
    ``MAX_STRETCH`` (10) x ``interval``.

    A listener that raises is recorded as an ``error`` event in ``recorder``'s history: a broken
    view must not end the training run.
    """

    def __init__(self, interval: float, recorder: Any) -> None:
        self.interval = interval
        self._recorder = recorder
        self._listeners: list[Callable[[], None]] = []
        self._last = 0.0
        self._cost: float | None = None  #: seconds a round takes (estimated: see notify)
        self.gap = interval  #: seconds from one round's start to the next while training
        self.rounds = 0  #: rounds started so far

    def add(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Add ``listener``; returns a function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def notify(self) -> None:
        self.rounds += 1
        start = self._last = self._recorder.clock()
        for listener in list(self._listeners):
            try:
                listener()
            except Exception as e:
                self._recorder.event("error", f"display update failed: {type(e).__name__}: {e}")
        spent = self._recorder.clock() - start
        # A slower round counts at once (the rounds of a fit's start, with few rows, must not leave
        # the next ones, with many, too close); a faster one brings the estimate down by halves.
        cost = self._cost = spent if self._cost is None or spent > self._cost else 0.5 * (self._cost + spent)
        self.gap = min(max(self.interval, cost / MAX_SHARE), MAX_STRETCH * self.interval)

    @property
    def next_at(self) -> float:
        """When (the recorder's clock) the next round is due."""
        return self._last + self.gap

    def due(self, now: float | None = None) -> bool:
        """Whether the next round may run: ``gap`` seconds (``interval``, or more for slow views)
        have passed since the last one started. ``now``: the recorder's clock, if just read."""
        return (self._recorder.clock() if now is None else now) - self._last >= self.gap
