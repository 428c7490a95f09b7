"""``oscillating`` at small batches: the digits 64-64-10 MLP at batch 8 (3 epochs) and 16 (5 epochs),
good rates (Adam 1e-3, SGD 0.1) and larger ones (Adam 1e-2, 3e-2, SGD 1.0), ``--seeds`` seeds each,
in a ``TrainingSession`` watched by a ``Diagnostician``; printed: each run's validation accuracy and
verdicts with their steps. One misclassified sample moves a batch of 8's mean loss by ~1/8 of its
loss: the spike's gap scales by 16 / samples a row below 16 (``OscillatingDetector.spike_gap``).

Usage: ``KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_small_batch_spikes.py [--seeds 3]``
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

from _diagnosis_fits import FitConfig, build, fit_data

import lrwidgets as lrw

RATES = (("adam", 1e-3), ("sgd", 0.1), ("adam", 1e-2), ("adam", 3e-2), ("sgd", 1.0))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    for optimizer, rate in RATES:
        for batch, epochs in ((8, 3), (16, 5)):
            for seed in range(args.seeds):
                config = FitConfig(f"mlp64 {optimizer} {rate:g}", "mlp64", optimizer, rate, (), epochs=epochs)
                session = lrw.TrainingSession(build(config, seed))
                doctor = lrw.Diagnostician(session)
                data = {**fit_data(config, seed), "batch_size": batch}
                session.fit(**data, callbacks=[doctor.callback]).wait(900)
                doctor.close()
                told = [(v.kind, v.last_step) for v in doctor.diagnoses]
                accuracy = session.history.epochs[-1]["val_accuracy"]
                print(f"{optimizer} {rate:g} batch {batch} seed {seed}: val accuracy {accuracy:.3f}", told, flush=True)


if __name__ == "__main__":
    main()
