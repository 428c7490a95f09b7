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
    healthy for ``verdict``. ``spiked``: after the rate's first batch (the state it used saw no
    update at that rate); ``collapsed``: the batch of the peak loss; ``diverging``: its first step."""
    if verdict.kind == "spiked":
        return verdict.first_step + 1
    if verdict.kind == "collapsed":
        return int(verdict.evidence.get("peak_step", verdict.first_step))
    return verdict.first_step


def describe(verdict: Diagnosis, fix: Fix, source: str) -> str:
    """The ``action`` event of a rewind."""
    return f"rewound to step {fix.step}: its weights and optimizer state put back ({source}: {verdict.kind})"


class Rewinds:
    """The state the latest ``rewind`` fix puts back (one: a model's weights and optimizer state)."""

    def __init__(self, guard: NanGuard) -> None:
        self._guard = guard
        self._lock = threading.Lock()
        self._state: State | None = None

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
            self._state = state
        advice = f"{verdict.advice}; the fix first rewinds to step {state[2]}, the last healthy state kept before it"
        return dataclasses.replace(
            verdict, advice=advice, action=Fix("rewind", learning_rate=fix.learning_rate, step=state[2])
        )

    def action(self, fix: Fix) -> Callable[[Any], None]:
        """What puts ``fix``'s state back into a model (the rate and multipliers left as steered);
        refused, naming ``fix``, when that state is not the one kept."""
        with self._lock:
            state = self._state
        if state is None or state[2] != fix.step:
            kept = "none is" if state is None else f"only step {state[2]}'s (the latest verdict's) is"
            raise ValueError(f"The state of step {fix.step} is not kept: {kept}. Received: fix={fix!r}")
        return lambda model: put_back(model, state, _state.steered_variables(model))
