"""What the learning-rate range test costs per step, against a plain fit of the same steps.

Workload: the 64-64-10 MLP on digits tiled to 50,000 samples (batch 32), compiled once. Each
round times, in alternating order:

- ``plain``: ``model.fit(x, y, batch_size=32, epochs=1, steps_per_epoch=N)`` with a constant rate,
  then the weights put back (untimed), so every fit starts from the same state;
- ``plain+read``: the same with a callback that only reads ``float(logs["loss"])`` each batch, the
  fair baseline of the other benchmarks (any per-batch callback turns off Keras's asynchronous
  dispatch of batches on jax; the range test must read every batch's loss);
- ``session``: a ``TrainingSession`` fit of the same steps driven by the same ramp as schedule,
  with no stop rule and no copy or restore: what the range test costs beyond the session it
  runs on;
- ``finder``: ``LRRangeTest(model, num_steps=N).run(x, y, batch_size=32).wait()`` over a range
  that does not diverge (1e-6 to 1e-3), so it runs the same N steps: everything included (the
  copy of the model's state, the background session with its callbacks and the ramp, the
  restore, the suggestions).

Prints, per configuration, the median wall and process-CPU ms per step over the rounds, and the
median of the rounds' paired ratios to the finder (each round's fits ran back to back, on the
same load; the order alternates between rounds).

Usage: ``KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_finder.py [--steps 1000] [--rounds 7]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
from _workload import digits_50k, mlp, read_loss

from lrwidgets.core.finder import Ramp
from lrwidgets.training import LRRangeTest, TrainingSession
from lrwidgets.training.finder import ModelState


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    x, y = digits_50k()
    model = mlp(x, y)
    state = ModelState(model)
    n = args.steps
    names = ("plain", "plain+read", "session", "finder")
    bases = names[:3]
    wall: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    ratios: dict[str, list[float]] = {k: [] for k in bases}
    cpu_ratios: dict[str, list[float]] = {k: [] for k in bases}
    for r in range(args.rounds):
        this: dict[str, tuple[float, float]] = {}
        for name in names if r % 2 == 0 else names[::-1]:
            start, start_cpu = time.perf_counter(), time.process_time()
            if name == "finder":
                test = LRRangeTest(model, start_learning_rate=1e-6, end_learning_rate=1e-3, num_steps=n)
                test.run(x, y, batch_size=32).wait()
                this[name] = ((time.perf_counter() - start) / n, (time.process_time() - start_cpu) / n)
                assert test.reason == "finished", test.sweeps[-1].message
                assert len(test.losses) == n
            elif name == "session":
                ramp = Ramp(1e-6, 1e-3, n)
                TrainingSession(model).fit(x, y, batch_size=32, epochs=1, steps_per_epoch=n, schedule=ramp).wait()
                this[name] = ((time.perf_counter() - start) / n, (time.process_time() - start_cpu) / n)
                state.restore()
            else:
                callbacks = [read_loss()] if name == "plain+read" else []
                model.fit(x, y, batch_size=32, epochs=1, steps_per_epoch=n, verbose=0, callbacks=callbacks)
                this[name] = ((time.perf_counter() - start) / n, (time.process_time() - start_cpu) / n)
                state.restore()
            wall[name].append(this[name][0])
            cpu[name].append(this[name][1])
        for base in bases:
            ratios[base].append(this["finder"][0] / this[base][0])
            cpu_ratios[base].append(this["finder"][1] / this[base][1])
    print(f"backend {keras.backend.backend()}, {n} steps a fit, {args.rounds} rounds, load {os.getloadavg()}")
    for name in names:
        print(
            f"{name:>10}: wall {1000 * statistics.median(wall[name]):.3f} ms/step,"
            f" CPU {1000 * statistics.median(cpu[name]):.3f} ms/step (medians)"
        )
    for base in bases:
        w, c = statistics.median(ratios[base]), statistics.median(cpu_ratios[base])
        each = ", ".join(f"{v:.2f}" for v in ratios[base])
        print(f"finder / {base}: wall {w:.3f}x, CPU {c:.3f}x (medians of paired rounds; wall: {each})")


if __name__ == "__main__":
    main()
