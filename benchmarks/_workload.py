"""The benchmarks' workload: a 64-64-10 MLP on scikit-learn's digits tiled to 50,000 samples
(batch 32: 1,563 steps an epoch), compiled once."""

from __future__ import annotations

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


def mlp(x: np.ndarray, y: np.ndarray) -> Any:
    """The MLP, compiled with Adam(1e-3) and already traced (one short fit)."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x[:3200], y[:3200], epochs=1, batch_size=32, verbose=0)  # compile once
    return model
