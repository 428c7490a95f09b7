"""LR sweep: 8 trials serial (one after the other in this process) vs on the embedded Dask cluster.

Reports wall times and speedup, the streaming latency from a worker's send to the client's
handler (which calls the widget's listener next, in the same thread), the latency of a cancel
(from `sweep.cancel` to the trial's end seen by the client), and the LRSweep widget's bytes
per second (every comm message counted, as if displayed).

    KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_sweep.py --epochs 6

The workload: a 64-64-10 MLP on scikit-learn's digits (1,797 samples, 20% for validation,
batch 32: 45 steps an epoch), 4 learning rates x adam and sgd, seed 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's lrwidgets and tests


def build_model() -> Any:
    import keras

    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.data / 16.0).astype("float32"), d.target.astype("int32")


def cores_free() -> float:
    """Cores not busy over the last minute (the load average against the cores we may use)."""
    return max(0.0, len(os.sched_getaffinity(0)) - os.getloadavg()[0])


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()

    import ipywidgets.comm

    import lrwidgets as lrw
    from lrwidgets.sweep import Sweep, train_trial
    from tests.helpers import RecordingComm

    ipywidgets.comm.create_comm = RecordingComm  # count what the widget would send to a page
    x, y = digits()
    grid = {"learning_rates": [1e-3, 3e-3, 1e-2, 3e-2], "optimizers": ["adam", "sgd"], "epochs": args.epochs}
    fit = {"batch_size": 32, "validation_split": 0.2}
    report: dict[str, Any] = {"cores": len(os.sched_getaffinity(0)), "cores_free_before": round(cores_free(), 2)}

    sweep = Sweep(build_model, **grid)
    start = time.perf_counter()
    serial = [train_trial(t, build_model, {"x": x, "y": y}, {**fit, "epochs": args.epochs}) for t in sweep.trials]
    report["serial_s"] = time.perf_counter() - start

    widget = lrw.LRSweep(build_model, **grid)
    try:
        # The cluster's start (worker processes, `import keras` in each) is timed apart.
        start = time.perf_counter()
        widget.run(x[:64], y[:64], batch_size=32, cluster=None).wait()
        report["cluster_start_and_warm_up_s"] = time.perf_counter() - start
        report["cores_free_during_cluster"] = round(cores_free(), 2)
        sweep = widget.sweep
        sweep.latencies.clear()
        RecordingComm.log = []
        start = time.perf_counter()
        results = widget.run(x, y, **fit).wait()
        report["cluster_s"] = wall = time.perf_counter() - start
        report["workers"] = len(sweep.client.nthreads())
        report["speedup"] = report["serial_s"] / wall
        latencies = list(sweep.latencies)
        report["messages"] = len(latencies)
        report["latency_p50_ms"] = percentile(latencies, 50)
        report["latency_p95_ms"] = percentile(latencies, 95)
        sent = sum(size for _, size in RecordingComm.log)
        report["widget_kb_per_s"] = sent / 1000 / wall
        report["widget_refreshes"] = widget.refreshes
        report["same_as_serial"] = bool(
            np.allclose(results["final_val_loss"], [r["final_val_loss"] for r in serial], rtol=1e-4)
        )

        # Cancel latency: a long trial cancelled once it streams, 5 times.
        cancels = []
        for _ in range(5):
            long = Sweep(build_model, [1e-3], optimizers=["adam"], epochs=200)
            run = long.run(x, y, batch_size=32, cluster=sweep.client)
            while not long.curve(0).steps:
                time.sleep(0.005)
            t0 = time.perf_counter()
            long.cancel(0)
            while long.statuses[0] != "cancelled":
                time.sleep(0.001)
            cancels.append(time.perf_counter() - t0)
            run.wait()
            long.close()
        report["cancel_ms"] = [round(c * 1000, 1) for c in cancels]
        report["cancel_median_ms"] = float(np.median(cancels)) * 1000
    finally:
        widget.close()
    print(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
