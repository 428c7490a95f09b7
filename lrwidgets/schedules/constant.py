"""A constant learning rate."""

from __future__ import annotations

from typing import Any

import numpy as np

from lrwidgets.schedules._base import Schedule, check_float


class Constant(Schedule):
    """The same learning rate at every step: ``lr(step) = learning_rate``.

    Keras' own form of a constant rate is a float, so ``to_keras()`` returns the float.

    Args:
        learning_rate: the learning rate (>= 0).

    Example:
        >>> Constant(1e-3)(500)
        0.001
        >>> Constant(1e-3).to_keras()
        0.001
    """

    config_keys = ("learning_rate",)

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = check_float("learning_rate", learning_rate, ge=0)

    def _evaluate(self, steps: np.ndarray) -> np.ndarray:
        return np.full(steps.shape, self.learning_rate, dtype=steps.dtype)

    def keras_spec(self) -> Any:
        return self.learning_rate
