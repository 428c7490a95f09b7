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

from typing import Any

import keras
import numpy as np

from lrwidgets.training._compat import is_multi_optimizer


def float32(value: float) -> float:
    """``value`` as a float32 rate variable holds it (a rate given twice is the same rate if this is)."""
    return float(np.float32(value))


def held(variable: Any, value: float) -> float:
    """``value`` as ``variable`` holds it, rounded to its dtype: float32 usually; float16 or bfloat16
    where ``keras.config.floatx()`` was when the optimizer was built (3e-3 is held as 0.00299 in
    bfloat16). A rate read back is compared with this, not with the float written."""
    with np.errstate(over="ignore"):  # beyond the dtype's range: inf, as the variable would hold it
        return float(np.asarray(value, dtype=keras.backend.standardize_dtype(variable.dtype)))


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


def accumulation_note(model: Any) -> str | None:
    """What a schedule's steps mean when the optimizer accumulates gradients over batches
    (``gradient_accumulation_steps``): said in the setup of a fit a schedule drives; else None."""
    every = getattr(innermost(getattr(model, "optimizer", None)), "gradient_accumulation_steps", None) or 1
    if every <= 1:
        return None
    return (
        f"the optimizer applies an update every {every} batches (`gradient_accumulation_steps={every}`), with the"
        f" rate of the batch that applies it: the schedule counts batches, {every} an update (a Keras schedule"
        f" inside the optimizer counts updates: to match it here, give it {every}x the steps)"
    )


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
    # `float` of the backend's scalar: on TensorFlow 14 us against 54 through `convert_to_numpy`
    # (read before each batch where another callback acts at batches), on torch 1.4 against 6.8;
    # on jax through numpy, 1.6 us against `float`'s 8.4 (a new array: each epoch's start).
    try:
        return float(np.asarray(variable.value)) if is_jax() else float(variable.value)
    except TypeError:  # one `float` does not take: TensorFlow's MirroredVariable (a distribution strategy)
        return float(keras.ops.convert_to_numpy(variable.value))


def current_learning_rate(model: Any) -> float:
    """The learning rate now, read safely: from the controller that trains the model, if one does."""
    from lrwidgets.training import ownership

    owner = ownership.owner(model)
    if owner is not None and owner.running:  # an idle owner (a range test between sweeps) reads it here
        return float(owner.learning_rate)
    _, variable = steerable_optimizer(model)
    return read_variable(model, variable)


def check_held_rate(model: Any, lr: float, value: Any) -> None:
    """Refuse a rate ``model``'s rate variable would hold as 0 or inf (a 16-bit variable: float16 holds
    2e-8 as 0); a model whose optimizer cannot be steered now is left to the fit's own check."""
    try:
        _, variable = steerable_optimizer(model)
    except (TypeError, ValueError):
        return
    now = held(variable, lr)
    if not 0 < now < float("inf"):
        dtype = keras.backend.standardize_dtype(variable.dtype)
        raise ValueError(
            f"Argument `learning_rate` must be a rate the optimizer's {dtype} rate variable can hold (its optimizer"
            f" was built under `keras.config.floatx()` {dtype!r}): it holds this one as {now}."
            f" Received: learning_rate={value!r}"
        )


def idle_learning_rate(model: Any, cached: float) -> float:
    """The rate the optimizer holds while idle; ``cached`` when the rate variable holds that (:func:`held`: so
    the exact value a user gave is kept) or when the optimizer cannot be read (not compiled). After a
    re-compile with a Keras schedule (refused for a fit), the rate Keras's next step would use."""
    try:
        now = current_learning_rate(model)
        _, variable = steerable_optimizer(model)
    except (TypeError, ValueError):
        return _keras_scheduled_rate(model, cached)
    return cached if held(variable, now) == held(variable, cached) else now


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
