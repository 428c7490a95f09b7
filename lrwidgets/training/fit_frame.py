"""Whether a ``model.fit`` called with ``callbacks=[session.callback]`` is still running.

In that mode the fit runs in the caller's thread, and Keras calls no callback when the fit ends by
an exception or an interrupt (Jupyter's Interrupt is a ``KeyboardInterrupt`` in the cell): the
session would stay "running", the model claimed, its warnings routed, for good. Keras's ``fit``
frame, found when the fit begins, tells: the fit runs while that frame is on its thread's stack.
"""

from __future__ import annotations

import sys
import threading
from types import FrameType
from typing import Any


class FitFrame:
    """The frame of the Keras ``fit`` that called the callback in ``thread`` (None: not found)."""

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread
        # The frame itself, not its id: a freed frame's address is reused by the next fit's frame.
        # It keeps the fit's locals alive until the fit is seen over (``TrainingController.finish``
        # drops it).
        self._frame: FrameType | None = None
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name == "fit" and str(frame.f_globals.get("__name__", "")).startswith("keras."):
                self._frame = frame
                break
            frame = frame.f_back

    @property
    def found(self) -> bool:
        return self._frame is not None

    def arguments(self, names: tuple[str, ...]) -> dict[str, Any] | None:
        """The values of Keras's ``fit`` locals ``names`` now (the fit's data: its training part once
        ``validation_split`` took the rest); None when the frame was not found or has none of them."""
        if self._frame is None:
            return None
        local = self._frame.f_locals
        found = {n: local[n] for n in names if n in local}
        return found if "x" in found else None

    def over(self) -> bool:
        """True when the fit has returned or raised (False when its frame was not found: unknown)."""
        mark = self._frame
        if mark is None:
            return False
        if not self.thread.is_alive():
            return True
        if self.thread is threading.current_thread():
            frame: FrameType | None = sys._getframe()
        else:
            frame = sys._current_frames().get(self.thread.ident or -1)
        while frame is not None:
            if frame is mark:
                return False
            frame = frame.f_back
        return True
