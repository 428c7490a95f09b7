"""A pause: the training thread held between two batches (or in a validation pass) until resumed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrwidgets.training import _state
from lrwidgets.training.requests import WAIT_SLICE

if TYPE_CHECKING:
    from lrwidgets.training.callback import ControllerCallback


def wait_while_paused(callback: ControllerCallback, model: Any, validating: bool = False) -> None:
    """Block the training thread until resumed or stopped; changes made meanwhile apply at once.
    Paused in a validation pass (`validating`), only actions on the model (a save, which its
    caller waits for) are carried out at once; the rate, multipliers, schedule edits and a rewind
    (which goes with its rate) wait for the next training batch, as those asked during a pass do."""
    c = callback._controller
    _state.sync(model)  # first: once "paused" is seen, the variables hold the fit's state (jax)
    c._state = "paused"
    where = f" during epoch {c.recorder.meter.epoch}'s validation" if validating else ""
    c.recorder.event("pause", f"paused{where}")
    c._notify()
    while True:
        with c._cond:
            while c._pause_requested and not c._stop_requested and not (c._actions if validating else c.has_requests()):
                c._cond.wait(WAIT_SLICE)  # in slices: an interrupt of this thread is raised between two
            if not c._pause_requested or c._stop_requested:
                break
        if validating:
            callback.run_actions(model, validating=True)
        else:
            callback.apply_requests(model)
        c._notify()
    if not c._stop_requested:
        c._state = "running"
        c.recorder.event("resume", "resumed")
