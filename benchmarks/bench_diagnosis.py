"""Detection benchmark of the live diagnosis (``lrwidgets.Diagnostician``) on real Keras fits.

Each fit of the table in ``_diagnosis_fits.py`` (digits, 64-64-10 and 256-256-10 MLPs, batch
32, Adam and plain SGD at rates from 100x too small to 1000x too large, a clean run at a good rate
for each, a good run whose rate is raised 10-1000x at step 90, a 50-sample run that overfits; a
hard binary task at good rates, with and without ``ReduceLROnPlateau``; ``--seeds`` seeds each)
runs in a ``TrainingSession``
watched by a ``Diagnostician``, exactly as the dashboard runs it. Reported per configuration:
the verdicts and their steps; per kind: true positives (a run whose ground truth expects that
kind got it), false positives (a verdict a run's ground truth does not allow: any verdict on a
clean run), misses, and steps from onset to verdict (the step from which the bad rate acts: 0, or
90 for a raised rate; for ``overfitting``, epochs from the val_loss minimum to the verdict).

``--sweep`` runs the wider sweep instead (``_diagnosis_fits.sweep_configs``: plain SGD 0.03-1.5 and
Adam 1e-3 to 0.1 on both MLPs, 8 epochs): no ground truth, each run's verdicts beside its final
training accuracy.

Usage: ``KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_diagnosis.py [--seeds 3] [--quick] [--match raised]``
(or ``--sweep``)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import defaultdict

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
from _diagnosis_fits import FitConfig, build, configs, fit_data, sweep_configs

import lrwidgets as lrw


class RaiseRate(keras.callbacks.Callback):
    """Sets the session's rate before history step ``at`` (in the training thread, as a user's change)."""

    def __init__(self, session: lrw.TrainingSession, at: int, value: float) -> None:
        super().__init__()
        self.session, self.at, self.value = session, at, value

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.session.history.num_steps == self.at:
            self.session.set_learning_rate(self.value, source="user")


def run(config: FitConfig, seed: int) -> tuple[list[lrw.Diagnosis], list[dict]]:
    session = lrw.TrainingSession(build(config, seed))
    doctor = lrw.Diagnostician(session)
    callbacks = [doctor.callback]  # as TrainingDashboard.fit does
    if config.raise_to is not None:
        callbacks.append(RaiseRate(session, config.onset, config.raise_to))
    if config.plateau:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, min_delta=1e-3))
    session.fit(**fit_data(config, seed), callbacks=callbacks).wait(900)
    doctor.close()
    return list(doctor.diagnoses), list(session.history.epochs)


def onset_delay(config: FitConfig, verdict: lrw.Diagnosis, epochs: list[dict]) -> float:
    """Steps from the bad rate's onset to the verdict; for overfitting, epochs after the val minimum."""
    if verdict.kind != "overfitting":
        return float(verdict.last_step - config.onset)
    vals = [e["val_loss"] for e in epochs]
    best = min(range(len(vals)), key=vals.__getitem__)  # the true minimum, over the whole fit
    at = next(i for i, e in enumerate(epochs) if e["step"] >= verdict.last_step)
    return float(at - best)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="the 64-64-10 MLP only")
    parser.add_argument("--match", default="", help="only the fits whose name contains this")
    parser.add_argument("--sweep", action="store_true", help="the wider sweep, verdicts beside training accuracy")
    args = parser.parse_args()
    stats: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"tp": [], "fp": [], "miss": [], "delay": []})
    start = time.perf_counter()
    print("| fit | seed | verdicts (kind: last step) | right | training accuracy |")
    print("|---|---:|---|---|---:|")
    table = sweep_configs() if args.sweep else configs(args.quick)
    for config in [c for c in table if args.match in c.name]:
        for seed in range(args.seeds):
            verdicts, epochs = run(config, seed)
            first: dict[str, lrw.Diagnosis] = {}
            for v in verdicts:
                first.setdefault(v.kind, v)
            hit = [k for k in first if k in config.expected]
            wrong = [k for k in first if k not in config.expected and k not in config.tolerated]
            for k in wrong:
                stats[k]["fp"].append(1)
            if config.expected:
                if hit:
                    k = min(hit, key=lambda kind: first[kind].last_step)
                    stats[k]["tp"].append(1)
                    stats[k]["delay"].append(onset_delay(config, first[k], epochs))
                else:
                    stats["/".join(config.expected) if len(config.expected) < 3 else "too large"]["miss"].append(1)
            shown = ", ".join(f"{v.kind}: {v.last_step}" for v in verdicts) or "none"
            right = "-" if args.sweep else "yes" if (hit or not config.expected) and not wrong else "no"
            accuracy = epochs[-1].get("accuracy", float("nan"))
            print(f"| {config.name} | {seed} | {shown} | {right} | {accuracy:.3f} |", flush=True)
    if args.sweep:
        print(f"\n{time.perf_counter() - start:.0f} s in all")
        return
    print()
    print("| kind | true positives | false positives | misses | onset to verdict (median, max) |")
    print("|---|---:|---:|---:|---|")
    for kind, s in sorted(stats.items()):
        unit = " epochs" if kind == "overfitting" else " steps"
        delay = f"{statistics.median(s['delay']):g}, {max(s['delay']):g}{unit}" if s["delay"] else "-"
        print(f"| {kind} | {len(s['tp'])} | {len(s['fp'])} | {len(s['miss'])} | {delay} |")
    print(f"\n{time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
