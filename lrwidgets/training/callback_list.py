"""The other callbacks of a ``model.fit`` called with ``callbacks=[session.callback]`` (callback mode).

A session's own fit builds its callback list: the session's callback first, the rate reader last,
after every callback that may set the rate (``LearningRateScheduler``, a warm-up). A fit called
directly takes the list its caller wrote, in the caller's order. So the callback finds the Keras
``CallbackList`` that calls its ``on_train_begin`` (a frame or two up the stack), learns the other
callbacks from it, and, when one of them acts before an epoch or a batch, puts the rate reader
last in that list for this fit: the rate recorded for each step is then the one it ran with, as in
a session's fit.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

import keras

if TYPE_CHECKING:
    from lrwidgets.training.callback import ControllerCallback

_KERAS_OWN = (keras.callbacks.History, keras.callbacks.ProgbarLogger)  # added by Keras: they set no rate


def overrides(callback: Any, name: str) -> bool:
    """Whether ``callback`` does something at hook ``name``: its class overrides it, or the instance
    holds its own function there (``keras.callbacks.LambdaCallback(on_epoch_begin=...)``)."""
    method = getattr(callback, name, None)
    return getattr(method, "__func__", method) is not getattr(keras.callbacks.Callback, name)


BATCH_STARTS = ("on_train_batch_begin", "on_batch_begin")
BATCH_ENDS = ("on_train_batch_end", "on_batch_end")
_BEFORE_BATCHES = ("on_epoch_begin", *BATCH_STARTS)
_AT_BATCHES = (*_BEFORE_BATCHES, *BATCH_ENDS)


def acts_before_batches(callbacks: list[Any]) -> bool:
    """Whether one of ``callbacks`` acts at an epoch's or a batch's start (where it may set the rate)."""
    return any(overrides(cb, hook) for cb in callbacks for hook in _BEFORE_BATCHES)


def acts_at_batches(callbacks: list[Any]) -> bool:
    """Whether one of ``callbacks`` acts at an epoch's start or at a batch's start or end."""
    return any(overrides(cb, hook) for cb in callbacks for hook in _AT_BATCHES)


def calling_list(callback: Any, depth: int = 8) -> Any | None:
    """The ``keras.callbacks.CallbackList`` whose ``on_train_begin`` calls ``callback``'s now (None:
    not found within ``depth`` frames)."""
    frame: FrameType | None = sys._getframe(1)
    for _ in range(depth):
        if frame is None:
            return None
        if frame.f_code.co_name == "on_train_begin":
            owner = frame.f_locals.get("self")
            if isinstance(owner, keras.callbacks.CallbackList) and any(cb is callback for cb in owner.callbacks):
                return owner
        frame = frame.f_back
    return None


def find(callback: ControllerCallback, fitted: Any, own: Any) -> Any | None:
    """Callback mode, first at the fit's start: the fit's ``CallbackList`` (None: not found). A
    ValueError when the model ``fitted`` is not the session's (``own``: its steps would be recorded
    as the session's, its rate steered as the other model's), or when the list holds ``callback``
    more than once (each batch would be recorded as many times)."""
    if fitted is not own:
        raise ValueError(
            "Argument `callbacks` of `model.fit` holds the callback of a session of another model: the"
            f" session's callback records and steers its own model ({own.name!r}) only. Received: the"
            f" fit of model {fitted.name!r}; make a session of it (`lrw.TrainingSession(model)`)"
        )
    found = calling_list(callback)
    listed = [] if found is None else list(found.callbacks)
    times = sum(cb is callback for cb in listed)
    if times > 1:
        raise ValueError(
            "Argument `callbacks` of `model.fit` must list the session's callback (`session.callback`,"
            f" `dash.callback`) once. Received: callbacks={listed!r} (listed {times} times)"
        )
    return found


def join(callback: ControllerCallback, found: Any | None) -> None:
    """Callback mode: set ``callback.others`` from the fit's list ``found`` (:func:`find`), and put
    its rate reader last in the list when one of them acts before an epoch or a batch."""
    reader = callback.reader
    callback.callback_list = found
    if found is None:  # another caller than Keras's fit: nothing known of the others
        callback.others, callback.reader_attached = [], False
        return
    leave(callback)  # a list kept from a fit that raised (Keras called no end then)
    callback.others = [cb for cb in found.callbacks if cb is not callback and not isinstance(cb, _KERAS_OWN)]
    callback.reader_attached = acts_before_batches(callback.others)
    if callback.reader_attached:
        found.callbacks.append(reader)


def first(callback: ControllerCallback) -> bool:
    """Callback mode: whether ``callback`` comes first in the fit's list :func:`join` found (Keras
    adds its own History and progress bar after the callbacks given)."""
    found = callback.callback_list
    return found is not None and bool(found.callbacks) and found.callbacks[0] is callback


def leave(callback: ControllerCallback) -> None:
    """Take the rate reader out of the list :func:`join` put it in (the caller's list may be reused)."""
    found = callback.callback_list
    if found is not None:
        found.callbacks[:] = [cb for cb in found.callbacks if cb is not callback.reader]


def given(value: Any, own: ControllerCallback) -> list[Any]:
    """The ``callbacks`` argument of a session's fit as a list: None, one callback, or a list or
    tuple of them (what Keras's ``fit`` takes), else a TypeError naming the argument; a ValueError
    when it holds the session's ``own`` callback (the fit adds it)."""
    if value is None:
        return []
    items = [value] if isinstance(value, keras.callbacks.Callback) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(cb, keras.callbacks.Callback) for cb in items):
        raise TypeError(
            "Argument `callbacks` must be a list of `keras.callbacks.Callback` instances."
            f" Received: callbacks={value!r}"
        )
    if any(cb is own or cb is own.reader for cb in items):
        raise ValueError(
            "Argument `callbacks` must not hold the session's own callback (`session.callback`,"
            f" `dash.callback`): its fit adds it. Received: callbacks={value!r}"
        )
    return list(items)
