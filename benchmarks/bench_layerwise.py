"""Step time of LayerwiseOptimizer, and of update-size monitoring, against a bare optimizer.

    KERAS_BACKEND=jax python benchmarks/bench_layerwise.py [--runs 9] [--epochs 40]

A 64-64-10 MLP on scikit-learn's digits (bundled, 1797 images), batch 32, Adam. Every
configuration has the read-only callback (reads `float(logs["loss"])` each batch), the fair
baseline for per-batch callbacks (see FACTS.md: with no callback at all, jax dispatches
asynchronously and a callback-free run is not comparable):

- bare: `keras.optimizers.Adam` + read-only callback (the baseline)
- layerwise: `LayerwiseOptimizer(Adam, multipliers=...)` + read-only callback
- layerwise+monitor: the same + `LayerLRControls(model).monitor()` (update sizes every 0.5 s,
  sent to the widget)

Each model is compiled and warmed up once, then the configurations are timed in interleaved
rounds (order rotating); reported, in wall-clock and in process CPU time: the median time per
step and the median over rounds of the ratio to that round's baseline (robust to load drift on a
shared machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import keras
import numpy as np
from _workload import read_loss
from sklearn.datasets import load_digits

import lrwidgets as lrw


def make_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu", name="hidden_1"),
            keras.layers.Dense(64, activation="relu", name="hidden_2"),
            keras.layers.Dense(10, activation="softmax", name="head"),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    steps = args.epochs * int(np.ceil(len(x) / 32))

    configs: dict[str, tuple[keras.Model, list[keras.callbacks.Callback]]] = {}
    for name in ("bare", "layerwise", "layerwise+monitor"):
        model = make_model()
        if name == "bare":
            optimizer = keras.optimizers.Adam(1e-3)
        else:
            optimizer = lrw.LayerwiseOptimizer(keras.optimizers.Adam(1e-3), multipliers={"hidden_1": 0.3, "head": 2.0})
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        callbacks: list[keras.callbacks.Callback] = [read_loss()]
        if name == "layerwise+monitor":
            callbacks.append(lrw.LayerLRControls(model).monitor(interval=0.5))
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=callbacks)  # compile + warm up
        configs[name] = (model, callbacks)

    times: dict[str, list[float]] = {name: [] for name in configs}
    cpu: dict[str, list[float]] = {name: [] for name in configs}
    names = list(configs)
    for r in range(args.runs):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            model, callbacks = configs[name]
            start, start_cpu = time.perf_counter(), time.process_time()
            model.fit(x, y, batch_size=32, epochs=args.epochs, verbose=0, callbacks=callbacks)
            times[name].append((time.perf_counter() - start) / steps)
            cpu[name].append((time.process_time() - start_cpu) / steps)

    load = os.getloadavg()[0]
    print(f"backend={keras.backend.backend()} keras={keras.__version__} runs={args.runs} steps/run={steps}")
    print(f"load average (1 min) at the end: {load:.2f} on {os.cpu_count()} CPUs")
    for name in configs:
        # Paired: each round's time over the same round's baseline, so load drift on a shared
        # machine cancels; the median over rounds is the reported ratio. CPU time (all threads of
        # this process) is less sensitive than wall time to other processes on the machine.
        wall = statistics.median(t / b for t, b in zip(times[name], times["bare"], strict=True))
        proc = statistics.median(t / b for t, b in zip(cpu[name], cpu["bare"], strict=True))
        print(
            f"{name:>18}: wall {statistics.median(times[name]) * 1e3:.3f} ms/step (min {min(times[name]) * 1e3:.3f})"
            f" ratio {wall:.3f}x | cpu {statistics.median(cpu[name]) * 1e3:.3f} ms/step ratio {proc:.3f}x"
        )


if __name__ == "__main__":
    main()
