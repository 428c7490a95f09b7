"""One fit per model at a time, and model methods that stay safe while a fit runs.

While a controller trains a model, it owns it: a second fit, by another session or by a plain
``model.fit``, is refused before it touches anything (on jax it would crash on donated buffers;
on tensorflow the two would interleave silently). ``model.evaluate``, ``predict`` and the
``*_on_batch`` methods called from the notebook (the main thread) while another thread trains are
refused (they would reset the fit's metrics, or read a stale state on jax). ``model.save`` and
``model.save_weights`` called from another thread, and ``model.get_weights`` called from the
notebook (the main thread), are carried out in the training thread between two batches, where
the state can be read (on jax it cannot be read anywhere else mid-epoch); a save goes into a
temporary file renamed over the target only once complete: an earlier good save is never
truncated. Called from the training thread (``keras.callbacks.ModelCheckpoint``) they run as usual.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lrwidgets.training.controller import TrainingController

_lock = threading.Lock()
_owners: weakref.WeakKeyDictionary[Any, TrainingController] = weakref.WeakKeyDictionary()
_reserved: weakref.WeakKeyDictionary[Any, TrainingController] = weakref.WeakKeyDictionary()
#: Refused from the notebook (the main thread) while another thread trains: they would reset the
#: fit's metrics or, on jax, read a stale state. Other threads (a data pipeline's workers) run them.
_FROM_NOTEBOOK = ("evaluate", "predict", "train_on_batch", "test_on_batch", "predict_on_batch")
GUARDED = ("fit", "compile", "save", "save_weights", "get_weights", *_FROM_NOTEBOOK)


def owner(model: Any) -> TrainingController | None:
    """The controller training ``model`` now, or None (a fit that ended by an exception where Keras
    calls no callback is ended first: see ``TrainingController.running``)."""
    try:
        found = _owners.get(model)
    except TypeError:  # not weak-referenceable
        return None
    if found is not None and not found.running:
        return _owners.get(model)
    return found


def training_with(optimizer: Any) -> TrainingController | None:
    """The controller whose running fit steps ``optimizer`` (its model's, or wrapped in it), if any."""
    with _lock:
        owned = list(_owners.items())
    for model, controller in owned:
        opt = getattr(model, "optimizer", None)
        while opt is not None and opt is not optimizer:
            opt = getattr(opt, "inner_optimizer", None)
        if opt is optimizer and controller.running:
            return controller
    return None


def claim(model: Any, controller: TrainingController, *, reserve: bool = False) -> None:
    """Mark ``model`` as trained by ``controller``; a RuntimeError if another one trains it.
    ``reserve``: also reserved (see :func:`reserve`), in the same step."""
    owner(model)  # outside the lock: ending an abandoned fit releases the model
    with _lock:
        current = _owners.get(model)
        if current is not None and current is not controller:
            raise RuntimeError(
                f"Argument `model` ({model.name!r}) is already training in {_training_in(model)}: one model"
                " runs one fit at a time. Wait for that fit (`run.wait()`) or stop it first."
            )
        _owners[model] = controller
        if reserve:  # with the guards, under one lock: no fit or save slips in between
            _reserved[model] = controller
        for name in GUARDED:
            original = getattr(type(model), name)
            object.__setattr__(model, name, _guarded(model, controller, name, original))


def _training_in(model: Any) -> str:
    """What trains ``model``, in words: a range test (which holds it until it has put it back), or a fit."""
    if reserved(model):
        return "a learning-rate range test (`LRRangeTest`, `LRFinder`, or a dashboard's Find LR)"
    return "another lrwidgets session or dashboard"


def reserve(model: Any, controller: TrainingController) -> Callable[[], None]:
    """Claim ``model`` for ``controller`` across several of its fits and the gaps between them (a
    range test's sweeps, and its restore at the end): its fits' ends do not release it, and saves
    and fits from elsewhere are refused until the returned function is called."""
    claim(model, controller, reserve=True)

    def unreserve() -> None:
        with _lock:
            if _reserved.get(model) is controller:
                del _reserved[model]
        release(model, controller)

    return unreserve


def reserved(model: Any) -> bool:
    """Whether ``model`` is reserved (a range test runs on it, until it has put it back)."""
    try:
        return _reserved.get(model) is not None
    except TypeError:  # not weak-referenceable
        return False


def release(model: Any, controller: TrainingController) -> None:
    with _lock:
        if _reserved.get(model) is controller:
            return  # reserved for longer than this fit
        if _owners.get(model) is controller:
            del _owners[model]
            for name in GUARDED:
                if name in model.__dict__:
                    object.__delattr__(model, name)


def _guarded(model: Any, controller: TrainingController, name: str, original: Any) -> Any:
    model_ref = weakref.ref(model)

    def method(*args: Any, **kwargs: Any) -> Any:
        m = model_ref()
        in_training_thread = threading.current_thread() is controller._thread
        if name in (*_FROM_NOTEBOOK, "get_weights") and threading.current_thread() is not threading.main_thread():
            return original(m, *args, **kwargs)  # a data pipeline's worker: as without lrwidgets
        if m is not None and not in_training_thread and _reserved.get(m) is controller:
            raise RuntimeError(
                f"The model {m.name!r} is in a learning-rate range test, which puts it back as it was when it"
                f" ends: `{name}` it before or after the test (`test.wait()`, or `test.stop()` first)."
            )
        if m is None or in_training_thread or not controller.running:
            return original(m, *args, **kwargs)
        if name == "fit":
            raise RuntimeError(
                f"The model {m.name!r} is training in the background (an lrwidgets session): one model runs one fit"
                " at a time. Wait for it (`run.wait()`) or stop it (`session.stop()`) before calling `model.fit`."
            )
        if name == "compile":
            raise RuntimeError(
                f"The model {m.name!r} is training in the background (an lrwidgets session): `compile` would"
                " replace the optimizer and loss the fit runs with. Re-compile after the fit (`run.wait()`, or"
                " `session.stop()` first)."
            )
        if name in _FROM_NOTEBOOK:
            raise RuntimeError(
                f"The model {m.name!r} is training in the background (an lrwidgets session): `{name}` would race the"
                " fit (it resets the fit's metrics, or reads a stale state). Call it after the fit (`run.wait()`,"
                " or `session.stop()` first)."
            )
        if name == "get_weights":  # read between two batches (on jax the variables are empty mid-epoch)
            return controller.call(lambda mm: original(mm, *args, **kwargs))
        refuse_overwrite(args[0] if args else kwargs.get("filepath"), args[1:], kwargs)
        return controller.call(lambda mm: save_atomically(original, mm, *args, **kwargs))

    method.__name__ = name
    method.__doc__ = getattr(original, "__doc__", None)
    return method


def refuse_overwrite(filepath: Any, args: tuple[Any, ...], kwargs: dict[str, Any], can_ask: bool = False) -> None:
    """Before an atomic save (:func:`save_atomically`), in the caller's thread: a TypeError for a
    ``filepath`` that is no path, and a FileExistsError for ``overwrite=False`` (the argument after
    the path, in Keras's ``save`` and ``save_weights``) over a file that exists: Keras would ask
    whether to replace it, which the training thread, where the save is made, cannot (``can_ask``:
    the save is Keras's own, in the caller's thread, which asks)."""
    if not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(
            "Argument `filepath` must be a file path (a str or an os.PathLike): the save is written to a"
            f" temporary file beside it, then renamed over it. Received: filepath={filepath!r}"
        )
    overwrite = kwargs.get("overwrite", args[0] if args else True)
    if overwrite or can_ask or not os.path.exists(filepath):
        return
    raise FileExistsError(
        f"Argument `overwrite` is False and {os.fspath(filepath)!r} exists: during a fit the save is made"
        " between two batches in the training thread, which cannot ask whether to replace the file (as"
        f" Keras asks). Pass `overwrite=True`, or save after the fit. Received: overwrite={overwrite!r}"
    )


def save_atomically(save: Any, model: Any, filepath: Any, *args: Any, **kwargs: Any) -> Any:
    """``save(model, filepath, ...)`` into a temporary file beside ``filepath``, then renamed over it.
    ``overwrite`` (the argument after the path) was checked against ``filepath`` (:func:`refuse_overwrite`):
    the temporary file, one a crash may have left, is always replaced (Keras would ask about it)."""
    path = os.fspath(filepath)
    head, tail = os.path.split(path)
    stem, dot, ext = tail.partition(".")
    tmp = os.path.join(head, f".{stem}.lrwidgets-partial{dot}{ext}")
    if args:
        args = (True, *args[1:])
    else:
        kwargs = {**kwargs, "overwrite": True}
    try:
        result = save(model, tmp, *args, **kwargs)
        os.replace(tmp, path)
    except Exception as e:
        if tmp not in str(e):
            raise
        try:  # the error as the path asked for would give it, not the temporary file's name
            told = type(e)(str(e).replace(tmp, path))
        except Exception:
            raise e from None
        raise told.with_traceback(e.__traceback__) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return result
