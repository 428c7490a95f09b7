"""``overfitting`` on real fits: does the verdict come where ``val_loss`` climbs for good, and not
where it only wobbles on its way down?

Fits (plain Keras, ``validation_split=0.2``, ``--epochs`` epochs): 64-64 (and ``--widths``) ReLU MLPs
on scikit-learn's bundled data sets: digits (1,797 samples; and the first 50, 100, 300 or 600
training samples of a shuffle: ``digits50`` ...), breast cancer, wine (classifiers, standardized
inputs), diabetes (a regression, MSE on a standardized target); Adam at 3e-4 to 1e-2 and SGD with
momentum 0.9 at 3e-3 to 0.1; ``--seeds`` seeds each. Each fit's epochs (and its first batch's loss,
the untrained model's) are fed to a ``Diagnoser`` that runs the ``overfitting`` rule alone.

Printed per data set: fits; those flagged; of those, how many later reached a ``val_loss`` more
than 2% below the minimum the verdict advised to restore (the verdict was early: the run had not
overfit yet); and the runs that climb for good (their ``val_loss`` minimum 10 epochs or more before
the end, and each of the last 5 epochs at least 1.2x it): how many got the verdict, and epochs
from that minimum to the verdict.

Usage: ``KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_overfitting.py [--seeds 0,1,2] [--epochs 80]
[--tasks digits,cancer] [--widths 64,256] [--save fits.jsonl | --load fits.jsonl]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import defaultdict

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np

TASKS = ("digits", "digits50", "digits100", "digits300", "cancer", "wine", "diabetes")
RATES = (("adam", (3e-4, 1e-3, 3e-3, 1e-2)), ("sgd", (3e-3, 1e-2, 3e-2, 1e-1)))


def data(task: str, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Shuffled inputs and targets, and the number of classes (0: a regression)."""
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    if task.startswith("digits"):
        digits = datasets.load_digits()
        x, y, classes = (digits.data / 16).astype("float32"), digits.target.astype("int32"), 10
        keep = len(x) if task == "digits" else int(task[len("digits") :]) * 5 // 4  # 80% of it trains
    else:
        loaded = {"cancer": datasets.load_breast_cancer, "wine": datasets.load_wine, "diabetes": datasets.load_diabetes}
        bunch = loaded[task]()
        x, keep = StandardScaler().fit_transform(bunch.data).astype("float32"), len(bunch.data)
        if task == "diabetes":
            y, classes = ((bunch.target - bunch.target.mean()) / bunch.target.std()).astype("float32"), 0
        else:
            y = bunch.target.astype("int32")
            classes = int(y.max()) + 1
    order = rng.permutation(len(x))[:keep]
    return x[order], y[order], classes


def fit(task: str, optimizer: str, rate: float, seed: int, width: int, epochs: int) -> dict:
    """One fit's record: its epochs' ``loss`` and ``val_loss`` and its first batch's loss."""
    import keras

    keras.utils.set_random_seed(seed)
    x, y, classes = data(task, seed)
    head = keras.layers.Dense(1) if classes == 0 else keras.layers.Dense(classes, activation="softmax")
    model = keras.Sequential(
        [keras.Input((x.shape[1],)), keras.layers.Dense(width, activation="relu"),
         keras.layers.Dense(width, activation="relu"), head]
    )  # fmt: skip
    opt = keras.optimizers.Adam(rate) if optimizer == "adam" else keras.optimizers.SGD(rate, momentum=0.9)
    model.compile(optimizer=opt, loss="mse" if classes == 0 else "sparse_categorical_crossentropy")
    first: list[float] = []

    class First(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if not first:
                first.append(float((logs or {})["loss"]))

    batch = 32 if len(x) > 1000 else 16
    history = model.fit(x, y, epochs=epochs, batch_size=batch, validation_split=0.2, callbacks=[First()], verbose=0)
    return {"task": task, "optimizer": optimizer, "rate": rate, "seed": seed, "width": width, "first": first[0],
            "classes": classes, "loss": history.history["loss"], "val_loss": history.history["val_loss"]}  # fmt: skip


def verdict_epoch(record: dict) -> int | None:
    """The epoch of the first ``overfitting`` verdict of a Diagnoser fed this fit, or None."""
    from lrwidgets.core.diagnosis import Diagnoser

    doctor = Diagnoser(kinds=["overfitting"], num_classes=record["classes"] or None)
    doctor.step(0, record["first"], record["rate"])  # the untrained model's loss
    for epoch, (loss, val) in enumerate(zip(record["loss"], record["val_loss"], strict=True)):
        if doctor.epoch(epoch + 1, {"epoch": epoch, "loss": loss, "val_loss": val}):
            return epoch
    return None


def report(records: list[dict]) -> None:
    rows: dict[str, dict] = defaultdict(lambda: {"fits": 0, "flagged": 0, "early": 0, "climbs": 0, "found": []})
    for record in records:
        row, val = rows[record["task"]], record["val_loss"]
        row["fits"] += 1
        epoch = verdict_epoch(record)
        lowest = int(np.argmin(val))
        climbs = lowest <= len(val) - 10 and min(val[-5:]) >= 1.2 * val[lowest]
        row["climbs"] += climbs
        if epoch is None:
            continue
        row["flagged"] += 1
        row["early"] += min(val[epoch + 1 :], default=np.inf) < 0.98 * min(val[: epoch + 1])
        if climbs:
            row["found"].append(epoch - lowest)
    print(
        "| data | fits | flagged | later >2% below the minimum advised | climb for good | flagged"
        " | epochs after the minimum (median, max) |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for task in sorted(rows, key=lambda t: TASKS.index(t) if t in TASKS else len(TASKS)):
        r = rows[task]
        after = f"{statistics.median(r['found']):g}, {max(r['found'])}" if r["found"] else ""
        print(f"| {task} | {r['fits']} | {r['flagged']} | {r['early']} | {r['climbs']} | {len(r['found'])} | {after} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--widths", default="64")
    parser.add_argument("--save", help="append each fit's record to this JSON-lines file")
    parser.add_argument("--load", help="read the fits' records from this file instead of fitting")
    args = parser.parse_args()
    if args.load:
        with open(args.load) as f:
            records = [json.loads(line) for line in f]
    else:
        records, start = [], time.perf_counter()
        out = open(args.save, "a") if args.save else None  # noqa: SIM115 (appended to as the fits end)
        for task in args.tasks.split(","):
            for optimizer, rates in RATES:
                for rate in rates:
                    for seed in (int(s) for s in args.seeds.split(",")):
                        for width in (int(w) for w in args.widths.split(",")):
                            records.append(fit(task, optimizer, rate, seed, width, args.epochs))
                            if out is not None:
                                out.write(json.dumps(records[-1]) + "\n")
                                out.flush()
        print(f"{len(records)} fits in {time.perf_counter() - start:.0f} s")
    report(records)


if __name__ == "__main__":
    main()
