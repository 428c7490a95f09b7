"""A model's whole training state, copied bit for bit and put back (the range test's undo)."""

from __future__ import annotations

import random
import sys
from typing import Any

import keras
import numpy as np

from lrwidgets.training import _state
from lrwidgets.training._keras_thread import GLOBAL_SEED_GENERATOR, thread_settings


class ModelState:
    """Every variable of a model and its optimizer (and of the optimizers a custom ``train_step``
    keeps as the model's attributes), and the random generators a fit draws from, copied bit for
    bit; :meth:`restore` puts them all back (idle model only).

    Model variables include BatchNormalization's moving statistics, dropout seed states and the
    compiled metrics' totals; optimizer variables include ``iterations``, the moments, the learning rate and a
    ``LayerwiseOptimizer``'s multipliers. The generators: Python's ``random``, numpy's global one
    (Keras shuffles array data with it on jax), TensorFlow's op seeds, torch's global generator
    (its data loader's shuffle) and Keras's global ``SeedGenerator`` (unseeded ``keras.random`` ops),
    the calling thread's, when one exists. On TensorFlow also the model's train function: a step
    traced in the test's fits holds their thread's generator, so the next fit traces its own.

    On jax and torch, a model whose compiled loss and metrics are not built yet (never fit nor
    evaluated) is marked so again: Keras's first fit builds them from one pass of its data
    iterator, which draws the shuffle order once more and, on torch, moves the dropout seeds on.
    A fit after the restore then draws what it would have drawn without the range test. Not a
    model of several outputs compiled without metrics: its loss tracks each output's loss, and
    built again it would log them as 0 (:func:`_unbuild`). (TensorFlow builds them while
    tracing, without that pass, and keeps them in its traced functions: they stay built.)
    """

    def __init__(self, model: Any) -> None:
        _state.sync(model)
        optimizer = model.optimizer
        if not optimizer.built and model.trainable_variables:
            optimizer.build(model.trainable_variables)  # what the first fit would do: built the same way
        self.model = model
        # The compiled metrics' totals too (not in `model.variables`): `get_metrics_result()` after the
        # test reads what it read before.
        seen = {id(v) for v in model.variables}
        metrics = [v for v in getattr(model, "metrics_variables", []) if id(v) not in seen]
        self.variables = [(v, _copy(v)) for v in (*model.variables, *metrics)]
        self.optimizer_variables = [(v, _copy(v)) for v in optimizer.variables]
        self.other_optimizers = [OptimizerCopy(o) for o in other_optimizers(model)]
        self.stop_training = getattr(model, "stop_training", False)  # the test's stop rule sets it
        self.has_history = "history" in vars(model)
        self.history = vars(model).get("history")
        self.random = random.getstate()
        self.numpy = np.random.get_state()  # noqa: NPY002  (the global generator Keras shuffles with)
        self.tf_context = _tf_seed_state()
        seeds = _global_seed_generator()  # unseeded `keras.random` ops draw from it (a noise layer's)
        self.seeds = None if seeds is None else (seeds, _copy(seeds.state))
        torch = sys.modules.get("torch")
        self.torch = None if torch is None else torch.get_rng_state()
        self.tensorflow = keras.backend.backend() == "tensorflow"
        self.unbuilt = {} if self.tensorflow else _unbuilt_compile_state(model)
        # TensorFlow: a step traced by the test's fits keeps what it captured in their thread (the
        # generator of an unseeded `keras.random` op, that thread's own); put back, the fit after
        # the test traces its own step, as it would have without the test. (jax refuses those ops
        # in a traced step; torch's steps are not traced.)
        self.train_function = getattr(model, "train_function", None) if self.tensorflow else None

    def restore_variables(self) -> None:
        """Put back the model's and the optimizer's variables (not the random generators)."""
        _state.sync(self.model)
        for variable, value in (*self.variables, *self.optimizer_variables):
            variable.assign(value)
        for other in self.other_optimizers:
            other.restore()

    def restore(self) -> None:
        """Put back everything: the variables, the model's ``history`` and ``stop_training`` attributes,
        the random generators."""
        model = self.model
        self.restore_variables()
        model.stop_training = self.stop_training
        if self.has_history:
            model.history = self.history
        elif "history" in vars(model):
            del model.history
        random.setstate(self.random)
        np.random.set_state(self.numpy)  # noqa: NPY002  (the global generator Keras shuffles with)
        _set_tf_seed_state(self.tf_context)
        if self.seeds is not None:
            self.seeds[0].state.assign(self.seeds[1])
        if self.torch is not None:
            sys.modules["torch"].set_rng_state(self.torch)
        _unbuild(self.unbuilt)
        if self.tensorflow:
            model.train_function = self.train_function

    def differences(self) -> list[str]:
        """Paths of the variables that differ from the copy (bitwise); empty when restored."""
        _state.sync(self.model)
        others = [pair for other in self.other_optimizers for pair in other.values]
        return [v.path for v, value in (*self.variables, *self.optimizer_variables, *others) if not _same(v, value)]


def other_optimizers(model: Any) -> list[Any]:
    """The optimizers a custom ``train_step`` keeps as the model's attributes, beside
    ``model.optimizer`` (keras.io's GAN: ``self.d_optimizer``, ``self.g_optimizer``; also in a list
    or dict attribute)."""
    found: list[Any] = []
    for value in vars(model).values():
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else (value,)
        for item in items:
            known = item is model.optimizer or any(item is f for f in found)
            if isinstance(item, keras.optimizers.Optimizer) and not known:
                found.append(item)
    return found


class OptimizerCopy:
    """One optimizer's variables, copied; :meth:`restore` puts them back. One built since (by the
    train step that uses it) gets the values a new build gives: the next fit then steps it as
    if it had not been built before."""

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = optimizer
        self.built = optimizer.built
        self.values = [(v, _copy(v)) for v in optimizer.variables]  # unbuilt: `iterations`, the rate

    def restore(self) -> None:
        optimizer = self.optimizer
        if not self.built and optimizer.built:
            fresh = type(optimizer).from_config(optimizer.get_config())
            fresh.build(list(optimizer._trainable_variables))
            for variable, new in zip(optimizer.variables, fresh.variables, strict=True):
                variable.assign(new)
        for variable, value in self.values:
            variable.assign(value)


def _copy(variable: Any) -> np.ndarray:
    return np.array(keras.ops.convert_to_numpy(variable.value), copy=True)


def _same(variable: Any, value: np.ndarray) -> bool:
    now = np.asarray(keras.ops.convert_to_numpy(variable.value))
    return now.dtype == value.dtype and now.tobytes() == value.tobytes()


def _global_seed_generator() -> Any:
    """Keras's global ``SeedGenerator`` of the calling thread, when one was made (by an unseeded
    ``keras.random`` op); None otherwise (not made here: making one draws its seed from Python's
    ``random``). Keras keeps one a thread; a session's fit uses its caller's (``_keras_thread``),
    so the test's fits draw from this one when it exists."""
    return thread_settings()[GLOBAL_SEED_GENERATOR]


def _tf_seed_state() -> Any:
    """TensorFlow's op-seed generator (its data shuffles draw from it), when TensorFlow is loaded."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return None
    try:
        from tensorflow.python.eager import context

        rng = getattr(context.context(), "_rng", None)
        return None if rng is None else rng.getstate()
    except Exception:  # another TensorFlow layout: nothing to restore
        return None


def _set_tf_seed_state(state: Any) -> None:
    if state is None:
        return
    from tensorflow.python.eager import context

    rng = getattr(context.context(), "_rng", None)
    if rng is not None:
        rng.setstate(state)


def _unbuilt_compile_state(model: Any) -> dict[str, Any]:
    """The model's compiled loss and metrics that Keras's next fit would build from its data."""
    found = {name: getattr(model, name, None) for name in ("_compile_loss", "_compile_metrics")}
    return {name: c for name, c in found.items() if c is not None and getattr(c, "built", True) is False}


def _unbuild(unbuilt: dict[str, Any]) -> None:
    """Mark one of them unbuilt again: either makes Keras's next fit take its pass over the data.
    The metrics when they were unbuilt (built again, they are made anew); else the loss, unless
    it tracks the loss of each output (built again, it would track a second set, logged as 0)."""
    metrics, loss = unbuilt.get("_compile_metrics"), unbuilt.get("_compile_loss")
    if metrics is not None:
        metrics.built = False
    elif loss is not None and not getattr(loss, "metrics", None):
        loss.built = False
