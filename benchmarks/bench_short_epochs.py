"""What a session costs fits of short epochs (small datasets, many epochs: the course notebooks' kind).

Each epoch's start and end run work of their own (the NaN guard's copy of the weights and the
optimizer's state, the epoch's record), which a fit of 1,563 steps an epoch (``bench_dashboard.py``)
never shows. Two workloads, each fit given ``callbacks=[...]`` in this thread (as ``dash.callback``):

- ``wine``: scikit-learn's wine data (178 samples, standardized), a 13-32-3 MLP, Adam 1e-3,
  batch 32 (6 steps an epoch), 100 epochs;
- ``digits``: scikit-learn's digits (1,797 samples), the 64-64-10 MLP, Adam 1e-3, batch 32
  (57 steps an epoch), 20 epochs;

and three configurations: ``read-only`` (a callback that only reads ``float(logs["loss"])``, the
baseline), ``restore`` (a ``TrainingSession``'s callback, ``on_nan="restore"``, the default: it
copies the state), ``stop`` (``on_nan="stop"``: no copies). Printed per workload and
configuration, medians over ``--repeats`` fits (the configurations alternated, the weights and
optimizer state put back before each fit): the fit's wall time and its ratio to the baseline fit
of the same round, the time spent inside the session's callback methods (``time.perf_counter``
around each but a batch's start, where these light fits do nothing; per epoch), the copies taken
and the time in them.

Usage: ``KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_short_epochs.py [--repeats 15]``
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np
from _workload import read_loss, timing

import lrwidgets as lrw
from lrwidgets.training import nan_guard

METHODS = ("on_train_begin", "on_epoch_begin", "on_train_batch_end", "on_epoch_end", "on_train_end")


def workload(name: str) -> tuple[Any, np.ndarray, np.ndarray, int]:
    """``(model, x, y, epochs)``, the model compiled and its step traced."""
    from sklearn.datasets import load_digits, load_wine

    keras.utils.set_random_seed(0)
    if name == "wine":
        data = load_wine()
        x = ((data.data - data.data.mean(0)) / data.data.std(0)).astype("float32")
        sizes, epochs = (13, 32, 3), 100
    else:
        data = load_digits()
        x = (data.data / 16.0).astype("float32")
        sizes, epochs = (64, 64, 64, 10), 20
    layers = [keras.layers.Dense(n, activation="relu") for n in sizes[1:-1]]
    model = keras.Sequential([keras.Input((sizes[0],)), *layers, keras.layers.Dense(sizes[-1], activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    y = data.target.astype("int32")
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)  # traced once
    return model, x, y, epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--workloads", default="wine,digits")
    args = parser.parse_args()
    copies = [0, 0.0]
    take = nan_guard.NanGuard.take

    def counted_take(self: Any, *a: Any, **k: Any) -> bool:
        start = time.perf_counter()
        try:
            return take(self, *a, **k)
        finally:
            copies[0] += 1
            copies[1] += time.perf_counter() - start

    nan_guard.NanGuard.take = counted_take  # type: ignore[method-assign]
    configs = ("read-only", "restore", "stop")
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, {args.repeats} rounds\n")
    columns = ("workload", "configuration", "fit (median)", "paired ratio", "in the callback, per epoch")
    print("| " + " | ".join((*columns, "copies a fit", "per copy")) + " |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in args.workloads.split(","):
        model, x, y, epochs = workload(name)
        weights = [keras.ops.convert_to_numpy(v.value) for v in model.weights]
        opt = [keras.ops.convert_to_numpy(v.value) for v in model.optimizer.variables]
        walls: dict[str, list[float]] = {c: [] for c in configs}
        inside: dict[str, list[float]] = {c: [] for c in configs}
        taken: dict[str, list[tuple[int, float]]] = {c: [] for c in configs}
        for r in range(args.repeats):
            for config in configs if r % 2 == 0 else configs[::-1]:
                for v, w in zip(model.weights, weights, strict=True):
                    v.assign(w)
                for v, w in zip(model.optimizer.variables, opt, strict=True):
                    v.assign(w)
                spent = [0.0]
                if config == "read-only":
                    callback = read_loss()
                else:
                    callback = lrw.TrainingSession(model, on_nan=config).callback
                    timing(callback, spent, METHODS)
                copies[:] = [0, 0.0]
                gc.collect()
                time.sleep(0.2)
                start = time.perf_counter()
                model.fit(x, y, epochs=epochs, batch_size=32, callbacks=[callback], verbose=0)
                walls[config].append(time.perf_counter() - start)
                inside[config].append(spent[0] / epochs)
                taken[config].append((int(copies[0]), float(copies[1])))
        base = walls["read-only"]
        for config in configs:
            ratio = statistics.median(a / b for a, b in zip(walls[config], base, strict=True))
            n = statistics.median(c for c, _ in taken[config])
            per = [t / c for c, t in taken[config] if c]
            per_copy = f"{statistics.median(per) * 1e3:.3f} ms" if per else ""
            print(
                f"| {name} | {config} | {statistics.median(walls[config]) * 1e3:.1f} ms | {ratio:.3f}x |"
                f" {statistics.median(inside[config]) * 1e3:.3f} ms | {n:.0f} | {per_copy} |"
            )


if __name__ == "__main__":
    main()
