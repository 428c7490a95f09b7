"""The live diagnosis on binary classifiers: a sigmoid's binary cross-entropy beside a 2-way softmax.

A 64-64-1 sigmoid MLP compiled with ``binary_crossentropy`` (``--heads sigmoid``), or its twin with
a 2-way softmax and ``sparse_categorical_crossentropy`` (``softmax``), in a ``TrainingSession``
watched by a ``Diagnostician``, batch 32, on two tasks bundled with scikit-learn (standardized, a
seeded 80/20 split, the last 20% as ``validation_data``):

- ``cancer``: breast cancer, 455 training samples (63% one class), 20 epochs (300 steps);
- ``parity``: the digits' parity (odd or even), 1,437 training samples, 8 epochs (360 steps);
- ``imbalanced`` (``--tasks imbalanced``): ``make_classification`` with 3% positives (3,000 samples,
  20 features, 6 informative), 2,400 training samples, 6 epochs (450 steps).

Printed: each fit's verdicts (kind and step; for ``collapsed`` the epoch's accuracy it read) and
its last validation accuracy (and loss, on the imbalanced task).

Usage: ``KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_binary_verdicts.py [--seeds 4]
[--tasks cancer,parity] [--heads sigmoid,softmax] [--rates adam:1e-3,adam:3e-3,adam:0.1]``
"""

from __future__ import annotations

import argparse
import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np

import lrwidgets as lrw

EPOCHS = {"cancer": 20, "parity": 8, "imbalanced": 6}


def task(name: str, seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_breast_cancer, load_digits, make_classification

    if name == "cancer":
        data = load_breast_cancer()
        x, y = data.data, data.target
    elif name == "imbalanced":
        x, y = make_classification(3000, n_features=20, n_informative=6, weights=[0.97], flip_y=0.0, random_state=seed)
    else:
        data = load_digits()
        x, y = data.data, data.target % 2
    x = ((x - x.mean(0)) / (x.std(0) + 1e-8)).astype("float32")
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order].astype("float32")
    n = int(0.8 * len(x))
    return x[:n], y[:n], x[n:], y[n:]


def model(inputs: int, head: str, optimizer: str, rate: float) -> Any:
    import keras

    layers = [keras.Input((inputs,)), *(keras.layers.Dense(64, activation="relu") for _ in range(2))]
    if head == "sigmoid":
        built = keras.Sequential([*layers, keras.layers.Dense(1, activation="sigmoid")])
        loss = "binary_crossentropy"
    else:
        built = keras.Sequential([*layers, keras.layers.Dense(2, activation="softmax")])
        loss = "sparse_categorical_crossentropy"
    opt = keras.optimizers.Adam(rate) if optimizer == "adam" else keras.optimizers.SGD(rate)
    built.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
    return built


def main() -> None:
    import keras

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--tasks", default="cancer,parity")
    parser.add_argument("--heads", default="sigmoid,softmax")
    parser.add_argument("--rates", default="adam:1e-3,adam:3e-3,adam:0.1,adam:0.3,adam:1.0,sgd:5.0")
    args = parser.parse_args()
    rates = [(r.split(":")[0], float(r.split(":")[1])) for r in args.rates.split(",")]
    for name in args.tasks.split(","):
        for head in args.heads.split(","):
            for optimizer, rate in rates:
                for seed in range(args.seeds):
                    x, y, vx, vy = task(name, seed)
                    keras.utils.set_random_seed(seed)
                    session = lrw.TrainingSession(model(x.shape[1], head, optimizer, rate))
                    doctor = lrw.Diagnostician(session)
                    session.fit(x, y, epochs=EPOCHS[name], batch_size=32, validation_data=(vx, vy)).wait(900)
                    doctor.close()
                    told = []
                    for v in doctor.diagnoses:
                        told.append(f"{v.kind} {v.last_step}")
                        if v.kind == "collapsed" and "accuracy" in v.evidence:
                            told[-1] += f" (accuracy {v.evidence['accuracy']:.2f})"
                    last = session.history.epochs[-1]
                    val = f"val_accuracy {last.get('val_accuracy', float('nan')):.3f}"
                    if name == "imbalanced":  # 97% for a constant prediction: the loss tells more
                        val += f", val_loss {last.get('val_loss', float('nan')):.3f}"
                    said = ", ".join(told) or "none"
                    print(f"{name} {head} {optimizer} {rate:g} seed {seed}: {said}; {val}", flush=True)


if __name__ == "__main__":
    main()
