"""What ``on_diverge`` leaves of a blown-up fit: ``"lower"`` (the advised rate only) against
``"rewind"`` (the last healthy state kept before the blow-up put back, and that rate).

Each fit of ``_diagnosis_fits.configs()`` whose rate is too large (digits, 64-64-10 and 256-256-10
MLPs, batch 32: Adam 0.1 and 1.0, plain SGD 2.0; and the 64-64-10 MLP raised from a good rate to a
bad one at step 90) runs in a ``TrainingSession`` watched by a ``Diagnostician`` with each setting,
``--seeds`` seeds, the same seed giving both settings the same start, then ``--more`` epochs more
in a second fit of the session (at the rate the first left: on a model this fast the diagnosis's
snapshots, 0.1 s apart, may bring the verdict only at the first fit's end, where ``on_diverge``
then acts). Reported per configuration and setting: the validation accuracy of the second fit's
last epoch (median and each seed's), and what the setting did first (seed 0).

Usage: ``KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_rewind.py [--seeds 3] [--more 3] [--quick]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

from _diagnosis_fits import FitConfig, build, configs, fit_data
from bench_diagnosis import RaiseRate

import lrwidgets as lrw

SETTINGS = ("lower", "rewind")


def run(config: FitConfig, seed: int, on_diverge: str, more: int) -> tuple[float, list[str]]:
    """The last epoch's validation accuracy, and what ``on_diverge`` did (the events' messages)."""
    session = lrw.TrainingSession(build(config, seed))
    doctor = lrw.Diagnostician(session, on_diverge=on_diverge)
    callbacks = [] if config.raise_to is None else [RaiseRate(session, config.onset, config.raise_to)]
    session.fit(**fit_data(config, seed), callbacks=callbacks).wait(900)
    if more:
        session.fit(**{**fit_data(config, seed), "epochs": more}).wait(900)
    doctor.close()
    acted = [
        f"{e.step}: {e.message}"
        for e in session.history.events
        if "on_diverge" in (e.source or "") or "(on_diverge" in e.message
    ]
    return float(session.history.epochs[-1]["val_accuracy"]), acted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--more", type=int, default=3, help="epochs of the second fit")
    parser.add_argument("--quick", action="store_true", help="the 64-64-10 MLP only")
    args = parser.parse_args()
    bad = [c for c in configs(args.quick) if c.expected and "too_slow" not in c.expected and c.epochs < 30]
    print(f"keras backend {os.environ['KERAS_BACKEND']}, seeds 0-{args.seeds - 1}, {args.more} epochs more")
    print("| configuration | on_diverge | val accuracy, median | each seed | what it did (first action, seed 0) |")
    print("|---|---|---:|---|---|")
    start = time.perf_counter()
    for config in bad:
        for setting in SETTINGS:
            results = [run(config, seed, setting, args.more) for seed in range(args.seeds)]
            accuracies = [a for a, _ in results]
            first = results[0][1][0] if results[0][1] else "nothing"
            print(
                f"| {config.name} | {setting} | {statistics.median(accuracies):.3f} |"
                f" {' '.join(f'{a:.3f}' for a in accuracies)} | {first[:110]} |",
                flush=True,
            )
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
