"""Cosine decay and cosine decay with warm restarts (SGDR), as in ``keras.optimizers.schedules``."""

from __future__ import annotations

import math

import numpy as np

from lrwidgets.schedules._base import Schedule, check_float, check_int, check_steps


class CosineDecay(Schedule):
    """Cosine decay with an optional linear warm-up, as Keras' ``CosineDecay``.

    Without ``warmup_target``: ``s = min(step, decay_steps)`` and
    ``lr(step) = initial_learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)``.

    With ``warmup_target``: ``s = min(step, warmup_steps + decay_steps)``; while ``s < warmup_steps``
    the rate rises linearly from ``initial_learning_rate`` to ``warmup_target``, then it decays as
    above from ``warmup_target``, over ``s - warmup_steps``.

    Args:
        initial_learning_rate: the learning rate at step 0 (> 0 without warm-up, >= 0 with it).
        decay_steps: steps of the cosine decay (> 0).
        alpha: the final rate as a fraction of the decayed-from rate, in [0, 1].
        warmup_target: the rate reached at the end of the warm-up, or None for no warm-up.
        warmup_steps: steps of the warm-up (an integer >= 0).

    Example:
        >>> s = CosineDecay(0.1, decay_steps=100)
        >>> s(0), round(s(50), 6), s(100)
        (0.1, 0.05, 0.0)
        >>> w = CosineDecay(0.0, decay_steps=100, warmup_target=0.1, warmup_steps=10)
        >>> w(5), w(10)
        (0.05, 0.1)
    """

    keras_class_name = "CosineDecay"

    config_keys = ("initial_learning_rate", "decay_steps", "alpha", "warmup_target", "warmup_steps")

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        alpha: float = 0.0,
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ) -> None:
        lr_bound = {"gt": 0.0} if warmup_target is None else {"ge": 0.0}
        self.initial_learning_rate = check_float("initial_learning_rate", initial_learning_rate, **lr_bound)
        self.decay_steps = check_steps("decay_steps", decay_steps)
        self.alpha = check_float("alpha", alpha, ge=0, le=1)
        self.warmup_target = None if warmup_target is None else check_float("warmup_target", warmup_target, gt=0)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, ge=0)

    def _decay(self, steps: np.ndarray, decay_from: float) -> np.ndarray:
        cosine = 0.5 * (1.0 + np.cos(np.pi * steps / self.decay_steps))
        return decay_from * ((1.0 - self.alpha) * cosine + self.alpha)

    def _evaluate(self, steps: np.ndarray) -> np.ndarray:
        if self.warmup_target is None:
            return self._decay(np.minimum(steps, self.decay_steps), self.initial_learning_rate)
        steps = np.minimum(steps, self.decay_steps + self.warmup_steps)
        warm = steps < self.warmup_steps
        # Where warm is False the ratio is unused; max(.., 1) avoids 0/0 when warmup_steps is 0.
        ramp = self.initial_learning_rate + (self.warmup_target - self.initial_learning_rate) * (
            steps / max(self.warmup_steps, 1)
        )
        return np.where(warm, ramp, self._decay(steps - self.warmup_steps, self.warmup_target))


class CosineDecayRestarts(Schedule):
    """Cosine decay with warm restarts (SGDR), as Keras' ``CosineDecayRestarts``.

    Period ``i`` (from 0) lasts ``first_decay_steps * t_mul ** i`` steps and starts at
    ``initial_learning_rate * m_mul ** i``; within it, with ``f`` the fraction of the period done,
    ``lr = initial_learning_rate * ((1 - alpha) * m_mul ** i * 0.5 * (1 + cos(pi * f)) + alpha)``.

    Args:
        initial_learning_rate: the learning rate at step 0 (> 0).
        first_decay_steps: length of the first period in steps (> 0).
        t_mul: each period is ``t_mul`` times longer than the one before (>= 1).
        m_mul: each restart starts ``m_mul`` times lower than the one before (> 0).
        alpha: the floor of the rate, as a fraction of ``initial_learning_rate``, in [0, 1].

    Example:
        >>> s = CosineDecayRestarts(0.1, first_decay_steps=10, t_mul=2.0, m_mul=0.5)
        >>> s(0), s(10), s(30)
        (0.1, 0.05, 0.025)
    """

    keras_class_name = "CosineDecayRestarts"

    config_keys = ("initial_learning_rate", "first_decay_steps", "t_mul", "m_mul", "alpha")

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: float,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
    ) -> None:
        self.initial_learning_rate = check_float("initial_learning_rate", initial_learning_rate, gt=0)
        self.first_decay_steps = check_steps("first_decay_steps", first_decay_steps)
        self.t_mul = check_float("t_mul", t_mul, ge=1)
        self.m_mul = check_float("m_mul", m_mul, gt=0)
        self.alpha = check_float("alpha", alpha, ge=0, le=1)

    def _evaluate(self, steps: np.ndarray) -> np.ndarray:
        # Far into a run with a long t_mul, or with a tiny first period, done * growth and
        # t_mul**n pass the float range (inf, then inf - inf) while the fraction of the period
        # does not: those steps are located again from logarithms. m_mul**n far into a run is
        # inf or 0, as in Keras.
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            if steps.dtype == np.float32:
                # Which period, and where in it, in float64: float32 cannot place a step among
                # periods that grow by a t_mul near 1, or last less than a step (the cosine itself,
                # the costly part, stays in float32)
                n, fraction = (a.astype(np.float32) for a in self._locate(steps.astype(np.float64)))
            else:
                n, fraction = self._locate(steps)
            peak = np.power(self.m_mul, n)
        cosine = 0.5 * peak * (1.0 + np.cos(np.pi * fraction))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def _locate(self, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The period each step is in (from 0) and the fraction of it done."""
        # Closed form, O(1) a step: period n starts at (t_mul**n - 1) / (t_mul - 1) first periods
        # (at n with t_mul == 1) and lasts t_mul**n of them.
        done = steps / self.first_decay_steps  # in units of the first period
        if self.t_mul == 1.0:
            n = np.floor(done)
            return n, done - n
        growth = self.t_mul - 1.0
        n = np.floor(np.log1p(done * growth) / math.log(self.t_mul))
        # The logarithm can land a hair on the wrong side of a restart: compare with the starts.
        n = np.where(done < self._start(n, growth), n - 1, n)
        n = np.where(done >= self._start(n + 1, growth), n + 1, n)
        fraction = (done - self._start(n, growth)) / np.power(self.t_mul, n)
        if not np.all(np.isfinite(fraction)):
            n, fraction = self._locate_in_logs(steps, n, fraction, growth)
        return n, fraction

    def _start(self, n: np.ndarray, growth: float) -> np.ndarray:
        """Where period ``n`` starts, in units of the first period."""
        return (np.power(self.t_mul, n) - 1.0) / growth

    def _locate_in_logs(
        self, steps: np.ndarray, n: np.ndarray, fraction: np.ndarray, growth: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Period and fraction where ``done * growth`` or ``t_mul ** n`` is beyond the float range.

        Far into a run with a long ``t_mul``, or a tiny first period, those products overflow
        while the fraction of the period done does not: it is ``done / t_mul**n - (1 - t_mul**-n)
        / growth``, and ``done / t_mul**n`` is computed from logarithms.
        """
        log_t = math.log(self.t_mul)
        log_done = np.log(steps) - math.log(self.first_decay_steps)  # -inf at step 0: fraction 0
        lost = ~np.isfinite(fraction)
        n = np.where(lost, np.maximum(np.floor((log_done + math.log(growth)) / log_t), 0.0), n)

        def part_done(n: np.ndarray) -> np.ndarray:
            return np.exp(log_done - n * log_t) - (1.0 - np.exp(-n * log_t)) / growth

        n = np.where(lost & (part_done(n) < 0), n - 1, n)
        n = np.where(lost & (part_done(n) >= 1), n + 1, n)
        return n, np.where(lost, part_done(n), fraction)
