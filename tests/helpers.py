"""Test helpers: small Keras models and a comm that records what widgets send to the browser."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np


def wait_for(condition: Callable[[], Any], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def regression_data(n: int = 256, features: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    w = rng.normal(size=(features, 1)).astype("float32")
    return x, (x @ w).astype("float32")


def linear_model(optimizer: Any = None, features: int = 8, metrics: Any = None) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((features,)), keras.layers.Dense(1, name="dense")])
    model.compile(optimizer=optimizer or keras.optimizers.SGD(1e-3), loss="mse", metrics=metrics)
    return model


def kernel_of(model: Any) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(model.layers[0].kernel.value))


class RecordingComm:
    """Stands in for a kernel comm; keeps every message with its size in bytes."""

    kernel = "recording"
    log: ClassVar[list[tuple[str, int]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.comm_id = f"comm-{id(self)}"

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_msg(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        size = len(json.dumps(data, default=str)) + sum(memoryview(b).nbytes for b in buffers or [])
        RecordingComm.log.append((self.comm_id, size))


def no_thread_named(monkeypatch: Any, name: str) -> Callable[[], None]:
    """Make ``threading.Thread.start`` fail, as at the process's thread limit, for threads called
    ``name``; returns a function that lets them start again."""
    import threading

    start = threading.Thread.start

    def refuse(self: threading.Thread) -> None:
        if self.name == name:
            raise RuntimeError("can't start new thread")
        start(self)

    monkeypatch.setattr(threading.Thread, "start", refuse)
    return lambda: monkeypatch.setattr(threading.Thread, "start", start)
