"""Whether a ``model.fit`` called with ``callbacks=[session.callback]`` is still running.

In that mode the fit runs in the caller's thread, and Keras calls no callback when the fit ends by
an exception or an interrupt (Jupyter's Interrupt is a ``KeyboardInterrupt`` in the cell): the
session would stay "running", the model claimed, its warnings routed, for good. Keras's ``fit``
frame, found when the fit begins, tells: the fit runs while that frame is on its thread's stack.
"""

from __future__ import annotations

import sys
import threading
from types import CodeType, FrameType


class FitFrame:
    """The frame of the Keras ``fit`` that called the callback in ``thread`` (None: not found)."""

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread
        self._mark: tuple[int, CodeType] | None = None
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name == "fit" and str(frame.f_globals.get("__name__", "")).startswith("keras."):
                self._mark = (id(frame), frame.f_code)  # not the frame: it holds the fit's data alive
                break
            frame = frame.f_back

    @property
    def found(self) -> bool:
        return self._mark is not None

    def over(self) -> bool:
        """True when the fit has returned or raised (False when its frame was not found: unknown)."""
        mark = self._mark
        if mark is None:
            return False
        if not self.thread.is_alive():
            return True
        if self.thread is threading.current_thread():
            frame: FrameType | None = sys._getframe()
        else:
            frame = sys._current_frames().get(self.thread.ident or -1)
        while frame is not None:
            if id(frame) == mark[0] and frame.f_code is mark[1]:
                return False
            frame = frame.f_back
        return True
