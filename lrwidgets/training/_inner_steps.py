"""How a `LayerwiseOptimizer` drives its inner optimizer's step, per Keras optimizer and backend."""

from __future__ import annotations

from collections.abc import Callable

import keras

# Optimizers whose step is proportional to the learning rate it is given (no state carried into
# the step that the rate does not scale), so a multiplier of 0 leaves the variable unchanged.
_STEP_PROPORTIONAL_TO_LR = (
    keras.optimizers.Adam,  # AdamW too (a subclass)
    keras.optimizers.Adamax,
    keras.optimizers.Nadam,
    keras.optimizers.Lion,
    keras.optimizers.Adagrad,
    keras.optimizers.Adadelta,
    keras.optimizers.Lamb,
)


def needs_hold(inner: keras.optimizers.Optimizer) -> bool:
    """Whether a frozen variable must be restored after the step (skipped where lr 0 is enough)."""
    if isinstance(inner, keras.optimizers.SGD | keras.optimizers.RMSprop):
        return bool(getattr(inner, "momentum", 0.0))
    return not isinstance(inner, _STEP_PROPORTIONAL_TO_LR)


def generic_backend_update_step(inner: keras.optimizers.Optimizer) -> Callable[..., None] | None:
    """On torch, the fused `_parallel_update_step` takes one learning rate for all variables.

    Skip it: bind the next `_backend_update_step` in the class hierarchy (the generic loop over
    `update_step`, after e.g. Nadam's own bookkeeping). Other backends keep theirs.
    """
    if keras.backend.backend() != "torch":
        return None
    from keras.src.utils import torch_utils

    for klass in type(inner).__mro__:
        if "_backend_update_step" in vars(klass) and not klass.__module__.startswith("keras.src.backend.torch"):
            return torch_utils.no_grad(vars(klass)["_backend_update_step"].__get__(inner))
    return None
