"""Python warnings raised in a training thread, routed to the session that runs it.

One hook on ``warnings.showwarning`` serves every session: it is installed when the first route
opens and removed when the last closes, and it passes each warning on to whatever hook was there
before. A warning raised in a thread that trains is also handed to that thread's sink, so two
sessions training at once each see their own, and one fit ending never silences another.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Sink = Callable[[str], None]

_lock = threading.Lock()
_routes: dict[int, Sink] = {}  # thread ident -> sink
_original: Any = None


def _showwarning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    sink = _routes.get(threading.get_ident())
    if sink is not None:
        with contextlib.suppress(Exception):  # a broken sink must not turn a warning into an error
            sink(f"{category.__name__}: {message}")
    original = _original or warnings._showwarning_orig  # type: ignore[attr-defined]
    original(message, category, filename, lineno, file, line)


def open_route(sink: Sink) -> Callable[[], None]:
    """Send warnings raised in the calling thread to ``sink`` until the returned function is called.

    A thread already routed keeps its route (and the returned function does nothing).
    """
    global _original
    ident = threading.get_ident()
    with _lock:
        if ident in _routes:  # already routed (a session's run routes its whole thread): keep that one
            return lambda: None
        if not _routes:
            _original = warnings.showwarning
            warnings.showwarning = _showwarning
        _routes[ident] = sink

    def close() -> None:
        global _original
        with _lock:
            if _routes.get(ident) is not sink:
                return
            del _routes[ident]
            if not _routes and warnings.showwarning is _showwarning:
                warnings.showwarning = _original
                _original = None

    return close


@contextmanager
def routed(sink: Sink) -> Iterator[None]:
    """``with routed(sink):`` warnings of this thread go to ``sink`` too."""
    close = open_route(sink)
    try:
        yield
    finally:
        close()
