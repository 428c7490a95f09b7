"""Polynomial decay, as in ``keras.optimizers.schedules``."""

from __future__ import annotations

import numpy as np

from lrwidgets.schedules._base import Schedule, check_bool, check_float, check_steps


class PolynomialDecay(Schedule):
    """Polynomial decay from ``initial_learning_rate`` to ``end_learning_rate``, as Keras' ``PolynomialDecay``.

    Without ``cycle``: ``s = min(step, decay_steps)`` and
    ``lr(step) = (initial_learning_rate - end_learning_rate) * (1 - s / decay_steps) ** power + end_learning_rate``.
    With ``cycle``, ``decay_steps`` is replaced by ``decay_steps * ceil(step / decay_steps)``
    (``decay_steps`` itself at step 0), so the decay restarts, ever slower, after each period.

    Args:
        initial_learning_rate: the learning rate at step 0 (> 0).
        decay_steps: steps to reach ``end_learning_rate`` (> 0).
        end_learning_rate: the final learning rate (>= 0).
        power: the exponent of the polynomial (> 0); 1 is a straight line.
        cycle: restart the decay after ``decay_steps``.

    Example:
        >>> s = PolynomialDecay(0.1, decay_steps=100, end_learning_rate=0.0)
        >>> s(0), s(50), s(100), s(500)
        (0.1, 0.05, 0.0, 0.0)
    """

    keras_class_name = "PolynomialDecay"

    config_keys = ("initial_learning_rate", "decay_steps", "end_learning_rate", "power", "cycle")

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
    ) -> None:
        self.initial_learning_rate = check_float("initial_learning_rate", initial_learning_rate, gt=0)
        self.decay_steps = check_steps("decay_steps", decay_steps)
        self.end_learning_rate = check_float("end_learning_rate", end_learning_rate, ge=0)
        self.power = check_float("power", power, gt=0)
        self.cycle = check_bool("cycle", cycle)

    def _evaluate(self, steps: np.ndarray) -> np.ndarray:
        if self.cycle:
            decay_steps = self.decay_steps * np.where(steps == 0, 1.0, np.ceil(steps / self.decay_steps))
        else:
            decay_steps = np.full(steps.shape, self.decay_steps, dtype=steps.dtype)
            steps = np.minimum(steps, decay_steps)
        p = steps / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * (1.0 - p) ** self.power + self.end_learning_rate
