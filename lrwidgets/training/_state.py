"""Backend-aware reads and writes of optimizer state from inside the training thread.

On jax the trainer keeps the live state outside the variables during an epoch, passes it from one
jitted step to the next (donating the buffers) and stores only a tracked copy of it in
``model._jax_state``. A plain ``assign`` to the learning-rate variable is therefore lost, and a
full ``model.jax_state_sync()`` before each write copies every variable (FACTS: +50% step time
when done every batch). For the one value written every step, the learning rate,
:class:`LearningRateWriter` wraps ``model.train_function`` for the duration of a fit and puts the
new value into the state handed to the next step: exact, and O(1) per step. Everything else
(rare changes, weight restores) syncs first and assigns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from lrwidgets.training._compat import is_multi_optimizer


def float32(value: float) -> float:
    """``value`` as the optimizer holds it (rates are float32 variables)."""
    return float(np.float32(value))


def is_jax() -> bool:
    return keras.backend.backend() == "jax"


def variables_live(model: Any) -> bool:
    """True when the model's variables hold the current values (always, except on jax mid-epoch)."""
    if not is_jax():
        return True
    return bool(getattr(model, "_jax_state_synced", True)) or not getattr(model, "_jax_state", None)


def hold_state(model: Any) -> None:
    """On jax, before an epoch: give Keras the state to put back if the epoch's first step fails.

    Keras empties every variable before that step and puts the state back from the last step's
    (``_jax_state``), which it has none of at a fit's first step or after a validation: a step that
    failed there (the data raising, an interrupt during compilation) left each variable empty, and
    the model unusable. The state held here is the variables' current arrays (no copy); the first
    step that succeeds replaces it.
    """
    # `_jax_state` is made by Keras's first fit, evaluate or predict: absent on a new model.
    if not is_jax() or getattr(model, "_jax_state", None) is not None or not getattr(model, "_jax_state_synced", 1):
        return
    optimizer = getattr(model, "optimizer", None)
    model._jax_state = {
        "trainable_variables": [v.value for v in model.trainable_variables],
        "non_trainable_variables": [v.value for v in model.non_trainable_variables],
        "optimizer_variables": [v.value for v in optimizer.variables] if optimizer is not None else [],
        "metrics_variables": [v.value for v in model.metrics_variables],
    }


def batches_per_row(model: Any) -> int:
    """Batches a recorded step covers: the model's ``steps_per_execution`` (Keras calls back once
    per execution)."""
    return max(int(getattr(model, "steps_per_execution", 1) or 1), 1)


def sync(model: Any) -> None:
    """Make the variables hold the current values (a no-op off jax or when already live)."""
    if is_jax() and hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


def innermost(optimizer: Any, stop_at: type | None = None) -> Any:
    """The optimizer inside wrappers (``LossScaleOptimizer``, ``LayerwiseOptimizer``: their
    ``inner_optimizer``), or the first wrapper of class ``stop_at`` on the way in."""
    while isinstance(getattr(optimizer, "inner_optimizer", None), keras.optimizers.Optimizer) and not (
        stop_at is not None and isinstance(optimizer, stop_at)
    ):
        optimizer = optimizer.inner_optimizer
    return optimizer


def steerable_optimizer(model: Any, name: str = "model") -> tuple[Any, Any]:
    """The optimizer whose learning rate a fit uses, and that rate's variable; the one model check.

    A ``LossScaleOptimizer`` (mixed precision) is looked through: its own rate is an unused
    placeholder, the inner optimizer's is the one used. Raises a Keras-style ``TypeError`` (not a
    model) or ``ValueError`` (not compiled, a ``MultiOptimizer``, a Keras schedule, no settable rate),
    naming the argument ``name``.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"Argument `{name}` must be a keras.Model. Received: {name}={type(model).__name__}")
    optimizer = getattr(model, "optimizer", None)
    if not getattr(model, "compiled", False) or optimizer is None:
        raise ValueError(
            f"Argument `{name}` must be compiled with an optimizer before it is watched: call"
            " `model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=...)` first."
        )
    from lrwidgets.training.layerwise import LayerwiseOptimizer

    optimizer = innermost(optimizer, stop_at=LayerwiseOptimizer)  # LossScaleOptimizer: the inner one's rate is used
    if is_multi_optimizer(optimizer):
        # Its own `_learning_rate` is an unused placeholder 0.0: steering it would change nothing.
        raise ValueError(
            f"Argument `{name}` must be compiled with an optimizer that has one learning rate; a `MultiOptimizer`"
            " has none (each of its optimizers has its own). For different step sizes per layer with one rate to"
            " steer, use `lrw.LayerwiseOptimizer(keras.optimizers.Adam(1e-3), multipliers={...})`."
            f" Received: optimizer={type(optimizer).__name__}"
        )
    lr = getattr(optimizer, "_learning_rate", None)
    if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
        raise ValueError(
            f"Argument `{name}` must be compiled with an optimizer whose learning rate is a float. Its optimizer"
            f" was built with a Keras schedule ({type(lr).__name__}), whose rate Keras makes read-only: it cannot"
            " be steered, swept or reduced on plateau. Compile the model with a float rate (a range test sweeps"
            " from it) and give the schedule to lrwidgets instead:"
            " `session.fit(..., schedule=lrw.schedules.ExponentialDecay(...))` (or `dash.fit`)."
            f" Received: optimizer={type(optimizer).__name__}(learning_rate={type(lr).__name__})"
        )
    if not isinstance(lr, keras.Variable):
        raise ValueError(
            f"Argument `{name}` must be compiled with an optimizer whose learning rate is a float. Its learning"
            f" rate cannot be set. Received: optimizer={type(optimizer).__name__}(learning_rate={type(lr).__name__})"
        )
    return optimizer, lr


def optimizer_index(model: Any, variable: Any) -> int:
    for i, v in enumerate(model.optimizer.variables):
        if v is variable:
            return i
    raise ValueError(f"Variable {variable.path} is not tracked by the model's optimizer.")


def read_variable(model: Any, variable: Any) -> float:
    """Current value of an optimizer variable, from the training thread."""
    if not variables_live(model):
        state = model._jax_state.get("optimizer_variables")
        if state is not None:
            return float(keras.ops.convert_to_numpy(state[optimizer_index(model, variable)]))
        sync(model)
    return float(keras.ops.convert_to_numpy(variable.value))


class LearningRateWriter:
    """Sets the optimizer's learning rate so that the next train step uses it.

    ``begin(model)`` at the start of a fit and ``end(model)`` after it (both in the training
    thread); ``write(model, value)`` before any step in between.

    On jax the state of a fit lives in Keras's step function's arguments mid-epoch, not in the
    variables: a rate written there is handed to the next step by a wrapper of the model's train
    function, put in by the write and taken out by the step that takes the rate. A fit whose rate
    nobody changes runs Keras's own train function, with no frame of lrwidgets' on each step.
    """

    def __init__(self, variable: Any) -> None:
        self.variable = variable
        self._pending: float | None = None
        self._index = -1
        self._wrapping = False  # a fit on jax: a write mid-epoch goes through the wrapper

    @property
    def pending(self) -> float | None:
        """A rate written but not yet handed to a step (the variable does not hold it yet)."""
        return self._pending

    def begin(self, model: Any) -> None:
        self._pending = None
        if not is_jax() or getattr(model, "train_function", None) is None:
            return
        self.end(model)  # a wrapper left by a fit that died in the caller's thread
        self._index = optimizer_index(model, self.variable)
        self._wrapping = True

    def _wrap(self, model: Any) -> None:
        """Put the wrapper in front of the model's train function, until the next step has run it."""
        inner = model.train_function
        writer = self

        def train_function(state: Any, data: Any) -> Any:
            installed = getattr(model, "train_function", None) is train_function
            if installed:
                model.train_function = inner  # Keras reads it before each step: the next runs its own
            value = writer._pending
            if value is not None:
                writer._pending = None
                trainable, non_trainable, opt_vars, metrics = state
                opt_vars = list(opt_vars)
                old = opt_vars[writer._index]
                # A numpy scalar: jit takes it as is (same dtype and shape, no retrace), at ~0.2 us
                # instead of ~50 us for building a jax array on the host every step.
                opt_vars[writer._index] = np.asarray(value, dtype=old.dtype)
                state = (trainable, non_trainable, opt_vars, metrics)
            try:
                return inner(state, data)
            except BaseException:
                # The step did not run: the data's end (a dataset of unknown length raises StopIteration
                # at the batch after its last, every epoch), or an error. The rate waits for the next one.
                if value is not None and writer._pending is None:
                    writer._pending = value
                    if installed and getattr(model, "train_function", None) is inner:
                        model.train_function = train_function
                raise

        train_function.__wrapped__ = inner  # type: ignore[attr-defined]
        train_function._lrwidgets = True  # type: ignore[attr-defined]
        model.train_function = train_function

    def end(self, model: Any) -> None:
        """The fit is over (Keras has put the state back in the variables): unwrap, and write a rate
        the fit ended before using (a change made at its last batch end, or while paused before a
        Stop), so that the rate recorded as set is the one the optimizer holds."""
        _unwrap(model)
        value, self._pending = self._pending, None
        self._wrapping = False
        if value is not None:
            sync(model)
            self.variable.assign(value)

    def settle(self, model: Any) -> None:
        """At an epoch's end (training thread, before the other callbacks'): Keras has put the state
        back in the variables, from the epoch's last step that ran; a rate written since is put in
        the variable now, for the callbacks after this one (``ReduceLROnPlateau`` reduces the rate
        it reads) and the next epoch's first step, which Keras builds from the variables."""
        if self._pending is not None and self._wrapping and variables_live(model):
            _unwrap(model)
            self.variable.assign(self._pending)
            self._pending = None

    def write(self, model: Any, value: float) -> None:
        if self._wrapping and not variables_live(model):
            self._pending = value  # mid-epoch on jax (the schedule's every step): the next step takes it
            if not getattr(getattr(model, "train_function", None), "_lrwidgets", False):
                self._wrap(model)
            return
        if self._wrapping:
            # Between epochs, or synced by a callback (Keras's `Callback.model` does): the next step's
            # state is built from the variables. Should that step not run (the batch past the end of
            # data of unknown length), Keras puts back the last step's state: the rate goes there too.
            self._pending = None
            _unwrap(model)
            self.variable.assign(value)
            kept = getattr(model, "_jax_state", None)
            if kept and kept.get("optimizer_variables"):
                values = list(kept["optimizer_variables"])
                values[self._index] = np.asarray(value, dtype=values[self._index].dtype)
                kept["optimizer_variables"] = values
            return
        if variables_live(model):
            self.variable.assign(value)
            self._pending = None
        elif getattr(getattr(model, "train_function", None), "_lrwidgets", False):
            self._pending = value
        else:
            sync(model)
            self.variable.assign(value)


def _unwrap(model: Any) -> None:
    """Take lrwidgets' rate-writing wrappers off the model's train function."""
    fn: Callable[..., Any] | None = getattr(model, "train_function", None)
    while fn is not None and getattr(fn, "_lrwidgets", False):
        fn = fn.__wrapped__  # type: ignore[attr-defined]
        model.train_function = fn


def current_learning_rate(model: Any) -> float:
    """The learning rate now, read safely: from the controller that trains the model, if one does."""
    from lrwidgets.training import ownership

    owner = ownership.owner(model)
    if owner is not None and owner.running:  # an idle owner (a range test between sweeps) reads it here
        return float(owner.learning_rate)
    _, variable = steerable_optimizer(model)
    return read_variable(model, variable)


def idle_learning_rate(model: Any, cached: float) -> float:
    """The rate the optimizer holds while idle; ``cached`` when that is the same float32 (so the
    exact value a user gave is kept) or when the optimizer cannot be read (not compiled). After a
    re-compile with a Keras schedule (refused for a fit), the rate Keras's next step would use."""
    try:
        held = current_learning_rate(model)
    except (TypeError, ValueError):
        return _keras_scheduled_rate(model, cached)
    return cached if float32(held) == float32(cached) else held


def _keras_scheduled_rate(model: Any, cached: float) -> float:
    optimizer = innermost(getattr(model, "optimizer", None))
    if not isinstance(getattr(optimizer, "_learning_rate", None), keras.optimizers.schedules.LearningRateSchedule):
        return cached
    try:  # Keras's own reading: the schedule at the optimizer's step count
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except Exception:
        return cached


def layerwise(model: Any) -> Any:
    """The model's ``LayerwiseOptimizer`` (also inside a ``LossScaleOptimizer``), or None."""
    from lrwidgets.training.layerwise import find_layerwise_optimizer

    return find_layerwise_optimizer(model)


def current_multipliers(model: Any) -> dict[str, float]:
    """``{group: multiplier}`` of the model's ``LayerwiseOptimizer`` (built here if needed), or ``{}``."""
    from lrwidgets.training import ownership

    owner = ownership.owner(model)
    if owner is not None and owner.running:
        return owner.multipliers
    opt = layerwise(model)
    if opt is None:
        return {}
    if not opt.built and model.trainable_variables:
        opt.build(model.trainable_variables)
    return opt.multipliers if opt.built else {}


def check_multipliers(model: Any, multipliers: Any, exact: bool = False) -> dict[str, float]:
    """``{group name: multiplier}`` checked: float32-safe values >= 0, keyed by group names.

    Each key is matched as ``LayerwiseOptimizer`` matches its keys (a group's name, a layer-path
    component such as a sub-model's name, or a pattern), so that ``{"backbone": 0.1}`` sets every
    group of a nested ``backbone``, as ``opt.set_multipliers`` does. With ``exact``, each key is a
    group's name (as ``opt.groups`` lists them) and sets that group only: ``block`` and not
    ``block#2``, a sub-model's own weights and not its layers'. A key that matches no group is
    refused.
    """
    from lrwidgets.core.checks import check_keyed, check_rate
    from lrwidgets.training import layer_matching

    opt = layerwise(model)
    if opt is None:
        raise ValueError(
            "Per-layer multipliers need a model compiled with `lrw.LayerwiseOptimizer(...)`."
            f" Received: optimizer={type(getattr(model, 'optimizer', None)).__name__}"
        )
    multipliers = check_keyed("multipliers", multipliers)
    known = list(current_multipliers(model))  # builds the optimizer when the model is built
    if not opt.built:  # a model not built: the optimizer takes the mapping, checked at its build
        raise ValueError(
            "The model's `LayerwiseOptimizer` is not built yet, so its layers are not known: set the"
            " multipliers on it (`model.optimizer.set_multipliers(...)`: applied and checked when the"
            f" first fit builds it), or build the model first. Received: multipliers={multipliers!r}"
        )
    unknown = sorted(k for k in multipliers if k not in known and (exact or not layer_matching.matching(opt, {k: 1.0})))
    if unknown:
        raise ValueError(
            f"Argument `multipliers` has unknown layers {unknown}; layers: {known}."
            f" Received: multipliers={multipliers!r}"
        )
    checked = {k: check_rate(f"multipliers[{k!r}]", v, allow_zero=True) for k, v in multipliers.items()}
    return checked if exact else layer_matching.matching(opt, checked)


def write_multipliers(model: Any, multipliers: dict[str, float]) -> dict[str, float]:
    """Set the multipliers of the groups named (exact group names, as :func:`check_multipliers`
    returns them; the other groups keep theirs), in the training thread or idle; all of them after.

    By index, not through the optimizer's key matching: a group's name may also be a layer-path
    component of another group (a top-level ``fc`` and ``body/fc``)."""
    opt = layerwise(model)
    sync(model)
    values = np.array(keras.ops.convert_to_numpy(opt._multiplier_var), dtype="float32")
    for name, value in multipliers.items():
        values[opt._group_names.index(name)] = value
    opt._multiplier_var.assign(values)
    return dict(opt.multipliers)


def steered_variables(model: Any) -> list[Any]:
    """Optimizer variables steered live (the rate, per-layer multipliers): a NaN restore keeps them."""
    _, variable = steerable_optimizer(model)
    kept = [variable]
    opt = layerwise(model)
    if opt is not None and opt.multiplier_variable is not None:
        kept.append(opt.multiplier_variable)
    return kept


def optimizer_steps(model: Any, optimizer: Any) -> int | None:
    """Steps taken by ``optimizer`` (the innermost one of wrappers, which count the steps); None if unreadable."""
    optimizer = innermost(optimizer)
    variable = getattr(optimizer, "_iterations", None)  # `iterations` divides by gradient accumulation
    if not isinstance(variable, keras.Variable):
        return None
    try:
        return int(read_variable(model, variable))
    except ValueError:  # not one of the model's optimizer variables: nothing to compare
        return None


def layer_group_sizes(model: Any) -> list[dict[str, Any]]:
    """``[{"name": group, "params": count}, ...]`` of the model's ``LayerwiseOptimizer`` (else ``[]``)."""
    import math

    opt = layerwise(model)
    if opt is None:
        return []
    current_multipliers(model)  # builds it when the model has variables
    return [{"name": n, "params": int(sum(math.prod(v.shape) for v in vs))} for n, vs in opt.groups.items()]
