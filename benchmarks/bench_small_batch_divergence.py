"""``diverging`` at small batches: binary classifiers (a sigmoid, ``bench_binary_verdicts.py``'s tasks:
3% positives, breast cancer, digits' parity) and the digits 64-64-10 MLP, at good rates (where any
``diverging`` is a false alarm) and at rates too large (Adam 0.1 from the start, or a good rate raised
after the first epochs: a ``diverging`` is right there), in a ``TrainingSession`` watched by a
``Diagnostician``. Printed a fit a line: the case, batch size, seed, the step of the raise (None: no
raise), the verdicts (a ``diverging``'s with its smoothed rise above the best), the session's own
``diverging`` events, and the last epoch's validation loss and accuracy.

A case is ``task:rate[:epochs[:raised to]]`` for a binary task (Adam; raised after the first epoch)
or ``mlp64:optimizer:rate[:raised to]`` for the digits MLP (4 epochs, raised after the second).

Usage (the section of ``RESULTS.md`` 2026-12-06 22:55-23:20 ran these three)::

    KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_small_batch_divergence.py --batches 8,16 --seeds 0,1,2,3,4,5 \\
        --cases imbalanced:1e-3,imbalanced:3e-3,cancer:1e-3:8,cancer:3e-3:8,parity:1e-3:3,parity:3e-3:3
    KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_small_batch_divergence.py --batches 8,16 --seeds 0,1,2,3 \\
        --cases cancer:1e-3:8:0.3,parity:1e-3:3:0.3,imbalanced:1e-3:3:0.3,cancer:0.1:8,parity:0.1:3
    KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_small_batch_divergence.py --batches 4 --seeds 0,1,2 \\
        --cases mlp64:adam:1e-3,mlp64:sgd:0.1,mlp64:adam:1e-3:0.03,mlp64:sgd:0.1:0.5,mlp64:adam:1e-3:1.0
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
from _diagnosis_fits import FitConfig, build, digits
from bench_binary_verdicts import model as binary_model
from bench_binary_verdicts import task

import lrwidgets as lrw

BINARY_TASKS = ("imbalanced", "cancer", "parity")


class RaiseRate(keras.callbacks.Callback):
    """Sets the session's rate before history step ``at`` (None: never), as a user's change."""

    def __init__(self, session: lrw.TrainingSession, at: int | None, value: float | None) -> None:
        super().__init__()
        self.session, self.at, self.value = session, at, value

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.value is not None and self.session.history.num_steps == self.at:
            self.session.set_learning_rate(self.value, source="user")


def run(case: str, seed: int, batch_size: int) -> str:
    parts = case.split(":")
    raise_at, raise_to = None, None
    if parts[0] in BINARY_TASKS:
        x, y, vx, vy = task(parts[0], seed)
        keras.utils.set_random_seed(seed)
        model = binary_model(x.shape[1], "sigmoid", "adam", float(parts[1]))
        epochs = int(parts[2]) if len(parts) > 2 else 3
        if len(parts) > 3:
            raise_at, raise_to = -(-len(x) // batch_size), float(parts[3])
    else:
        x, y, vx, vy = digits()
        model = build(FitConfig(case, parts[0], parts[1], float(parts[2]), ()), seed)
        epochs = 4
        if len(parts) > 3:
            raise_at, raise_to = 2 * -(-len(x) // batch_size), float(parts[3])
    session = lrw.TrainingSession(model)
    doctor = lrw.Diagnostician(session)
    raising = RaiseRate(session, raise_at, raise_to)
    session.fit(
        x, y, epochs=epochs, batch_size=batch_size, validation_data=(vx, vy), callbacks=[doctor.callback, raising]
    ).wait(900)
    doctor.close()
    verdicts = [
        (
            v.kind,
            v.last_step,
            *((round(v.evidence["smoothed_loss"] - v.evidence["best"], 3),) if v.kind == "diverging" else ()),
        )
        for v in doctor.diagnoses
    ]
    events = [e.step for e in session.history.events if e.kind == "diverging"]
    last = session.history.epochs[-1]
    accuracy = last.get("val_accuracy", last.get("val_acc", float("nan")))
    return (
        f"{case} {batch_size} {seed} raise@ {raise_at} {verdicts} events {events} {last['val_loss']:.3f} {accuracy:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", required=True, help="comma-separated cases (see the module's docstring)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--batches", default="8")
    args = parser.parse_args()
    for batch_size in (int(b) for b in args.batches.split(",")):
        for case in args.cases.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                print(run(case, seed, batch_size), flush=True)


if __name__ == "__main__":
    main()
