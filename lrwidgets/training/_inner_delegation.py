"""What ``LayerwiseOptimizer`` hands to the optimizer it wraps: the learning rate, the step count,
loss scaling, the values a fit ends with, which variables weight decay leaves alone, and the
settings the inner optimizer's step applies (``weight_decay``, ``clipnorm``, ``use_ema``, ...)."""

from __future__ import annotations

from typing import Any

#: Keras optimizer settings the inner optimizer's `apply` uses: the wrapper's read and set the inner's.
INNER_SETTINGS = (
    "weight_decay",
    "clipnorm",
    "global_clipnorm",
    "clipvalue",
    "use_ema",
    "ema_momentum",
    "ema_overwrite_frequency",
    "loss_scale_factor",
    "gradient_accumulation_steps",
)


def _inner_setting(name: str) -> property:
    own = f"_own_{name}"

    def get(self: Any) -> Any:
        inner = self.__dict__.get("inner_optimizer")
        # The base constructor's value, read by the wrapper's own base `build` only (its EMA and
        # gradient accumulators would be unused copies of the inner optimizer's).
        return self.__dict__.get(own) if inner is None or self.__dict__.get("_own_build") else getattr(inner, name)

    def set(self: Any, value: Any) -> None:
        inner = self.__dict__.get("inner_optimizer")
        if inner is None:  # the base constructor
            self.__dict__[own] = value
        else:  # LossScaleOptimizer sets `loss_scale_factor` None: the inner's, which scales the loss
            setattr(inner, name, value)

    return property(get, set, doc=f"The inner optimizer's `{name}` (read and set there).")


class InnerDelegation:
    """The parts of ``keras.optimizers.Optimizer`` that ``LayerwiseOptimizer`` leaves to its
    ``inner_optimizer`` (placed before ``keras.optimizers.Optimizer`` among its bases)."""

    inner_optimizer: Any

    @property
    def _learning_rate(self) -> Any:
        # Code that sets the rate through the variable (the training controller, LR callbacks)
        # must reach the inner optimizer's, the one its update uses and `variables` lists.
        inner = self.__dict__.get("inner_optimizer")
        return self.__dict__.get("_unused_learning_rate") if inner is None else inner._learning_rate

    @_learning_rate.setter
    def _learning_rate(self, value: Any) -> None:
        # Only the base constructor sets it (to a placeholder 0.0 variable, never used).
        self.__dict__["_unused_learning_rate"] = value

    @property
    def learning_rate(self) -> Any:
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate: Any) -> None:
        self.inner_optimizer.learning_rate = learning_rate

    def _get_current_learning_rate(self) -> Any:
        return self.inner_optimizer._get_current_learning_rate()

    @property
    def iterations(self) -> Any:
        return self.inner_optimizer.iterations

    def scale_loss(self, loss: Any) -> Any:
        return self.inner_optimizer.scale_loss(loss)

    def finalize_variable_values(self, var_list: list[Any]) -> None:
        self.inner_optimizer.finalize_variable_values(var_list)

    def exclude_from_weight_decay(self, var_list: Any = None, var_names: Any = None) -> None:
        """As the inner optimizer's (which applies the weight decay): before it is built."""
        self.inner_optimizer.exclude_from_weight_decay(var_list=var_list, var_names=var_names)


for _name in INNER_SETTINGS:
    setattr(InnerDelegation, _name, _inner_setting(_name))
