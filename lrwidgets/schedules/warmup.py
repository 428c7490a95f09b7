"""A linear warm-up in front of any schedule."""

from __future__ import annotations

from typing import Any

import numpy as np

from lrwidgets.schedules._base import NoKerasEquivalentError, Schedule, check_float, check_int
from lrwidgets.schedules.cosine import CosineDecay
from lrwidgets.schedules.plateau import ReduceOnPlateau
from lrwidgets.schedules.serialization import MAX_NESTING, deserialize, serialize


class Warmup(Schedule):
    """Rise linearly from ``initial_learning_rate`` to where ``schedule`` starts, then follow it.

    With ``target = schedule(0)``: for ``step < warmup_steps``,
    ``lr = initial_learning_rate + (target - initial_learning_rate) * step / warmup_steps``;
    afterwards ``lr = schedule(step - warmup_steps)`` (the wrapped schedule starts when the
    warm-up ends, as in Keras' ``CosineDecay`` with ``warmup_steps``).

    Config: ``get_config()`` nests the wrapped schedule in serialized form, one level deep,
    ``{"schedule": {"class_name": "CosineDecay", "config": {...}}, "warmup_steps": ..., ...}``
    (as Keras nests a schedule inside an optimizer's config), and the constructor accepts that dict
    in place of a schedule, so ``from_config`` stays ``cls(**config)``.

    Only ``Warmup(CosineDecay(...))`` (with no warm-up of its own) has a Keras form: Keras'
    ``CosineDecay(initial_learning_rate, decay_steps, alpha, warmup_target, warmup_steps)``.

    Args:
        schedule: the schedule to follow after the warm-up (a schedule or its serialized dict);
            not a ``ReduceOnPlateau``, whose reductions depend on the monitored values.
        warmup_steps: steps of the warm-up (an integer >= 0).
        initial_learning_rate: the learning rate at step 0 (>= 0).

    Example:
        >>> from lrwidgets.schedules import Constant
        >>> s = Warmup(Constant(0.1), warmup_steps=10)
        >>> s(0), s(5), s(10), s(100)
        (0.0, 0.05, 0.1, 0.1)
        >>> Warmup.from_config(s.get_config()) == s
        True
    """

    def __init__(
        self, schedule: Schedule | dict[str, Any], warmup_steps: int, initial_learning_rate: float = 0.0
    ) -> None:
        if isinstance(schedule, dict):
            schedule = deserialize(schedule)
        if not isinstance(schedule, Schedule):
            raise TypeError(f"Argument `schedule` must be an lrwidgets schedule. Received: schedule={schedule!r}")
        if isinstance(schedule, ReduceOnPlateau):
            raise TypeError(
                "Argument `schedule` cannot be a ReduceOnPlateau: its reductions depend on the monitored "
                "values, not on the step. Received: schedule=" + repr(schedule)
            )
        if _nesting(schedule) >= MAX_NESTING:
            raise ValueError(
                f"Argument `schedule` nests warm-ups more than {MAX_NESTING} deep. Received: schedule nested "
                f"{_nesting(schedule)} deep"
            )
        self.schedule = schedule
        self.warmup_steps = check_int("warmup_steps", warmup_steps, ge=0)
        self.initial_learning_rate = check_float("initial_learning_rate", initial_learning_rate, ge=0)

    def _evaluate(self, steps: np.ndarray) -> np.ndarray:
        after = self.schedule._evaluate(np.maximum(steps - self.warmup_steps, 0.0))
        if self.warmup_steps == 0:
            return after
        target = float(self.schedule(0))
        ramp = self.initial_learning_rate + (target - self.initial_learning_rate) * (steps / self.warmup_steps)
        return np.where(steps < self.warmup_steps, ramp, after)

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": serialize(self.schedule),
            "warmup_steps": self.warmup_steps,
            "initial_learning_rate": self.initial_learning_rate,
        }

    def keras_spec(self) -> Any:
        inner = self.schedule
        if not isinstance(inner, CosineDecay) or inner.warmup_target is not None:
            raise NoKerasEquivalentError(
                "Warmup has an equivalent in keras.optimizers.schedules only in front of a CosineDecay "
                f"without a warm-up of its own (Keras' CosineDecay(warmup_target=...)). Received: schedule={inner!r}"
            )
        config = {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": inner.decay_steps,
            "alpha": inner.alpha,
            "warmup_target": inner.initial_learning_rate,
            "warmup_steps": self.warmup_steps,
        }
        return {"class_name": "CosineDecay", "config": config}

    def _code_names(self) -> set[str]:
        return {"Warmup"} | self.schedule._code_names()

    def _code_expr(self) -> str:
        return (
            f"Warmup(schedule={self.schedule._code_expr()}, warmup_steps={self.warmup_steps!r}, "
            f"initial_learning_rate={self.initial_learning_rate!r})"
        )


def _nesting(schedule: Schedule) -> int:
    """How many schedules nest in ``schedule`` (1 for one that is not a ``Warmup``)."""
    depth = 1
    while isinstance(schedule, Warmup):
        schedule = schedule.schedule
        depth += 1
    return depth
