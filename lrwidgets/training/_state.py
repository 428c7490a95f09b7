"""Backend-aware reads and writes of optimizer state from inside the training thread.

On jax the trainer keeps the live state in ``model._jax_state`` between batches and purges the
variables' values, so the learning-rate variable cannot simply be assigned: the write would be
overwritten at the end of the epoch. A full ``model.jax_state_sync()`` makes it safe but costs a
copy of every variable each time. For the one variable written every step (the learning rate),
we replace its entry in the state list that the trainer hands to the next step, and fall back to
a plain ``assign`` when the variables are live (start of an epoch, after a sync, other backends).
"""

from __future__ import annotations

from typing import Any

import keras


def is_jax() -> bool:
    return keras.backend.backend() == "jax"


def variables_live(model: Any) -> bool:
    """True when the model's variables hold the current values (always, except on jax mid-epoch)."""
    if not is_jax():
        return True
    return bool(getattr(model, "_jax_state_synced", True)) or not getattr(model, "_jax_state", None)


def sync(model: Any) -> None:
    """Make the variables hold the current values (a no-op off jax or when already live)."""
    if is_jax() and hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


def learning_rate_variable(optimizer: Any) -> Any:
    """The optimizer's float learning-rate variable (an error if it is a schedule)."""
    lr = getattr(optimizer, "_learning_rate", None)
    if not isinstance(lr, keras.Variable):
        raise TypeError(
            "The optimizer's learning rate is not a variable that can be set"
            f" (it is {type(lr).__name__}). Build it with a float learning rate."
        )
    return lr


def read_variable(model: Any, variable: Any) -> float:
    """Current value of an optimizer variable, from the training thread."""
    if not variables_live(model):
        state = model._jax_state.get("optimizer_variables")
        if state is not None:
            return float(keras.ops.convert_to_numpy(state[_optimizer_index(model, variable)]))
        sync(model)
    return float(keras.ops.convert_to_numpy(variable.value))


def write_variable(model: Any, variable: Any, value: float) -> None:
    """Set an optimizer variable so that the next train step uses ``value``."""
    if not variables_live(model):
        state = model._jax_state.get("optimizer_variables")
        if isinstance(state, list):
            import jax.numpy as jnp

            i = _optimizer_index(model, variable)
            state[i] = jnp.asarray(value, dtype=state[i].dtype)
            return
        sync(model)
    variable.assign(value)


def _optimizer_index(model: Any, variable: Any) -> int:
    cache = model.__dict__.setdefault("_lrwidgets_var_index", {})
    key = id(variable)
    if key not in cache:
        for i, v in enumerate(model.optimizer.variables):
            if v is variable:
                cache[key] = i
                break
        else:
            raise ValueError(f"Variable {variable.path} is not tracked by the model's optimizer.")
    return int(cache[key])
