"""The live diagnosis on models of several classifier outputs, as keras.io writes them.

Each fit runs in a ``TrainingSession`` watched by a ``Diagnostician``, batch 32, at the rates given:

- ``digits``: a 64-64 MLP on scikit-learn's digits with two heads,
  ``{"digit": softmax(10), "parity": sigmoid(1)}``, compiled with
  ``{"digit": "sparse_categorical_crossentropy", "parity": "binary_crossentropy"}``, 8 epochs;
- ``digits_cnn``: the same heads on two 3x3 convolutions (16 and 32 filters) over the 8x8 images;
- ``tickets``: keras.io's multi-input ticket model (title and body through embeddings and LSTMs,
  a tags input; a ``priority`` logit with a binary cross-entropy on a score in [0, 1] and a
  4-way ``department`` logit, ``loss_weights`` 1.0 and 0.2) on generated tickets whose title and
  body carry their department, 8 epochs, ``validation_split=0.2``.

Printed: each fit's verdicts (kind and step), the number of classes the diagnosis took, and the
last validation accuracy (the digit's, or the department's).

Usage: ``KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_multi_output_verdicts.py [--seeds 3]
[--tasks digits,digits_cnn,tickets] [--rates adam:1e-3,adam:3e-3,adam:0.1,adam:0.3]``
"""

from __future__ import annotations

import argparse
import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np

import lrwidgets as lrw


def digits(seed: int, cnn: bool) -> tuple[dict[str, Any], ...]:
    from sklearn.datasets import load_digits

    d = load_digits()
    order = np.random.default_rng(seed).permutation(len(d.data))
    x = (d.data[order] / 16.0).astype("float32")
    y = d.target[order].astype("int32")
    if cnn:
        x = x.reshape(-1, 8, 8, 1)
    n = 1437

    def part(s: slice) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"image": x[s]}, {"digit": y[s], "parity": (y[s] % 2).astype("float32")}

    return part(slice(0, n)) + part(slice(n, None))


def digits_model(cnn: bool) -> Any:
    import keras

    image = keras.Input((8, 8, 1) if cnn else (64,), name="image")
    if cnn:
        h = keras.layers.Conv2D(16, 3, activation="relu", padding="same")(image)
        h = keras.layers.Conv2D(32, 3, activation="relu", padding="same")(h)
        h = keras.layers.Flatten()(h)
    else:
        h = keras.layers.Dense(64, activation="relu")(image)
    h = keras.layers.Dense(64, activation="relu")(h)
    digit = keras.layers.Dense(10, activation="softmax", name="digit")(h)
    parity = keras.layers.Dense(1, activation="sigmoid", name="parity")(h)
    return keras.Model({"image": image}, {"digit": digit, "parity": parity})


def tickets(seed: int, n: int = 1600) -> tuple[dict[str, Any], dict[str, Any]]:
    rng = np.random.default_rng(seed)
    department = rng.integers(0, 4, n)
    priority = rng.random(n)
    title = rng.integers(1, 1000, (n, 10))
    body = rng.integers(1, 1000, (n, 50))
    title[:, :3] = 10 + department[:, None] * 5 + rng.integers(0, 5, (n, 3))  # words of the department
    body[:, :5] = 100 + department[:, None] * 10 + rng.integers(0, 10, (n, 5))
    tags = (rng.random((n, 12)) < 0.1).astype("float32")
    tags[:, 0] = priority > 0.5
    x = {"title": title.astype("int32"), "body": body.astype("int32"), "tags": tags}
    y = {"priority": priority.reshape(-1, 1).astype("float32"), "department": np.eye(4, dtype="float32")[department]}
    return x, y


def tickets_model() -> Any:
    import keras

    title = keras.Input(shape=(None,), name="title")
    body = keras.Input(shape=(None,), name="body")
    tags = keras.Input(shape=(12,), name="tags")
    t = keras.layers.LSTM(32)(keras.layers.Embedding(1000, 64)(title))
    b = keras.layers.LSTM(16)(keras.layers.Embedding(1000, 64)(body))
    h = keras.layers.concatenate([t, b, tags])
    priority = keras.layers.Dense(1, name="priority")(h)
    department = keras.layers.Dense(4, name="department")(h)
    return keras.Model({"title": title, "body": body, "tags": tags}, {"priority": priority, "department": department})


def fit(name: str, seed: int, rate: float) -> tuple[lrw.Diagnostician, dict[str, float]]:
    import keras

    keras.utils.set_random_seed(seed)
    if name == "tickets":
        x, y = tickets(seed)
        model = tickets_model()
        model.compile(
            optimizer=keras.optimizers.Adam(rate),
            loss={
                "priority": keras.losses.BinaryCrossentropy(from_logits=True),
                "department": keras.losses.CategoricalCrossentropy(from_logits=True),
            },
            loss_weights={"priority": 1.0, "department": 0.2},
            metrics={"department": ["accuracy"]},
        )
        data: dict[str, Any] = {"x": x, "y": y, "validation_split": 0.2}
    else:
        cnn = name == "digits_cnn"
        x, y, vx, vy = digits(seed, cnn)
        model = digits_model(cnn)
        model.compile(
            optimizer=keras.optimizers.Adam(rate),
            loss={"digit": "sparse_categorical_crossentropy", "parity": "binary_crossentropy"},
            metrics={"digit": ["accuracy"], "parity": ["accuracy"]},
        )
        data = {"x": x, "y": y, "validation_data": (vx, vy)}
    session = lrw.TrainingSession(model)
    doctor = lrw.Diagnostician(session)
    session.fit(**data, epochs=8, batch_size=32).wait(1800)
    doctor.close()
    return doctor, session.history.epochs[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tasks", default="digits,digits_cnn,tickets")
    parser.add_argument("--rates", default="adam:1e-3,adam:3e-3,adam:0.1,adam:0.3")
    args = parser.parse_args()
    rates = [float(r.split(":")[1]) for r in args.rates.split(",")]
    for name in args.tasks.split(","):
        for rate in rates:
            for seed in range(args.seeds):
                doctor, last = fit(name, seed, rate)
                said = ", ".join(f"{v.kind} {v.last_step}" for v in doctor.diagnoses) or "none"
                key = "val_department_accuracy" if name == "tickets" else "val_digit_accuracy"
                classes = doctor.diagnoser.context.num_classes
                accuracy = last.get(key, float("nan"))
                print(f"{name} adam {rate:g} seed {seed}: {said}; classes {classes}; {key} {accuracy:.3f}", flush=True)


if __name__ == "__main__":
    main()
