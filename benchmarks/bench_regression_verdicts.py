"""The live diagnosis on regressions: verdicts at good rates, on trained models, at rates too large.

A 32-32-1 ReLU MLP (MSE, batch 16, 4 epochs) in a ``TrainingSession`` watched by a
``Diagnostician``, on three targets: a linear one with Gaussian noise (``linear``: 4,000 samples,
8 inputs), the same with Student-t noise of 2 degrees of freedom (``heavy``: a few targets far out,
as data with outliers have), and scikit-learn's diabetes (standardized). For each, ``--seeds``
seeds of:

- ``good``: fresh weights at Adam 1e-3 and SGD 0.01 with momentum 0.9;
- ``trained``: the same model trained 40 epochs first (plain Keras), then fit in a new session
  (a model loaded or fine-tuned: its first batch is no untrained model's);
- ``big``: fresh weights at Adam 0.1 and 1.0, SGD 0.1 and 0.5 with momentum 0.9.

Printed: each fit's epoch losses and verdicts (kind, step; for ``collapsed`` its level, its peak
batch loss and how many standard deviations of the window that peak stands above the level).

Usage: ``KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_regression_verdicts.py [--seeds 3]
[--modes good,trained,big]``
"""

from __future__ import annotations

import argparse
import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np

import lrwidgets as lrw

RATES = {
    "good": (("adam", 1e-3), ("sgd", 0.01)),
    "trained": (("adam", 1e-3), ("sgd", 0.01)),
    "big": (("adam", 0.1), ("adam", 1.0), ("sgd", 0.1), ("sgd", 0.5)),
}


def task(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if name == "diabetes":
        from sklearn.datasets import load_diabetes
        from sklearn.preprocessing import StandardScaler

        data = load_diabetes()
        x = StandardScaler().fit_transform(data.data).astype("float32")
        return x, ((data.target - data.target.mean()) / data.target.std()).astype("float32")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4000, 8)).astype("float32")
    w = rng.normal(size=(8, 1))
    noise = 0.1 * rng.normal(size=(4000, 1)) if name == "linear" else 0.3 * rng.standard_t(2, size=(4000, 1))
    return x, (x @ w + noise).astype("float32")


def model(x: np.ndarray, optimizer: str, rate: float) -> Any:
    import keras

    built = keras.Sequential(
        [keras.Input((x.shape[1],)), keras.layers.Dense(32, activation="relu"),
         keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
    )  # fmt: skip
    opt = keras.optimizers.Adam(rate) if optimizer == "adam" else keras.optimizers.SGD(rate, momentum=0.9)
    built.compile(optimizer=opt, loss="mse")
    return built


def main() -> None:
    import keras

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--modes", default="good,trained,big")
    args = parser.parse_args()
    for mode in args.modes.split(","):
        for name in ("linear", "heavy", "diabetes"):
            for seed in range(args.seeds):
                for optimizer, rate in RATES[mode]:
                    keras.utils.set_random_seed(seed)
                    x, y = task(name, seed)
                    fitted = model(x, optimizer, rate)
                    if mode == "trained":
                        fitted.fit(x, y, epochs=40, batch_size=16, verbose=0)
                    session = lrw.TrainingSession(fitted)
                    doctor = lrw.Diagnostician(session)
                    session.fit(x, y, epochs=4, batch_size=16).wait(900)
                    doctor.close()
                    told = []
                    for v in doctor.diagnoses:
                        told.append(f"{v.kind}: {v.last_step}")
                        if v.kind == "collapsed":
                            e = v.evidence
                            out = (e["peak"] - e["level"]) / e["std"] if e["std"] > 0 else float("inf")
                            told[-1] += f" (level {e['level']:.3g}, peak {e['peak']:.3g}, {out:.0f} std out)"
                    losses = ", ".join(f"{row['loss']:.4g}" for row in session.history.epochs)
                    said = "; ".join(told) or "none"
                    print(f"{mode} {name} seed {seed} {optimizer} {rate:g}: losses {losses}; {said}", flush=True)


if __name__ == "__main__":
    main()
