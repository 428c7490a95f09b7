"""``too_slow`` after its own raise: is a second "raise 10x" right, and what does the verdict say?

Three parts, on digits (``_diagnosis_fits``), batch 32, ``--seeds`` seeds each:

1. ``verdicts``: each fit starts at a rate too small (or a slow-starting one) and is raised 10x at
   step 40 and again at step 80, as clicks on ``too_slow``'s fix would; printed: each ``too_slow``
   verdict's step and whether it advises a raise (``raise``) or keeping the rate (``keep``), and
   the training accuracy at the end (4 epochs).
2. ``outcomes``: the fits whose second verdict decides (the CNN ending in global average pooling at
   plain SGD 0.01 and 0.1, SGD 0.03 and 0.05 with momentum) raised 10x at step 40, then at step 80 kept there
   (``stay``), taken to the middle of the two rates (``mid``, sqrt(10)x the first) or raised 10x
   again (``raise``); printed: validation accuracy after each of 6 epochs.

3. ``rises`` (``--part rises``, not in ``both``): fits at constant rates, too small to too large
   (the MLPs, both CNNs, the synthetic task; batch 32, and 8 and 128 for the small rates of the
   64-64-10 MLP and ``cnngap``; 3 epochs at batch 32): where ``too_slow`` was given, how far the
   loss rose from the rate's first 3 losses to the window's newer half, in noise units (the
   window's robust batch noise x sqrt(1/3 + 1/20)); the largest at rates too small and too large.

Usage: ``KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_too_slow_raise.py [--seeds 3] [--part rises]``
"""

from __future__ import annotations

import argparse
import math
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np
from _diagnosis_fits import FitConfig, build, fit_data

import lrwidgets as lrw

CHAINS = [
    ("mlp64", "adam", 1e-5), ("mlp64", "sgd", 1e-3), ("mlp64", "momentum", 1e-4), ("mlp256", "adam", 1e-5),
    ("mlp256", "sgd", 1e-3), ("cnn", "adam", 1e-5), ("cnn", "sgd", 1e-3), ("synth10", "adam", 1e-5),
    ("synth10", "sgd", 1e-3), ("cnngap", "adam", 1e-5), ("cnngap", "adam", 1e-4), ("cnngap", "adam", 1e-3),
    ("cnngap", "sgd", 1e-3), ("cnngap", "sgd", 1e-2), ("cnngap", "sgd", 0.1), ("cnngap", "momentum", 1e-3),
    ("cnngap", "momentum", 0.05), ("cnngap", "momentum", 0.03),
]  # fmt: skip
DECIDING = [("cnngap", "momentum", 0.05), ("cnngap", "momentum", 0.03), ("cnngap", "sgd", 0.1), ("cnngap", "sgd", 0.01)]


class SetRates(keras.callbacks.Callback):
    """Sets the session's rate before the history steps given (in the training thread, as a click's fix)."""

    def __init__(self, session: lrw.TrainingSession, plan: dict[int, float]) -> None:
        super().__init__()
        self.session, self.plan = session, plan

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        rate = self.plan.get(self.session.history.num_steps)
        if rate is not None:
            self.session.set_learning_rate(rate, source="user")


#: Rates too small and too large for these models (the digits MLPs' best: Adam 1e-3, SGD 0.1-0.5).
SMALL = {"adam": (1e-5, 1e-4), "sgd": (1e-3, 3e-3, 1e-2), "momentum": (1e-4, 1e-3)}
LARGE = {"adam": (0.1, 0.3), "sgd": (2.0,), "momentum": (0.3, 0.5, 1.0)}


def fit(model: str, optimizer: str, rate: float, seed: int, plan: dict[int, float], epochs: int, batch: int = 32):
    config = FitConfig(f"{model} {optimizer} {rate:g}", model, optimizer, rate, (), epochs=epochs)
    session = lrw.TrainingSession(build(config, seed))
    doctor = lrw.Diagnostician(session)
    callbacks = [doctor.callback, SetRates(session, plan)]
    session.fit(**{**fit_data(config, seed), "batch_size": batch}, callbacks=callbacks).wait(900)
    doctor.close()
    return list(doctor.diagnoses), list(session.history.epochs), np.array(session.history.column("loss"))


def rise_units(losses: np.ndarray, step: int, window: int = 40) -> tuple[float, float]:
    """The rise (a share) from the first 3 losses to the newer half of the window ending at
    ``step``, and the same in noise units (as ``too_slow`` measures its window)."""
    win = losses[step - window + 1 : step + 1]
    start, level = losses[:3].mean(), win[window // 2 :].mean()
    median = np.median(win)
    noise = max(1.4826 * np.median(np.abs(win - median)), 1e-3 * abs(median))
    return level / start - 1, (level - start) / (noise * math.sqrt(1 / 3 + 1 / 20))


def rises(seeds: int) -> None:
    worst: dict[str, float] = {"small": -math.inf, "large": -math.inf}
    runs = [
        (m, "small", o, r, 32) for m in ("mlp64", "mlp256", "cnn", "cnngap", "synth10") for o in SMALL for r in SMALL[o]
    ]
    runs += [
        (m, "large", o, r, 32) for m in ("mlp64", "mlp256", "cnn", "cnngap", "synth10") for o in LARGE for r in LARGE[o]
    ]
    runs += [(m, "small", o, r, b) for m in ("mlp64", "cnngap") for o in SMALL for r in SMALL[o] for b in (8, 128)]
    for model, kind, optimizer, rate, batch in runs:
        for seed in range(seeds):
            verdicts, _, losses = fit(model, optimizer, rate, seed, {}, max(1, round(135 * batch / 1437)), batch)
            slow = next((v for v in verdicts if v.kind == "too_slow"), None)
            if slow is None:
                continue
            rise, units = rise_units(losses, slow.last_step)
            worst[kind] = max(worst[kind], units)
            print(f"{kind} {model} {optimizer} {rate:g} batch {batch} seed {seed}: too_slow at {slow.last_step},"
                  f" rise {rise:+.2%} = {units:+.2f} noise units")  # fmt: skip
    print(f"largest rise in noise units: rates too small {worst['small']:+.2f}, too large {worst['large']:+.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--part", choices=("verdicts", "outcomes", "both", "rises"), default="both")
    args = parser.parse_args()
    if args.part == "rises":
        rises(args.seeds)
    if args.part in ("verdicts", "both"):
        for model, optimizer, rate in CHAINS:
            for seed in range(args.seeds):
                verdicts, epochs, _ = fit(model, optimizer, rate, seed, {40: 10 * rate, 80: 100 * rate}, 4)
                told = [
                    (v.last_step, "keep" if v.action is None else "raise") for v in verdicts if v.kind == "too_slow"
                ]
                others = [(v.kind, v.last_step) for v in verdicts if v.kind != "too_slow"]
                print(f"{model} {optimizer} {rate:g} seed {seed}: accuracy {epochs[-1]['accuracy']:.2f}", told, others)
    if args.part in ("outcomes", "both"):
        for model, optimizer, rate in DECIDING:
            for name, third in (("stay", 10.0), ("mid", 10**0.5), ("raise", 100.0)):
                for seed in range(args.seeds):
                    _, epochs, _ = fit(model, optimizer, rate, seed, {40: 10 * rate, 80: third * rate}, 6)
                    vals = " ".join(f"{e['val_accuracy']:.2f}" for e in epochs)
                    then = f"then {name} ({third * rate:.3g})"
                    print(f"{model} {optimizer} {rate:g} {then} seed {seed}: val accuracy {vals}")


if __name__ == "__main__":
    main()
