"""Schedules that hold the learning rate between drops: step decay and piecewise constant."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from lrwidgets.schedules._base import Schedule, check_float, check_int


class StepDecay(Schedule):
    """Multiply the learning rate by ``factor`` every ``drop_every`` steps.

    ``lr(step) = initial_learning_rate * factor ** floor(step / drop_every)``

    This is Keras' ``ExponentialDecay(initial_learning_rate, decay_steps=drop_every,
    decay_rate=factor, staircase=True)``, which is what ``to_keras()`` returns.

    Args:
        initial_learning_rate: the learning rate before the first drop (> 0).
        drop_every: number of steps between drops (an integer >= 1).
        factor: multiplier applied at each drop, in (0, 1].

    Example:
        >>> s = StepDecay(0.1, drop_every=100, factor=0.5)
        >>> s(99), s(100), s(250)
        (0.1, 0.05, 0.025)
        >>> s(np.array([0, 100, 200])).tolist()
        [0.1, 0.05, 0.025]
    """

    config_keys = ("initial_learning_rate", "drop_every", "factor")

    def __init__(self, initial_learning_rate: float, drop_every: int, factor: float) -> None:
        self.initial_learning_rate = check_float("initial_learning_rate", initial_learning_rate, gt=0)
        self.drop_every = check_int("drop_every", drop_every, ge=1)
        self.factor = check_float("factor", factor, gt=0, le=1)

    def _evaluate(self, steps: np.ndarray) -> np.ndarray:
        return self.initial_learning_rate * self.factor ** np.floor(steps / self.drop_every)

    def keras_spec(self) -> Any:
        config = {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.drop_every,
            "decay_rate": self.factor,
            "staircase": True,
        }
        return {"class_name": "ExponentialDecay", "config": config}


class PiecewiseConstantDecay(Schedule):
    """Constant learning rates between step boundaries, as Keras' ``PiecewiseConstantDecay``.

    ``lr(step) = values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, and ``values[-1]`` after ``boundaries[-1]``.

    Args:
        boundaries: strictly increasing steps (numbers >= 0).
        values: learning rates (>= 0), one more than there are boundaries.

    Example:
        >>> s = PiecewiseConstantDecay(boundaries=[100, 200], values=[1.0, 0.5, 0.1])
        >>> s(100), s(101), s(201)
        (1.0, 0.5, 0.1)
    """

    keras_class_name = "PiecewiseConstantDecay"
    config_keys = ("boundaries", "values")

    def __init__(self, boundaries: list[float], values: list[float]) -> None:
        for name, given in (("boundaries", boundaries), ("values", values)):
            if not isinstance(given, (list, tuple, np.ndarray)) or np.ndim(given) != 1:  # a 0-d array has no len
                raise TypeError(f"Argument `{name}` must be a list of numbers. Received: {name}={given!r}")
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of `boundaries` should be 1 less than the length of `values`. "
                f"Received: boundaries={boundaries!r}, values={values!r}"
            )
        b = [_number(check_float("boundaries", x, ge=0), x) for x in boundaries]
        if any(later <= earlier for earlier, later in itertools.pairwise(b)):
            raise ValueError(f"Argument `boundaries` must be strictly increasing. Received: boundaries={boundaries!r}")
        self.boundaries = b
        self.values = [check_float("values", x, ge=0) for x in values]
        self._b = np.asarray(self.boundaries, dtype=np.float64)
        self._v = np.asarray(self.values, dtype=np.float64)

    def _evaluate(self, steps: np.ndarray) -> np.ndarray:
        return self._v.astype(steps.dtype, copy=False)[np.searchsorted(self._b, steps, side="left")]

    def keras_spec(self) -> Any:
        if not self.boundaries:  # a constant: Keras's schedule fails on no boundaries; its form is the float
            return self.values[0]
        return super().keras_spec()


def _number(checked: float, original: Any) -> int | float:
    """Keep integral boundaries as ints in the config (steps are counted in ints)."""
    return int(original) if isinstance(original, (int, np.integer)) else checked
