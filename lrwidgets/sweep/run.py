"""The handle on a running sweep."""

from __future__ import annotations

import os
import sys
import threading
import warnings
from types import FrameType
from typing import TYPE_CHECKING, Any

from lrwidgets.core.checks import check_float
from lrwidgets.training.run import wait_or_stop

if TYPE_CHECKING:
    from lrwidgets.sweep.sweep import Sweep


class SweepRun:
    """Handle on a running sweep, returned at once by :meth:`Sweep.run`."""

    def __init__(self, sweep: Sweep) -> None:
        self._sweep = sweep
        self._done = threading.Event()
        self.error: BaseException | None = None
        self._told = False  # a monitor no trial logged: said once, at the first wait after the run

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def stop(self) -> None:
        self._sweep.stop()

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for every trial to end; return ``sweep.results`` (or re-raise what kept the sweep
        from running). Warns when trials are done but none logged the sweep's ``monitor``.
        ``timeout``: seconds (>= 0), or None to wait until the end."""
        timeout = None if timeout is None else check_float("timeout", timeout, ge=0)
        wait_or_stop(self._done, timeout, self._sweep.stop, "The sweep")
        if self.error is not None:
            raise self.error
        sweep = self._sweep
        told, self._told = self._told, True
        why = None if told or sweep.monitor is None else sweep.why_no_best
        if why is not None and any(r.get("status") == "done" for r in sweep.rows):
            warnings.warn(f"{why}: no trial is best", stacklevel=_outside(sys._getframe()))
        return sweep.results


def _outside(frame: FrameType | None) -> int:
    """The ``stacklevel`` of ``warnings.warn`` called in ``frame`` that names the first frame
    outside lrwidgets (the user's line, whichever of ``run.wait``, ``sweep.wait``, ... it called)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame, level = frame.f_back, level + 1
    return level
