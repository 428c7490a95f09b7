"""A kernel interrupt during a ``model.fit(callbacks=[session.callback])`` in the main thread.

Jupyter's Interrupt sends SIGINT, which Python raises as a ``KeyboardInterrupt`` wherever the main
thread is. In a fit that is mid-step: on jax Keras keeps an epoch's state outside the model's
variables (it empties them before the epoch's first step and puts the state back at its end), and
an interrupt there left every variable a deleted array, the model unusable for good (Keras alone
too); on torch a ``LayerwiseOptimizer`` step could be left half applied. While such a fit runs, the
first interrupt asks it to stop at its next batch boundary, as Stop does; when it has ended (every
batch recorded, the model as after its last batch, every callback's ``on_train_end`` called), the
interrupt is raised, so that the cell stops there as it would have. A second interrupt while it
stops, or one after the fit has gone (it raised), goes to the handler that was there before.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lrwidgets.training.controller import TrainingController

_INTERRUPTED = (
    "interrupted: the fit stopped at a batch boundary, every batch is recorded, and the model is as after its"
    " last batch"
)


class InterruptStops:
    """SIGINT as a Stop for a controller's fits run in the main thread (callback mode)."""

    def __init__(self, controller: TrainingController) -> None:
        self._controller = controller
        self._previous: Any = None
        self._installed = False
        self.asked = False

    def install(self) -> None:
        """At a fit's start, in its thread: the handler, when that thread is the main one and Python
        handles SIGINT there (not when the signal is ignored, or handled outside Python)."""
        self.asked = False
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGINT)
        owner = getattr(previous, "__self__", None)
        if isinstance(owner, InterruptStops):  # left by a fit that raised: the one before it
            previous = owner._previous
        if previous is None or previous is signal.SIG_IGN:
            return
        self._previous = previous
        signal.signal(signal.SIGINT, self._handle)
        self._installed = True

    def uninstall(self) -> None:
        """At the fit's end: the handler before it back (in the main thread; from another one, the
        handler stays and passes the next interrupt on)."""
        if not self._installed or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) == self._handle:
            signal.signal(signal.SIGINT, self._previous)
        self._installed = False

    def raise_after(self, found: Any, model: Any, callback: Any, logs: Any) -> None:
        """At the session ``callback``'s ``on_train_end`` of a fit an interrupt stopped: raise it once
        every later callback of the fit's Keras list ``found`` has had its end (``EarlyStopping`` puts
        its best weights back there, a logger closes its file); now when the list is not known.

        The later ends are called here, each even when one before it raised, and the interrupt is
        raised after them (with the first of their errors as its context): Keras's loop ends with it,
        so none is called twice, and a failing end can neither hide the interrupt nor skip the ends
        after it."""
        listed = getattr(found, "callbacks", None)
        listed = listed if isinstance(listed, list) else []
        at = next((i for i, cb in enumerate(listed) if cb is callback), None)
        if at is None:
            self.raise_if_asked()
            return
        self.asked = False  # first: a second interrupt during the ends below finds no stale request
        later = listed[at + 1 :]
        error: Exception | None = None
        try:
            for other in later:
                try:
                    other.on_train_end(logs)
                except Exception as e:  # each end is called, whatever the one before did
                    error = error or e
        finally:  # as Keras does after the ends (jax), a second interrupt among them included
            if getattr(model, "_jax_state_synced", False):
                model._jax_state = None
        interrupt = KeyboardInterrupt(_INTERRUPTED)
        interrupt.__context__ = error
        raise interrupt

    def raise_if_asked(self) -> None:
        """At the end of a fit an interrupt stopped (its thread, after its records): raise it now."""
        if self.asked:
            self.asked = False
            raise KeyboardInterrupt(_INTERRUPTED)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        c = self._controller
        fit = c._fit_frame
        if self.asked or fit is None or fit.thread is not threading.main_thread() or fit.over():
            # a second interrupt, or no fit of the main thread's that runs (over, or in another thread)
            self.uninstall()
            self.asked = False
            previous = self._previous
            if callable(previous):
                previous(signum, frame)
            else:  # SIG_DFL: what Python's own handler does
                signal.default_int_handler(signum, frame)
            return
        # Flags only, no lock: this runs in the training thread itself, wherever it was.
        self.asked = True
        if not c._stop_requested:  # a Stop asked before it is what stopped the fit
            c.recorder.stop_note = " by a kernel interrupt" + c.recorder.stop_note
        c.request_stop()
        c.model.stop_training = True
