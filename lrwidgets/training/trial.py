"""The Keras side of one sweep trial: build the model for a seed, compile it with the trial's optimizer.

The sweep engine (:mod:`lrwidgets.sweep`) runs trials on Dask workers but touches no Keras state
itself: it calls :func:`build_trial_model` on the worker and :func:`apply_trial_rate` to put a
sweep's best rate into a model or session, both here in the training layer.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np
from keras.src.trainers.data_adapters import py_dataset_adapter

from lrwidgets.core.checks import check_int, check_rate, received
from lrwidgets.training import _state
from lrwidgets.training._keras_thread import thread_settings, use_thread_settings
from lrwidgets.training._rate_target import set_model_rate
from lrwidgets.training.fit_args import _check_cardinality, check_initial_epoch
from lrwidgets.training.session import TrainingSession


def check_optimizer_name(name: Any) -> str:
    """``name`` if Keras knows an optimizer by that name (``"adam"``, ``"sgd"``, ...), else a named error."""
    if not isinstance(name, str):
        raise TypeError(f"Argument `optimizers` must hold optimizer names (str). {received('optimizers', name)}")
    try:
        optimizer = keras.optimizers.get(name)
    except ValueError:
        optimizer = None
    except Exception as e:  # a wrapper Keras cannot build from a name alone (`LossScaleOptimizer`: KeyError)
        raise ValueError(
            f"Argument `optimizers` holds a name Keras cannot build a fresh optimizer from"
            f" ({type(e).__name__}: {e}): a wrapper such as LossScaleOptimizer needs an inner optimizer;"
            f" compile it in `build_model` and pass `optimizers=None`. {received('optimizers', name)}"
        ) from None
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(
            f"Argument `optimizers` holds a name Keras knows no optimizer by. {received('optimizers', name)}"
        )
    return name


def optimizer_name(model: Any) -> str:
    """The class name, lower case, of the optimizer whose rule a fit of ``model`` runs (``"adam"``:
    also inside a ``LayerwiseOptimizer`` or a ``LossScaleOptimizer``)."""
    optimizer, _ = _state.steerable_optimizer(model, "target")  # the model's checks
    return type(_state.innermost(optimizer)).__name__.lower()


@contextlib.contextmanager
def _own_python_random(seed: int) -> Iterator[None]:
    """Keras's initializers draw their seeds from Python's global ``random`` (``make_default_seed``),
    which the other threads of a process draw from too: in a Dask worker, its event loop did, between
    ``set_random_seed`` and the model's build, and the same trial started from other weights. While
    the model is built, those draws come from a generator of the trial's own."""
    from keras.src.random import seed_generator

    shared = seed_generator.python_random
    seed_generator.python_random = random.Random(seed)
    try:
        yield
    finally:
        seed_generator.python_random = shared


def current_keras_config() -> dict[str, Any]:
    """The Keras global settings a model is built with, as this thread has them: the global dtype
    policy's name (None when none was set: then ``floatx``'s), ``floatx``, ``epsilon`` and
    ``image_data_format``, and the backend; what a sweep carries from the notebook to its trials."""
    policy = thread_settings()["dtype_policy"]  # not `dtype_policy()`: it would set one
    return {
        "dtype_policy": None if policy is None else policy.name,
        "floatx": keras.config.floatx(),
        "epsilon": keras.config.epsilon(),
        "image_data_format": keras.config.image_data_format(),
        "backend": keras.backend.backend(),
    }


def other_backend(config: dict[str, Any] | None) -> str | None:
    """Why a trial of ``config`` (:func:`current_keras_config`'s) cannot run in this process: Keras
    on another backend than the process that started the sweep (a Dask worker started without its
    ``KERAS_BACKEND``: its numbers would not be the notebook's); None when it can."""
    backend = (config or {}).get("backend", keras.backend.backend())
    if backend == keras.backend.backend():
        return None
    return (
        f"This worker runs Keras on {keras.backend.backend()}, the sweep's trials on {backend} (the"
        f" backend of the process that started it): start the worker with `KERAS_BACKEND={backend}`."
    )


@contextlib.contextmanager
def keras_config(config: dict[str, Any] | None) -> Iterator[None]:
    """Run with the Keras global settings ``config`` (:func:`current_keras_config`'s), then put this
    process's back (a later trial without them is unaffected); None: as they are. A ``backend``
    other than this process's raises a ``RuntimeError`` (a Dask worker started without the
    notebook's ``KERAS_BACKEND``: its numbers would not be the notebook's)."""
    if config is None:
        yield
        return
    mismatch = other_backend(config)
    if mismatch:
        raise RuntimeError(mismatch)
    own, before = thread_settings(), current_keras_config()

    def put(settings: dict[str, Any]) -> None:
        keras.config.set_floatx(settings["floatx"])
        keras.config.set_epsilon(settings["epsilon"])
        keras.config.set_image_data_format(settings["image_data_format"])

    try:
        put(config)
        if config["dtype_policy"] is not None:
            keras.config.set_dtype_policy(config["dtype_policy"])
        else:  # none set: `floatx`'s
            use_thread_settings({"dtype_policy": None})
        yield
    finally:
        put(before)
        use_thread_settings(own)


def same_optimizer(model: Any, name: str) -> bool:
    """Whether ``model``'s optimizer is of the class Keras builds for ``name`` (``"adam"``, ...)."""
    return optimizer_name(model) == type(keras.optimizers.get(name)).__name__.lower()


def settings_apart(model: Any, name: str) -> list[str]:
    """The settings of ``model``'s optimizer (the rule a fit runs, as :func:`optimizer_name` finds
    it) that differ from those of a fresh optimizer named ``name``, which a sweep's trials use
    (``"momentum=0.9 (the trials': 0.0)"``): the learning rate and the name aside."""
    ours = _state.innermost(_state.steerable_optimizer(model, "target")[0]).get_config()
    theirs = keras.optimizers.get(name).get_config()
    return [
        f"{key}={ours.get(key)!r} (the trials': {value!r})"
        for key, value in theirs.items()
        if key not in ("name", "learning_rate") and ours.get(key) != value
    ]


def build_trial_model(build_model: Callable[[], Any], optimizer: str | None, learning_rate: float, seed: int) -> Any:
    """``build_model()`` after ``keras.utils.set_random_seed(seed)``, compiled for one trial.

    ``build_model`` returns a compiled model: its loss, metrics and other compile arguments are
    kept. With ``optimizer`` (a Keras optimizer name) the model is compiled again with a fresh
    optimizer of that name at ``learning_rate``; with None its own optimizer keeps its settings
    and only its learning rate is set to ``learning_rate``.
    """
    keras.utils.set_random_seed(seed)
    with _own_python_random(seed):
        model = build_model()
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Argument `build_model` must return a compiled keras.Model."
            f" Received: build_model() returned {type(model).__name__}"
        )
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        raise ValueError(
            "Argument `build_model` must return a compiled keras.Model (the sweep keeps its loss and metrics"
            " and replaces its optimizer): call `model.compile(optimizer='adam', loss=..., metrics=...)` in it."
        )
    if optimizer is not None:
        config = dict(model._compile_config.config)  # the arguments of the user's compile
        config["optimizer"] = keras.optimizers.get(
            {"class_name": optimizer, "config": {"learning_rate": learning_rate}}
        )
        model.compile(**config)
    else:
        _, variable = _state.steerable_optimizer(model)
        variable.assign(learning_rate)
    _state.steerable_optimizer(model)  # the one model check: a rate a session can steer
    return model


class EpochSeeder(keras.callbacks.Callback):
    """Seeds NumPy's global generator and Python's global ``random`` with ``(seed, epoch)`` as each epoch begins.

    On jax (and torch) Keras draws each epoch's shuffle of array data from NumPy's global
    generator, and shuffles a ``PyDataset``'s batches with Python's ``random.shuffle``; anything
    else in the process may draw from either too: in a fresh Dask worker, modules imported during
    the first fit did (NumPy), its event loop does (Python), and a trial then differed from the
    same trial run serially. Seeded at each epoch, the shuffle depends on the seed alone. A
    ``PyDataset``'s shuffle draws from a generator of the trial's own, seeded the same way (the same
    order): a draw of the event loop's between the seed and the shuffle changed one trial of four in
    a CI run on the oldest supported Keras. Put back at the fit's end.
    """

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        state = int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0])
        # The legacy global generator: the one Keras draws the shuffle of arrays from.
        np.random.seed(state)  # noqa: NPY002
        random.seed(state)  # a PyDataset's batch order (`random.shuffle`) ...
        if hasattr(py_dataset_adapter, "random"):  # ... drawn from the trial's own generator
            py_dataset_adapter.random = random.Random(state)

    def on_train_end(self, logs: Any = None) -> None:
        if hasattr(py_dataset_adapter, "random"):
            py_dataset_adapter.random = random


def apply_learning_rate(model: Any, learning_rate: float, source: str = "sweep") -> None:
    """Set the learning rate of a compiled model: through the session training it, or at once when idle."""
    set_model_rate(model, check_rate("learning_rate", learning_rate), source)


def apply_trial_rate(
    target: Any, learning_rate: float, optimizer: str | None, source: str = "sweep", optimizer_class: Any = None
) -> None:
    """Put a trial's ``learning_rate`` into ``target``, which must use the trial's ``optimizer`` (a name, or None
    when the trial kept the model's own: then of the class ``optimizer_class``, :func:`optimizer_name`'s
    word for the trial's model, when known): a ``TrainingSession``, a view of one (its ``session``), or a
    compiled model (:func:`apply_learning_rate`)."""
    session = getattr(target, "session", target)
    model = session.model if isinstance(session, TrainingSession) else target
    if optimizer and not same_optimizer(model, optimizer):
        raise ValueError(
            f"The best trial used the optimizer {optimizer!r}, and `target` is compiled with"
            f" {optimizer_name(model)!r}: its best rate would not carry over. Compile the model with"
            f" {optimizer!r} first. Received: target={type(target).__name__}"
        )
    apart = settings_apart(model, optimizer) if optimizer else []
    if apart:  # SGD with momentum 0.9 and Nesterov: a step ~10x the trials' at the same rate
        raise ValueError(
            f"The best trial used Keras's {optimizer!r} as `keras.optimizers.get` makes it, and `target`'s"
            f" has other settings: {', '.join(apart)}; its best rate would not carry over. Sweep the"
            " model's own optimizer (`optimizers=None`), or compile `target` with the trials' settings."
            f" Received: target={type(target).__name__}"
        )
    if not optimizer and isinstance(optimizer_class, str) and optimizer_name(model) != optimizer_class:
        raise ValueError(
            f"The best trial kept its model's optimizer, {optimizer_class!r}, and `target` is compiled with"
            f" {optimizer_name(model)!r}: its best rate would not carry over. Compile the model with"
            f" {optimizer_class!r} first. Received: target={type(target).__name__}"
        )
    if isinstance(session, TrainingSession):
        session.set_learning_rate(learning_rate, source=source)
    else:
        apply_learning_rate(model, learning_rate, source)


def check_trial_data(x: Any, y: Any, fit_kwargs: dict[str, Any], epochs: int) -> None:
    """Refuse (in `Sweep.run`, before any trial) what would fail every trial of a sweep, or run
    none of its epochs: data of a kind Keras does not take (`x=None`, `validation_data=3`) or whose
    lengths differ, `callbacks` that are not Keras callbacks, an `initial_epoch` at or past ``epochs``."""
    _check_data("x", x, required=True)
    for name, value in (("y", y), ("sample_weight", fit_kwargs.get("sample_weight"))):
        _check_data(name, value, arrays_only=True)
    _check_cardinality({"x": x, "y": y, "sample_weight": fit_kwargs.get("sample_weight")})
    validation = fit_kwargs.get("validation_data")
    if isinstance(validation, (tuple, list)) and len(validation) in (2, 3):
        for part in validation:
            _check_data("validation_data", part, arrays_only=True, whole=validation)
        parts = dict(zip(("x_val", "y_val", "val_sample_weight"), validation, strict=False))
        _check_cardinality(parts, tuple(parts), within="validation_data")
    else:  # (x_val,) too: a model with `add_loss` validates on inputs alone
        _check_data("validation_data", validation, pairs=True)
    _check_callbacks(fit_kwargs.get("callbacks"))
    initial = fit_kwargs.get("initial_epoch")
    check_initial_epoch(None if initial is None else check_int("initial_epoch", initial, ge=0), epochs)


def _check_data(
    name: str, value: Any, *, required: bool = False, arrays_only: bool = False, pairs: bool = False, whole: Any = None
) -> None:
    """``value`` of a kind Keras's fit takes (arrays, or dicts, lists and tuples of them; for ``x``
    and ``validation_data`` also a ``PyDataset``, a torch ``DataLoader``, a grain dataset), else a named error."""
    from keras.src.trainers import data_adapters
    from keras.src.trainers.data_adapters import array_data_adapter, py_dataset_adapter

    if value is None and not required:
        return
    taken = value is not None and array_data_adapter.can_convert_arrays((value,))
    if not taken and not arrays_only:
        tests = [getattr(data_adapters, f, None) for f in ("is_torch_dataloader", "is_grain_dataset")]
        taken = isinstance(value, py_dataset_adapter.PyDataset) or any(t is not None and t(value) for t in tests)
    if not taken:
        kinds = "arrays (or a dict, list or tuple of them)"
        if pairs:
            kinds = "a tuple `(x_val, y_val)` or `(x_val, y_val, val_sample_weight)` of arrays, or a PyDataset"
        elif not arrays_only:
            kinds += ", a `keras.utils.PyDataset` or a torch DataLoader"
        raise (ValueError if value is None else TypeError)(
            f"Argument `{name}` must be {kinds}: every trial would fail on it."
            f" {received(name, value if whole is None else whole)}"
        )


def _check_callbacks(callbacks: Any) -> None:
    if callbacks is None:
        return
    if not isinstance(callbacks, (list, tuple)) or not all(isinstance(c, keras.callbacks.Callback) for c in callbacks):
        raise TypeError(
            "Argument `callbacks` must be a list of `keras.callbacks.Callback` instances."
            f" {received('callbacks', callbacks)}"
        )
