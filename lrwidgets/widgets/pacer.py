"""Flow control between the kernel and the page: updates go out no faster than the page draws them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import anywidget

from lrwidgets.widgets._errors import shows_errors
from lrwidgets.widgets._esm import esm_path


class BrowserPacer(anywidget.AnyWidget):
    """A hidden widget whose front end (``js/pacer.js``) acknowledges each update once drawn.

    After each update the owner calls :meth:`sent`; the page answers with an ack after it has
    handled every earlier message and drawn a frame. :meth:`ready` says whether the next update
    may go: always until a first ack has come (a front end that never answers, or a widget not
    displayed, is not held back), then only when the last update was acknowledged or
    ``fallback`` seconds have passed (a closed or hidden page still gets an update that often).
    ``on_ack`` is called (in the kernel's thread) after each acknowledgement.

    The page is not trusted: only an acknowledgement of an update that went out counts (a bogus
    one, such as ``seq=10**18``, would otherwise switch pacing off for good). A refused message, or
    an error raised by ``on_ack``, is kept in :attr:`error` and handed to ``on_error`` if given
    (the owner's message area: this widget has no view of its own).
    """

    _esm = esm_path("pacer.js")

    def __init__(
        self,
        fallback: float = 1.0,
        on_ack: Callable[[], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fallback = float(fallback)
        self._on_ack = on_ack
        self._on_error = on_error
        self.error = ""  #: the last refused message or ``on_ack`` error, "" if none
        self._lock = threading.Lock()
        self._seq = 0
        self._acked = 0
        self._sent_at = 0.0
        self.acks = 0  #: acknowledgements received
        self.on_msg(self._on_message)

    def ready(self) -> bool:
        return self.wait() <= 0

    def wait(self) -> float:
        """Seconds until the next update may go (0: now)."""
        with self._lock:
            if self.acks == 0 or self._acked >= self._seq:
                return 0.0
            return max(0.0, self._sent_at + self.fallback - time.monotonic())

    def sent(self) -> None:
        """Record that an update went out, and ask the page to acknowledge it."""
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._sent_at = time.monotonic()
        self.send({"type": "tick", "seq": seq})

    def _show_error(self, message: str) -> None:
        self.error = message
        if message and self._on_error is not None:
            self._on_error(message)

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "ack":
            return
        with shows_errors(self._show_error):
            seq = content.get("seq")
            with self._lock:
                sent = self._seq
                counts = False
                if isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= sent:
                    self._acked = max(self._acked, seq)
                    self.acks += 1
                    counts = True
            if not counts:
                raise ValueError(f"An acknowledgement must name an update sent (1 to {sent}). Received: seq={seq!r}")
            if self._on_ack is not None:
                self._on_ack()
