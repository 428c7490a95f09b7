"""Keep a copy of the last healthy model state during a fit, and put it back when the loss breaks.

A copy taken before batch ``k`` holds the weights that batch ``k`` computes its loss with, so it
is *confirmed* only when that loss comes back finite and not diverged (at most ``factor`` times
the best batch loss of the fit). Restoring puts back the last confirmed copy: never weights that
already produced an infinite or runaway loss, even when a whole epoch is one step (a start-of-epoch
copy would then hold weights of ~1e17). The learning rate and the per-layer multipliers are left
as they are: they are steered live, and the user's last choice stands.
"""

from __future__ import annotations

import math
import time
from typing import Any

import keras
import numpy as np

from lrwidgets.training import _state


def _values(variables: list[Any]) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v.value) for v in variables]


class NanGuard:
    """Copies of the model and optimizer state, taken in the training thread, and their restore.

    Args:
        factor: a copy is confirmed when the next batch loss is finite and at most ``factor`` times
            the best batch loss of the fit so far.
        interval: seconds between two copies within an epoch (each epoch's start always gets one);
            on jax a copy syncs the whole state, so copies are rationed.
    """

    def __init__(self, factor: float = 4.0, interval: float = 2.0) -> None:
        self.factor = factor
        self.interval = interval
        self._pending: tuple[list[np.ndarray], list[np.ndarray], int] | None = None
        self._good: tuple[list[np.ndarray], list[np.ndarray], int] | None = None
        self._good_loss = math.inf
        self._best = math.inf
        self._due = 0.0

    def begin_fit(self) -> None:
        self._pending = self._good = None
        self._good_loss = self._best = math.inf
        self._due = 0.0

    @property
    def restorable_step(self) -> int | None:
        """The step (0-based, in the history) whose weights a restore would bring back."""
        return None if self._good is None else self._good[2]

    def wants_copy(self, epoch_start: bool) -> bool:
        """Whether to take a copy before this batch (cheap: a clock read)."""
        return self._pending is None and (epoch_start or time.monotonic() >= self._due)

    def take(self, model: Any, step: int) -> None:
        """Copy the weights and optimizer state that batch ``step`` will use (training thread)."""
        _state.sync(model)
        self._pending = (_values(model.weights), _values(model.optimizer.variables), step)
        self._due = time.monotonic() + self.interval

    def observe(self, loss: float) -> None:
        """The loss of the batch just run: confirms the pending copy if it was healthy."""
        healthy = math.isfinite(loss) and (not math.isfinite(self._best) or loss <= self.factor * max(self._best, 0.0))
        if math.isfinite(loss):
            self._best = min(self._best, loss)
        pending, self._pending = self._pending, None
        if pending is not None and healthy:
            self._good, self._good_loss = pending, loss

    def restore(self, model: Any, keep: list[Any]) -> int | None:
        """Put back the last confirmed copy, except the variables in ``keep``; its step, or None."""
        if self._good is None:
            return None
        weights, opt_values, step = self._good
        _state.sync(model)
        for var, value in zip(model.weights, weights, strict=True):
            var.assign(value)
        kept = {id(v) for v in keep}
        for var, value in zip(model.optimizer.variables, opt_values, strict=True):
            if id(var) not in kept:
                var.assign(value)
        return step
