"""The benchmarks' workload: a 64-64-10 MLP on scikit-learn's digits tiled to 50,000 samples
(batch 32: 1,563 steps an epoch), compiled once."""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import cache
from typing import Any

import numpy as np

SAMPLES = 50_000
STEPS_PER_EPOCH = 1563  # batch 32


def digits_50k() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    reps = int(np.ceil(SAMPLES / len(digits.data)))
    x = np.tile((digits.data / 16.0).astype("float32"), (reps, 1))[:SAMPLES]
    y = np.tile(digits.target.astype("int32"), reps)[:SAMPLES]
    return x, y


def mlp(x: np.ndarray, y: np.ndarray, width: int = 64, batch_size: int = 32) -> Any:
    """The 64-``width``-``width``-10 MLP, compiled with Adam(1e-3) and already traced (one short
    fit at ``batch_size``)."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x[: 100 * batch_size], y[: 100 * batch_size], epochs=1, batch_size=batch_size, verbose=0)  # compile once
    return model


@cache
def _read_loss_class() -> type:
    import keras

    class ReadLoss(keras.callbacks.Callback):
        """Reads ``float(logs["loss"])`` after each batch, and nothing else."""

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            float((logs or {})["loss"])

    return ReadLoss


def read_loss() -> Any:
    """The fair baseline of the cost benchmarks: a callback that only reads ``float(logs["loss"])``
    each batch (any per-batch callback turns off Keras's async dispatch, as lrwidgets' does)."""
    return _read_loss_class()()


def timing(
    callback: Any, spent: list[float], names: Iterable[str] = ("on_train_batch_begin", "on_train_batch_end")
) -> Any:
    """Wrap ``callback``'s methods ``names`` (instance attributes) to add the time spent in them to
    ``spent[0]``; returns ``callback``."""
    for name in names:
        method = getattr(callback, name)

        def timed(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        setattr(callback, name, timed)
    return callback
