"""Flow control between the kernel and the page: updates go out no faster than the page draws them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import anywidget

from lrwidgets.widgets._esm import esm_path


class BrowserPacer(anywidget.AnyWidget):
    """A hidden widget whose front end (``js/pacer.js``) acknowledges each update once drawn.

    After each update the owner calls :meth:`sent`; the page answers with an ack after it has
    handled every earlier message and drawn a frame. :meth:`ready` says whether the next update
    may go: always until a first ack has come (a front end that never answers, or a widget not
    displayed, is not held back), then only when the last update was acknowledged or
    ``fallback`` seconds have passed (a closed or hidden page still gets an update that often).
    ``on_ack`` is called (in the kernel's thread) after each acknowledgement.
    """

    _esm = esm_path("pacer.js")

    def __init__(self, fallback: float = 1.0, on_ack: Callable[[], None] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fallback = float(fallback)
        self._on_ack = on_ack
        self._lock = threading.Lock()
        self._seq = 0
        self._acked = 0
        self._sent_at = 0.0
        self.acks = 0  #: acknowledgements received
        self.on_msg(self._on_message)

    def ready(self) -> bool:
        with self._lock:
            if self.acks == 0 or self._acked >= self._seq:
                return True
            return time.monotonic() - self._sent_at >= self.fallback

    def sent(self) -> None:
        """Record that an update went out, and ask the page to acknowledge it."""
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._sent_at = time.monotonic()
        self.send({"type": "tick", "seq": seq})

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ack" and isinstance(content.get("seq"), int):
            with self._lock:
                self._acked = max(self._acked, content["seq"])
                self.acks += 1
            if self._on_ack is not None:
                self._on_ack()
