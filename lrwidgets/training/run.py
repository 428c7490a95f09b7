"""A fit running in a background thread, and the handle returned to the notebook."""

from __future__ import annotations

import atexit
import math
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from lrwidgets.core.checks import check_float
from lrwidgets.training._keras_thread import thread_settings, use_thread_settings
from lrwidgets.training.controller import TrainingController

_SLICE = 0.1  # seconds: how soon a wait notices an interrupt another thread received
_EXIT_WAIT = 30.0  # seconds: how long Python's exit waits for a stopped fit to end
_RUNNING: weakref.WeakSet[TrainingRun] = weakref.WeakSet()  # runs whose thread may still train


class TrainingRun:
    """Handle on a background fit, returned at once by ``TrainingSession.fit`` (and ``TrainingDashboard.fit``).

    ``wait()`` blocks until the fit ends and returns the Keras ``History`` (also after Stop or a
    NaN stop, with everything recorded so far; None after a Stop that came before Keras began the
    fit, which then ran no batch), or re-raises the exception that ended training.
    A kernel interrupt while waiting stops training at the next batch boundary, waits for it to
    end (the weights stay finite and usable), then raises ``KeyboardInterrupt``.
    """

    def __init__(self, controller: TrainingController, target: Callable[[], Any]) -> None:
        self._controller = controller
        self._target = target
        self._done = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None
        self._settings = thread_settings()  # the caller's dtype policy and distribution, for the fit's thread
        self._thread = threading.Thread(target=self._main, name="lrwidgets-fit", daemon=True)
        controller.begin(self._thread)
        try:
            self._thread.start()
        except BaseException as e:  # no thread (the process's limit): the fit is over before it began
            self._error = e
            controller.finish(e)
            self._done.set()
            raise
        _RUNNING.add(self)

    def _main(self) -> None:
        try:
            use_thread_settings(self._settings)
            self._result = self._target()
        except BaseException as e:
            self._error = e
        finally:
            self._controller.finish(self._error)
            self._done.set()

    @property
    def done(self) -> bool:
        """True once the fit has ended, whatever the reason."""
        return self._done.is_set()

    @property
    def exception(self) -> BaseException | None:
        """The exception that ended the fit, if any."""
        return self._error

    @property
    def history(self) -> Any:
        """The Keras ``History`` once the fit has ended without error, else None."""
        return self._result

    def stop(self) -> None:
        """Ask this fit to end at the next batch boundary (returns at once; nothing once it ended)."""
        self._controller.stop(self._thread)

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for the fit to end; return its Keras ``History`` or re-raise its exception.

        Raises ``TimeoutError`` if ``timeout`` seconds pass first (training goes on).
        """
        if timeout is not None:
            timeout = check_float("timeout", timeout, ge=0)
        wait_or_stop(self._done, timeout, self._controller.stop, "The fit")
        if self._error is not None:
            raise self._error
        return self._result

    def __repr__(self) -> str:
        state = "done" if self.done else self._controller.state
        return f"<TrainingRun {state}, {self._controller.history.num_steps} steps>"


@atexit.register
def _stop_at_exit() -> None:
    """At Python's exit (a script's end, a kernel's shutdown): stop the fits still running and wait
    for them to end. The training thread is a daemon; left to run, it is cut in the middle of a
    step as Python finalizes, which may abort the process (XLA: "FATAL: exception not rethrown")."""
    runs = [run for run in list(_RUNNING) if not run.done]
    for run in runs:
        try:
            run.stop()
        except Exception as e:  # one that fails to stop does not keep the others from stopping
            sys.stderr.write(f"lrwidgets: a fit failed to stop at exit: {type(e).__name__}: {e}\n")
    if runs:
        sys.stderr.write(
            f"lrwidgets: {len(runs)} background fit(s) still running at exit, stopped at the next batch"
            " boundary; call `run.wait()` to let a fit finish.\n"
        )
    for run in runs:
        run._done.wait(_EXIT_WAIT)


def wait_or_stop(done: threading.Event, timeout: float | None, stop: Callable[[], None], what: str) -> None:
    """Wait for ``done``; ``TimeoutError`` after ``timeout`` seconds (the work goes on).

    A kernel interrupt while waiting calls ``stop()``, waits for the work to end (so nothing is
    left half-done), then raises ``KeyboardInterrupt``.
    """
    deadline = math.inf if timeout is None else time.monotonic() + timeout
    try:
        # In slices: the OS may hand the kernel's SIGINT to any thread of the process (a training
        # thread, a timer); Python then raises it here only when this thread runs bytecode again,
        # which one long wait would put off until the work ends.
        while not done.wait(min(_SLICE, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                break
        finished = done.is_set()
    except KeyboardInterrupt:
        stop()
        done.wait()
        raise
    if not finished:
        raise TimeoutError(f"{what} is still running after {timeout} s; call `wait()` again or `stop()`.")
