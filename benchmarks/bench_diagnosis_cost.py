"""CPU cost per batch row of the live diagnosis: ``Diagnoser.step`` row by row vs ``step_many``.

The Diagnostician feeds a session's new rows to its ``Diagnoser`` in the training thread, once a
snapshot (every ``update_interval``, 0.1 s: ~600 rows on a fit at ~6,000 batches a second). This
times, on a noisy decaying loss of 10,000 rows at a constant rate (no verdict: every row is
judged by every rule, as on a healthy fit):

- ``step``: one ``Diagnoser.step`` call a row (the Diagnostician's path before ``step_many``);
- ``step_many, runs of 600``: the rows in runs of 600, as the Diagnostician feeds them;
- ``step_many, one run``: all 10,000 rows in one call;

each with every rule (the window rules ``collapsed`` and ``too_slow`` are due every 10 rows) and
with the per-step rules only (``nan``, ``diverging``, ``oscillating``, ``plateau``,
``overfitting``: the plain path alone). CPU time of this thread (``time.thread_time``), median of
``--repeats`` interleaved runs, per row. Every run's verdicts and final state are checked equal
to the row-by-row run's.

Usage: ``.venv/bin/python benchmarks/bench_diagnosis_cost.py [--rows 10000] [--repeats 7]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from lrwidgets.core.diagnosis import KINDS, Diagnoser, Diagnosis

PER_STEP_KINDS = ("nan", "diverging", "oscillating", "plateau", "overfitting")


def curve(rows: int, seed: int = 0) -> list[float]:
    """An untrained model's 2.3 decaying to ~0.1 over a few hundred steps, 5% batch noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    losses = (0.1 + 2.2 * np.exp(-t / 300)) * (1 + 0.05 * rng.normal(size=rows))
    return losses.astype(np.float32).tolist()  # as the history stores them


def by_row(d: Diagnoser, losses: list[float], rates: list[float]) -> list[Diagnosis]:
    found: list[Diagnosis] = []
    for i, (loss, rate) in enumerate(zip(losses, rates, strict=True)):
        found += d.step(i, loss, rate)
    return found


def in_runs(size: int) -> Callable[[Diagnoser, list[float], list[float]], list[Diagnosis]]:
    def feed(d: Diagnoser, losses: list[float], rates: list[float]) -> list[Diagnosis]:
        found: list[Diagnosis] = []
        for lo in range(0, len(losses), size):
            found += d.step_many(lo, losses[lo : lo + size], rates[lo : lo + size])
        return found

    return feed


def diagnostician(size: int) -> Callable[[Diagnoser, list[float], list[float]], list[Diagnosis]]:
    """The whole training-thread path: a Diagnostician's ``_on_snapshot`` on snapshots of ``size``
    rows (float32, as the history stores them), with this diagnoser."""
    import keras

    import lrwidgets as lrw
    from lrwidgets.training.session import Snapshot

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    session = lrw.TrainingSession(model)

    def feed(d: Diagnoser, losses: list[float], rates: list[float]) -> list[Diagnosis]:
        doctor = lrw.Diagnostician(session)
        doctor.diagnoser = d
        loss, rate = np.asarray(losses, np.float32), np.asarray(rates, np.float32)
        snaps = [
            Snapshot(
                session.progress, False, lo, loss[lo : lo + size], rate[lo : lo + size], loss[lo : lo + size], (), ()
            )
            for lo in range(0, len(losses), size)
        ]
        start = time.thread_time()
        for snap in snaps:
            doctor._on_snapshot(snap)
        feed.seconds = time.thread_time() - start  # type: ignore[attr-defined]
        doctor.close()
        return list(doctor.diagnoses)

    return feed


def fingerprint(d: Diagnoser, found: list[Diagnosis]) -> str:
    t = d.context.track
    return repr(
        (found, sorted(vars(t).items()), [sorted(vars(x).items()) for x in d.detectors if x.kind != "diverging"])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    losses = curve(args.rows)
    rates = np.full(args.rows, 1e-3, np.float32).tolist()
    paths = {
        "step (row by row)": by_row,
        "step_many, runs of 600": in_runs(600),
        "step_many, one run": in_runs(args.rows),
        "Diagnostician, snapshots of 600": diagnostician(600),
    }
    rules = {"every rule": KINDS, "per-step rules only": PER_STEP_KINDS}
    times: dict[tuple[str, str], list[float]] = {(r, p): [] for r in rules for p in paths}
    for _ in range(args.repeats):
        for rule, kinds in rules.items():
            reference = None
            for path, feed in paths.items():
                d = Diagnoser(num_classes=10, kinds=kinds)
                start = time.thread_time()
                found = feed(d, losses, rates)
                seconds = getattr(feed, "seconds", time.thread_time() - start)  # the snapshots' own time
                times[rule, path].append(seconds / args.rows * 1e6)
                reference = reference or fingerprint(d, found)
                assert fingerprint(d, found) == reference, f"{path} differs from the row-by-row run"
                assert found == [], [str(v) for v in found]  # a healthy curve: every rule runs every row
    print(f"{args.rows} rows, median of {args.repeats} runs (CPU us a row, this thread)\n")
    print("| rules | path | us/row | vs step |\n|---|---|---:|---:|")
    for rule in rules:
        base = statistics.median(times[rule, "step (row by row)"])
        for path in paths:
            value = statistics.median(times[rule, path])
            spread = f"{min(times[rule, path]):.2f}-{max(times[rule, path]):.2f}"
            print(f"| {rule} | {path} | {value:.2f} ({spread}) | {base / value:.1f}x |")


if __name__ == "__main__":
    main()
