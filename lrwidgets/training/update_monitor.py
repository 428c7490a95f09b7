"""Measure each layer's relative update size ||dW|| / ||W|| during `fit`, throttled."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from lrwidgets.core.checks import check_float
from lrwidgets.core.update_size import relative_update_sizes
from lrwidgets.training._state import innermost
from lrwidgets.training.layerwise import find_layerwise_optimizer, layer_groups

Listener = Callable[[dict[str, float], dict[str, float]], None]


class UpdateSizeMonitor(keras.callbacks.Callback):
    """Every `interval` seconds, measure one training step's ||dW|| / ||W|| per layer group.

    When due, the weights are copied at the end of a batch and of the next one (in the training
    thread, after the jax state sync), so the size is that of one step (with the optimizer's
    `gradient_accumulation_steps`, of the next batch that updates the weights), and
    `listener(sizes, multipliers)` is called there with `{group: ||dW|| / ||W||}` and the
    optimizer's current `{group: multiplier}` (empty if the optimizer is not a
    `LayerwiseOptimizer`). Between measurements a batch costs one clock read: the model is not
    touched (on jax, touching `self.model` syncs the whole state).

    Groups are those of the model's `LayerwiseOptimizer`, or else the same grouping by layer path.
    The listener must be cheap and must not block (it runs in the training thread).

    Args:
        listener: `Callable[[dict[str, float], dict[str, float]], None]`.
        interval: seconds from the end of one measurement to the start of the next (>= 0).
            Defaults to 0.5. With 0, every other batch's step is measured: a measurement copies
            the weights at the end of one batch and measures at the end of the next, and the
            following measurement starts at the batch after that.

    Example:
    >>> import keras, numpy as np
    >>> from lrwidgets.training import UpdateSizeMonitor
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="out")])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> seen = []
    >>> _ = model.fit(np.ones((6, 3)), np.ones((6, 2)), batch_size=2, verbose=0,
    ...               callbacks=[UpdateSizeMonitor(lambda s, m: seen.append(s), interval=0)])
    >>> len(seen), list(seen[0])
    (1, ['out'])
    """

    def __init__(self, listener: Listener, interval: float = 0.5) -> None:
        super().__init__()
        if not callable(listener):
            raise TypeError(f"Argument `listener` must be callable. Received: listener={listener!r}")
        check_float("interval", interval, ge=0)
        self.listener = listener
        self.interval = float(interval)
        self._due = 0.0
        self._before: dict[str, list[np.ndarray]] | None = None
        self._groups: dict[str, tuple[Any, ...]] = {}
        self._waited, self._accumulated = 0, 1

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._due = 0.0
        self._before = None
        self._groups = {}
        self._waited = 0
        #: `gradient_accumulation_steps`: batches to an update (a step measured is an update's)
        self._accumulated = int(getattr(innermost(self.model.optimizer), "gradient_accumulation_steps", None) or 1)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # Not async_safe: state is read in the training thread, and the two snapshots must pair up.
        if self._before is None:
            if time.monotonic() >= self._due:
                self._before = self._snapshot()
            return
        after = self._snapshot()
        sizes = relative_update_sizes(self._before, after)
        if self._waited < self._accumulated - 1 and not any(v > 0 for v in sizes.values()):
            self._waited += 1  # an optimizer that accumulates gradients: no update at this batch
            return
        self._before, self._waited = None, 0
        self._due = time.monotonic() + self.interval
        opt = find_layerwise_optimizer(self.model)
        multipliers = opt.multipliers if opt is not None and opt.built else {}
        self.listener(sizes, multipliers)

    def _snapshot(self) -> dict[str, list[np.ndarray]]:
        model = self.model  # on jax: syncs the trainer's state into the variables
        if not self._groups:
            opt = find_layerwise_optimizer(model)
            if opt is not None and opt.built:
                self._groups = opt.groups
            else:
                names, _, members, _ = layer_groups(list(model.trainable_variables), model)
                self._groups = {n: tuple(m) for n, m in zip(names, members, strict=True)}
        return {n: [keras.ops.convert_to_numpy(v) for v in vs] for n, vs in self._groups.items()}
