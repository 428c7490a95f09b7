"""Host time that lrwidgets' training callback adds to each step of a real fit.

The wall-time ratio of whole fits (bench_dashboard.py) carries the noise of a shared machine: on
a 0.25 ms step a 5% target is 12 us, less than the spread between two identical fits. This
script isolates what lrwidgets adds: during real fits (64-64-10 MLP, digits tiled to 50,000
samples, batch 32, 2 epochs = 3,126 steps, jax or the backend set) it sums the time spent inside
the callback's per-batch methods, for

- ``read-only``: a callback that only reads ``float(logs["loss"])`` (the fits' baseline),
- ``controller``: ``TrainingController.callback`` (what ``TrainingDashboard`` installs: true
  batch loss, history, divergence watch, pause/stop/learning-rate requests, throttled refresh),
- ``controller+schedule``: the same, driven by an ``ExponentialDecay`` (a new rate every step,
  handed to the next step as in ``dash.fit(..., schedule=...)``),
- ``session``: the two callbacks ``TrainingSession.fit`` installs (the controller's first, the
  rate reader and NaN guard's copies last),
- ``beside-a-logger``: a session's callback in a fit the user calls with another callback after it
  that acts at each batch's end (``callbacks=[session.callback, logger]``; a per-batch logger of
  the loss): the session then checks, before each batch,
  whether that callback changed the rate. The session's callback timed (its class's batch methods:
  its instance's would count as acting at batches), not the logger's, which reads the loss as the
  baseline does.

Prints the median over ``--repeats`` fits of us per step and the difference to the baseline, and
the median step time of the baseline fits for scale. Not counted: Keras's own dispatch of one
more callback method (~1 us) and, on jax, the hand-over of a new rate inside the train function.

Usage: ``KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_callback_overhead.py [--repeats 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
from _workload import STEPS_PER_EPOCH, digits_50k, mlp, read_loss, timing

import lrwidgets as lrw
from lrwidgets.training import TrainingController
from lrwidgets.training.callback import ControllerCallback


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    x, y = digits_50k()
    model = mlp(x, y)
    names = ["read-only", "controller", "controller+schedule", "session", "beside-a-logger"]
    per_step: dict[str, list[float]] = {n: [] for n in names}
    step_ms: list[float] = []
    hooks = {h: vars(ControllerCallback)[h] for h in ("on_train_batch_begin", "on_train_batch_end")}
    for r in range(args.repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            spent = [0.0]
            callbacks: list[keras.callbacks.Callback]
            if name == "read-only":
                callbacks = [timing(read_loss(), spent)]
            elif name == "session":  # what TrainingSession.fit installs: its callback first, the reader last
                callback = lrw.TrainingSession(model).callback
                callback.reader_attached = True
                callbacks = [timing(callback, spent), timing(callback.reader, spent)]
            elif name == "beside-a-logger":
                callbacks = [lrw.TrainingSession(model).callback, read_loss()]
                timing(ControllerCallback, spent)  # its class's methods: see the docstring
            else:
                controller = TrainingController(model)
                if name == "controller+schedule":
                    controller.set_schedule(lrw.schedules.ExponentialDecay(1e-3, decay_steps=1563, decay_rate=0.5))
                callbacks = [timing(controller.callback, spent)]
            start = time.perf_counter()
            try:
                history = model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=callbacks)
            finally:
                for hook, method in hooks.items():  # the class's own again
                    setattr(ControllerCallback, hook, method)
            steps = 2 * STEPS_PER_EPOCH
            if name == "read-only":
                step_ms.append((time.perf_counter() - start) / steps * 1e3)
            per_step[name].append(spent[0] / steps * 1e6)
            assert len(history.history["loss"]) == 2
    base = statistics.median(per_step["read-only"])
    print(
        f"backend {keras.backend.backend()}, 3,126 steps a fit, {args.repeats} interleaved fits each;"
        f" baseline step {statistics.median(step_ms):.3f} ms"
    )
    print(f"{'callback':<22} {'us/step':>8} {'added':>7}   fits")
    for name in names:
        med = statistics.median(per_step[name])
        print(f"{name:<22} {med:8.2f} {med - base:+7.2f}   {' '.join(f'{t:.2f}' for t in per_step[name])}")


if __name__ == "__main__":
    main()
