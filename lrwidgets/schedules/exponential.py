"""Exponential and inverse-time decay, as in ``keras.optimizers.schedules``."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from lrwidgets.schedules._base import Schedule, check_bool, check_float, check_steps


class _TimeDecay(Schedule):
    """Shared arguments of the decays driven by ``step / decay_steps`` (floored with ``staircase``)."""

    config_keys = ("initial_learning_rate", "decay_steps", "decay_rate", "staircase")
    #: Whether ``decay_rate`` may be 0 (no decay); otherwise it must be > 0.
    _zero_decay_rate_ok: ClassVar[bool] = False

    def __init__(
        self, initial_learning_rate: float, decay_steps: float, decay_rate: float, staircase: bool = False
    ) -> None:
        self.initial_learning_rate = check_float("initial_learning_rate", initial_learning_rate, gt=0)
        self.decay_steps = check_steps("decay_steps", decay_steps)
        if self._zero_decay_rate_ok:
            self.decay_rate = check_float("decay_rate", decay_rate, ge=0)
        else:
            self.decay_rate = check_float("decay_rate", decay_rate, gt=0)
        self.staircase = check_bool("staircase", staircase)

    def _progress(self, steps: np.ndarray) -> np.ndarray:
        p = steps / self.decay_steps
        return np.floor(p) if self.staircase else p


class ExponentialDecay(_TimeDecay):
    """Exponential decay, as Keras' ``ExponentialDecay``.

    ``lr(step) = initial_learning_rate * decay_rate ** (step / decay_steps)``, with the
    exponent floored when ``staircase`` is True.

    Args:
        initial_learning_rate: the learning rate at step 0 (> 0).
        decay_steps: steps over which the rate is multiplied by ``decay_rate`` (> 0).
        decay_rate: the multiplier per ``decay_steps`` (> 0).
        staircase: decay in discrete jumps every ``decay_steps`` steps.

    Example:
        >>> s = ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5)
        >>> s(0), s(100), s(200)
        (0.1, 0.05, 0.025)
        >>> round(s(50), 6), ExponentialDecay(0.1, 100, 0.5, staircase=True)(50)
        (0.070711, 0.1)
    """

    keras_class_name = "ExponentialDecay"

    def _evaluate(self, steps: np.ndarray) -> np.ndarray:
        # exp(p * log(rate)) is rate ** p, and several times faster than np.power on long arrays.
        return self.initial_learning_rate * np.exp(self._progress(steps) * math.log(self.decay_rate))


class InverseTimeDecay(_TimeDecay):
    """Inverse-time decay, as Keras' ``InverseTimeDecay``.

    ``lr(step) = initial_learning_rate / (1 + decay_rate * step / decay_steps)``, with
    ``step / decay_steps`` floored when ``staircase`` is True.

    Args:
        initial_learning_rate: the learning rate at step 0 (> 0).
        decay_steps: the step scale of the decay (> 0).
        decay_rate: how fast the rate falls (>= 0).
        staircase: decay in discrete jumps every ``decay_steps`` steps.

    Example:
        >>> s = InverseTimeDecay(0.1, decay_steps=10, decay_rate=1.0)
        >>> s(0), s(10), s(30)
        (0.1, 0.05, 0.025)
    """

    keras_class_name = "InverseTimeDecay"
    _zero_decay_rate_ok = True

    def _evaluate(self, steps: np.ndarray) -> np.ndarray:
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(steps))
