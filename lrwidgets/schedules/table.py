"""Evaluating any schedule callable at many steps, and an O(1)-per-step lookup table of it.

A schedule here is any callable on a step: an :class:`lrwidgets.schedules.Schedule`, or a plain
Python function. Those that take a numpy array of steps (every ``Schedule``, and plain functions
written with arithmetic only, such as ``lambda step: 1e-3 * 0.5 ** (step // 100)``) are evaluated
in one vectorized call; the others (``if step < 10: ...``, ``math.exp(step)``, ``min(...)``) one
call a step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from lrwidgets.core.checks import FLOAT32_MAX, check_int


class ScheduleValueError(ValueError):
    """A schedule gave a rate the optimizer cannot hold, or failed, at a step of a fit."""


def _bad_rate(step: int, value: Any) -> ScheduleValueError:
    return ScheduleValueError(
        f"The schedule gave the learning rate {value!r} for step {step}; a rate must be a finite number >= 0"
        f" and at most {FLOAT32_MAX:.4g} (the optimizer holds it as a float32). Nothing was written for that step."
    )


def _failed(step: int, error: Exception) -> ScheduleValueError:
    return ScheduleValueError(f"The schedule failed at step {step}: {type(error).__name__}: {error}")


def vectorized_rates(schedule: Callable[[Any], Any], steps: np.ndarray) -> np.ndarray | None:
    """``schedule(steps)`` as float64 rates, or None if the schedule does not take an array of steps."""
    try:
        raw = np.asarray(schedule(steps))
        values = raw.astype(np.float64, copy=False)
    except Exception:  # a plain Python callable that only takes an int
        return None
    # Numbers only (numpy parses strings "0.1" as rates): else one call a step, which refuses them
    return values if values.shape == steps.shape and raw.dtype.kind in "iuf" else None


def rates(schedule: Callable[[Any], Any], steps: np.ndarray) -> np.ndarray:
    """The rates (float64) of ``schedule`` at ``steps``: vectorized when it can be, else one call a step.

    Example:
        >>> import math, numpy as np
        >>> rates(lambda step: 0.1 * 0.5 ** (step // 2), np.arange(5)).tolist()     # vectorized
        [0.1, 0.1, 0.05, 0.05, 0.025]
        >>> rates(lambda step: 0.1 if step < 2 else 0.01, np.arange(4)).tolist()    # one call a step
        [0.1, 0.1, 0.01, 0.01]
    """
    values = vectorized_rates(schedule, steps)
    if values is not None:
        return values
    return np.array([float(schedule(int(s))) for s in steps], dtype=np.float64)


class ScheduleTable:
    """``schedule(step)`` in O(1) a step: evaluated ahead, ``block`` steps at a time, then looked up.

    A schedule that takes an array of steps is evaluated in one vectorized call for the
    ``block`` steps from the first step asked that the table does not hold; each later step in
    that range is a list lookup. A schedule that only takes an int is called once per step asked
    (nothing ahead). Either way ``table(step) == float(schedule(step))`` up to the last bit of
    float64 (vectorized and scalar numpy can differ there), and the schedule must be a pure
    function of the step: a table never notices that its schedule changed; make a new one.

    Every rate is checked before it is handed out: a step whose rate is negative, NaN, infinite or
    beyond float32, or where the schedule raises, raises :class:`ScheduleValueError` naming the
    step (the steps before it are served as usual).

    Args:
        schedule: a callable on an int step (and maybe on an array of steps) returning rates.
        block: how many steps one vectorized evaluation covers (>= 1).

    Example:
        >>> from lrwidgets.schedules import ExponentialDecay
        >>> table = ScheduleTable(ExponentialDecay(1e-3, decay_steps=100, decay_rate=0.5), block=256)
        >>> table(100), table(101) == ExponentialDecay(1e-3, 100, 0.5)(101), table.vectorized
        (0.0005, True, True)
    """

    def __init__(self, schedule: Callable[[Any], Any], block: int = 1024) -> None:
        if not callable(schedule):
            raise TypeError(f"Argument `schedule` must be callable on a step. Received: schedule={schedule!r}")
        self.block = check_int("block", block, ge=1, le=1 << 20)  # a block is evaluated into one array
        self.schedule = schedule
        #: False once a vectorized call failed: the schedule is then called one step at a time.
        self.vectorized = True
        self._start = 0
        self._values: list[float] = []

    def __call__(self, step: int) -> float:
        i = step - self._start
        if 0 <= i < len(self._values):
            return self._values[i]
        return self._fill(step)

    def _fill(self, step: int) -> float:
        if self.vectorized:
            values = vectorized_rates(self.schedule, np.arange(step, step + self.block))
            if values is not None:
                ok = np.isfinite(values) & (values >= 0) & (values <= FLOAT32_MAX)
                n = len(values) if ok.all() else int(np.argmin(ok))
                if n == 0:
                    raise _bad_rate(step, float(values[0]))
                self._start, self._values = step, values[:n].tolist()
                return self._values[0]
            self.vectorized = False
        try:
            raw = self.schedule(step)
            value = float(raw)
        except Exception as e:
            raise _failed(step, e) from e
        # (float("0.1") is no rate; one below a float32's smallest is written as 0, as Keras writes it)
        text = isinstance(raw, (str, bytes)) or (isinstance(raw, np.ndarray) and raw.dtype.kind not in "iuf")
        if text or not (math.isfinite(value) and 0 <= value <= FLOAT32_MAX):
            raise _bad_rate(step, raw)
        return value
