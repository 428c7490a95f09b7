"""The ``rewind`` fix of a blow-up: the last healthy state kept before it, put back with a lower rate.

A ``diverging``, ``spiked`` or ``collapsed`` verdict (the core's) advises a lower rate; lowering it
leaves the blown-up weights (a collapsed model stays at chance). :class:`Rewinds` looks in the NaN
guard's copies for a state from before the blow-up and, when one is kept, gives the verdict a
``rewind`` fix that puts it back and sets the advised rate. Training thread (the guard's copies
are read there), then any thread for the action.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from lrwidgets.core.diagnosis import Diagnosis, Fix
from lrwidgets.training import _state
from lrwidgets.training.nan_guard import NanGuard, State, put_back

#: The verdicts of a blow-up, which a rewind can undo.
BLOW_UPS = ("diverging", "spiked", "collapsed")


def healthy_until(verdict: Diagnosis) -> int:
    """The first history step whose weights the blow-up may have touched: a state kept before it is
    healthy for ``verdict``. ``spiked`` and ``collapsed`` (a rate that blew the model up): after the
    rate's first batch, whose state saw no update at that rate; ``diverging``: its first step."""
    if verdict.kind == "spiked":
        return verdict.first_step + 1  # its first step is the rate's
    if verdict.kind == "collapsed":
        return int(verdict.evidence.get("rate_start", verdict.first_step)) + 1
    return verdict.first_step


def describe(verdict: Diagnosis, fix: Fix, source: str) -> str:
    """The ``action`` event of a rewind."""
    return f"rewound to step {fix.step}: its weights and optimizer state put back ({source}: {verdict.kind})"


class Rewinds:
    """The state the latest ``rewind`` fix puts back: one full copy of the weights and optimizer
    state, for the fit it was kept in (a later fit drops it).

    Made by a session's :class:`~lrwidgets.Diagnostician`: the guard then keeps, besides its last
    healthy copy, the one before it and the fit's first (:attr:`NanGuard.keeps_more`).
    """

    def __init__(self, guard: NanGuard) -> None:
        self._guard = guard
        guard.keeps_more = True
        self._lock = threading.Lock()
        self._kept: tuple[State, int] | None = None  # the state, and its fit (the guard's count)
        self._spent_at: int | None = None  # the history step its rewind was asked at (None: not yet)

    def offer(self, verdict: Diagnosis) -> Diagnosis:
        """``verdict`` with a ``rewind`` fix (its advised rate) when a healthy state from before its
        blow-up is kept, else as it is (training thread)."""
        fix = verdict.action
        if verdict.kind not in BLOW_UPS or fix is None or fix.kind != "set_learning_rate":
            return verdict
        state = self._guard.healthy_before(healthy_until(verdict))
        if state is None:
            return verdict
        with self._lock:
            self._kept, self._spent_at = (state, self._guard.fits), None
        advice = f"{verdict.advice}; the fix first rewinds to step {state.step}, the last healthy state kept before it"
        return dataclasses.replace(
            verdict, advice=advice, action=Fix("rewind", learning_rate=fix.learning_rate, step=state.step)
        )

    def kept(self, fix: Fix) -> bool:
        """Whether ``fix``'s state is the one kept, in the fit it was kept in (a later fit dropped it),
        and not put back yet."""
        return self._why_not_kept(fix, self._read()) is None

    def _read(self) -> tuple[State, int] | None:
        with self._lock:
            return self._kept

    def _why_not_kept(self, fix: Fix, kept: tuple[State, int] | None) -> str | None:
        """Why ``fix``'s state cannot be put back, or None when ``kept`` is it, in its fit."""
        if kept is None:
            return "none is"
        if kept[1] != self._guard.fits:
            return f"step {kept[0].step}'s was the last verdict's, and a fit began since"
        if kept[0].step != fix.step:
            return f"only step {kept[0].step}'s (the latest verdict's) is"
        if self._spent_at is not None:
            return f"it was put back, asked at step {self._spent_at}, and is not put back twice"
        return None

    def spend(self, fix: Fix, step: int | None) -> None:
        """``fix``'s state was asked to be put back at history step ``step``: no second rewind to it
        (until a later verdict keeps a state again); None: the request was refused after all."""
        with self._lock:
            if self._kept is not None and self._kept[0].step == fix.step:
                self._spent_at = step

    def action(self, fix: Fix) -> Callable[[Any], None]:
        """What puts ``fix``'s state back into a model (the rate and multipliers left as steered);
        refused, naming ``fix``, when that state is not the one kept or a fit began since."""
        kept = self._read()
        why = self._why_not_kept(fix, kept)
        if why is not None or kept is None:
            raise ValueError(f"The state of step {fix.step} is not kept: {why}. Received: fix={fix!r}")
        state, guard = kept[0], self._guard

        def rewind(model: Any) -> None:
            put_back(model, state, _state.steered_variables(model))
            guard.rewound(state)

        return rewind
