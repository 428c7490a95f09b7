"""What the dashboard costs a fit, measured in a real Jupyter kernel.

A 64-64-10 MLP (two hidden layers of 64) on scikit-learn's digits tiled to ~50k samples, batch 32
(1,563 steps an epoch).
Configurations run interleaved, several times each, on one compiled model whose weights are reset
between runs; each timed fit starts after a full garbage collection and ``--settle`` seconds (0.5)
of idle time once its set-up is done (a new dashboard made and displayed, or the read-only callback
made), the same in every configuration: a displayed dashboard's widgets are opened on the page by
the kernel's IOPub thread after ``display`` returns, and with no pause that traffic (and a full
collection brought on by the set-up's objects) fell on one configuration only. Every fit runs in a
background thread, as ``dash.fit`` does:

- ``baseline``: a callback that only reads ``float(logs["loss"])`` each batch (the fair baseline:
  any per-batch callback turns off Keras's async dispatch),
- ``dashboard``: ``TrainingDashboard`` (displayed; every comm message really goes out on iopub),
- ``dashboard+schedule``: the same, driven by an ``ExponentialDecay`` (a new rate every step),
- ``session`` and ``session+diagnosis``: a headless ``TrainingSession`` (no view), alone and with a
  ``Diagnostician`` attached (the dashboard's live diagnosis): what the views add is the rest,
- ``progbar``: Keras's progress bar (``verbose=1``),
- ``livelossplot``: ``PlotLossesKeras()``,
- ``baseline-kernel`` and ``callback-kernel``: the read-only callback, and a displayed dashboard's
  ``dash.callback``, each in ``model.fit`` run in the kernel's own thread (a cell that blocks);
  ``callback-kernel``'s paired ratio is taken against ``baseline-kernel``; ``session-kernel``: a
  headless ``TrainingSession``'s callback there (no view), against the same baseline;
  ``shadow-kernel``: a dashboard made and displayed as for ``callback-kernel``, its fit given the
  read-only callback: what making a dashboard costs the fit after it, none of its callback's work.

Printed: each configuration's median time over the baseline's, and the median of its per-round
ratios to the baseline run of the same round ("paired", robust to the machine's load drifting)
with that median's 95% interval (from 6 rounds on). Single paired ratios spread from 0.72x to
1.27x on a shared 2-core machine: 61 rounds (``--repeats 61``, ~8 min) gave wall intervals 6-13 points
wide, three such runs pooled 4-5 points, five 3-3.5 points (benchmarks/RESULTS.md).

Then one long dashboard run counts widget traffic (bytes per update, total) and updates a second
(fewer than ten when drawing them would take more than 1% of the training thread's time) at 1k,
10k, 50k steps.

Usage: ``.venv/bin/python benchmarks/bench_dashboard.py [--repeats 5] [--epochs 4] [--long-steps 50000]``
(``--width 512 --batch-size 256``: a wider MLP, a step ~20x longer, for the cost and the updates
a second of a more common step.) ``--save run1.json`` keeps every round's times;
``--pool run1.json run2.json ...`` prints the paired ratios of saved runs pooled (no benchmark run).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from _kernel import run_in_kernel
from _workload import SAMPLES

KERNEL_CODE = r"""
import gc, json, os, threading, time
import numpy as np, keras
import lrwidgets as lrw
from ipykernel.comm.comm import BaseComm as Comm  # the class comm.create_comm makes in a kernel
from IPython.display import display

traffic = {"bytes": 0, "messages": 0}
_publish = Comm.publish_msg
def counting_publish(self, msg_type, data=None, metadata=None, buffers=None, **keys):
    traffic["bytes"] += len(json.dumps(data, default=str)) + sum(memoryview(b).nbytes for b in buffers or [])
    traffic["messages"] += 1
    return _publish(self, msg_type, data=data, metadata=metadata, buffers=buffers, **keys)
# Counted in the traffic run only: the timed runs send their messages as a dashboard does.

from benchmarks._workload import digits_50k, mlp, read_loss
x, y = digits_50k()
model = mlp(x, y, WIDTH, BATCH)
STEPS_PER_EPOCH = -(-len(x) // BATCH)
start_weights = [keras.ops.convert_to_numpy(v.value) for v in model.weights]
start_opt = [keras.ops.convert_to_numpy(v.value) for v in model.optimizer.variables]

def reset():
    for v, w in zip(model.weights, start_weights):
        v.assign(w)
    for v, w in zip(model.optimizer.variables, start_opt):
        v.assign(w)

def in_thread(fn):
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", fn()))
    t.start(); t.join()
    return out.get("r")

def settle():
    # Every configuration's fit starts after the same idle time, once its set-up is done: a new
    # dashboard's widgets are opened on the page by the IOPub thread after `display` returns, and
    # without this that traffic ran into the dashboard's fit only. A full collection first: a set-up
    # that made thousands of objects (a dashboard's widgets, in a kernel holding every dashboard made
    # before) would otherwise bring the next full collection into the fit that follows it.
    if SETTLE > 0:
        gc.collect()
        time.sleep(SETTLE)

def timed(name, epochs):
    reset()
    if name in ("dashboard", "dashboard+schedule"):
        dash = lrw.TrainingDashboard(model)
        display(dash)
        # A schedule whose rate changes every step: one host-side write before each batch.
        decay = lrw.schedules.ExponentialDecay(1e-3, decay_steps=STEPS_PER_EPOCH, decay_rate=0.5)
        schedule = decay if "+" in name else None
        settle()
        t0, c0 = time.perf_counter(), time.process_time()
        dash.fit(x, y, epochs=epochs, batch_size=BATCH, schedule=schedule).wait()
        return time.perf_counter() - t0, time.process_time() - c0
    if name in ("session", "session+diagnosis"):
        session = lrw.TrainingSession(model)
        if name == "session+diagnosis":
            lrw.Diagnostician.attach(session)
        settle()
        t0, c0 = time.perf_counter(), time.process_time()
        session.fit(x, y, epochs=epochs, batch_size=BATCH).wait()
        return time.perf_counter() - t0, time.process_time() - c0
    if name.endswith("-kernel"):
        if name == "callback-kernel":
            dash = lrw.TrainingDashboard(model)
            display(dash)
            callbacks = [dash.callback]
        elif name == "shadow-kernel":  # a dashboard made and displayed, its fit given the read-only callback
            dash = lrw.TrainingDashboard(model)
            display(dash)
            callbacks = [read_loss()]
        elif name == "session-kernel":
            callbacks = [lrw.TrainingSession(model).callback]
        else:
            callbacks = [read_loss()]
        settle()
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(x, y, epochs=epochs, batch_size=BATCH, callbacks=callbacks, verbose=0)
        return time.perf_counter() - t0, time.process_time() - c0
    if name == "baseline":
        kw = dict(callbacks=[read_loss()], verbose=0)
    elif name == "progbar":
        kw = dict(verbose=1)
    else:
        from livelossplot import PlotLossesKeras
        kw = dict(callbacks=[PlotLossesKeras()], verbose=0)
    settle()
    t0, c0 = time.perf_counter(), time.process_time()
    in_thread(lambda: model.fit(x, y, epochs=epochs, batch_size=BATCH, **kw))
    return time.perf_counter() - t0, time.process_time() - c0

times = {n: [] for n in CONFIGS}
cpu_times = {n: [] for n in CONFIGS}
for r in range(REPEATS):
    for n in (CONFIGS if r % 2 == 0 else CONFIGS[::-1]):
        wall, cpu = timed(n, EPOCHS)
        times[n].append(wall)
        cpu_times[n].append(cpu)

# Traffic of one long dashboard run, read at 1k, 10k, 50k steps.
reset()
marks = {}
dash = lrw.TrainingDashboard(model)
display(dash)
updates = {"n": 0}
dash.controller.add_listener(lambda: updates.__setitem__("n", updates["n"] + 1))
class Probe(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        n = dash.history.num_steps
        if n in (1_000, 10_000, 50_000):
            marks[n] = dict(traffic, updates=updates["n"], wall=time.perf_counter() - t0)
epochs_long = int(np.ceil(LONG_STEPS / STEPS_PER_EPOCH))
Comm.publish_msg = counting_publish
traffic.update(bytes=0, messages=0)
t0 = time.perf_counter()
dash.fit(x, y, epochs=epochs_long, batch_size=BATCH, callbacks=[Probe()]).wait()
print("RESULT" + json.dumps({"times": times, "cpu": cpu_times, "marks": marks, "steps": dash.history.num_steps}))
"""


def median_interval(ratios: list[float]) -> tuple[float, float]:
    """A 95% confidence interval of the median of ``ratios`` (sorted): the order statistics of ranks
    ``floor(n/2 - 0.98 sqrt(n))`` and ``ceil(1 + n/2 + 0.98 sqrt(n))`` (normal approximation of
    binomial(n, 1/2)): at least 95% from 6 runs on (97% for 21 runs, 98% for 61: one rank wider
    on each side than the narrowest that would do), less below."""
    n = len(ratios)
    half = 0.98 * math.sqrt(n)
    low = max(math.floor(n / 2 - half), 1)
    high = min(math.ceil(1 + n / 2 + half), n)
    return ratios[low - 1], ratios[high - 1]


def baseline_of(name: str) -> str:
    """The configuration ``name``'s ratios are taken against: the read-only callback in the same thread."""
    return "baseline-kernel" if name.endswith("-kernel") else "baseline"


def print_ratios(times: dict[str, list[list[float]]], cpu: dict[str, list[list[float]]]) -> None:
    """Each configuration's paired ratios to its baseline: per round against the baseline run of the
    same round (adjacent in time), so that a change of the machine's load during the benchmark
    cancels out; then the median over rounds and its 95% interval (:func:`median_interval`; rounds
    taken as independent). Each configuration's times are a list of runs (one, or several with
    ``--pool``): rounds are paired within each run, then pooled."""
    for kind, table in (("wall time", times), ("CPU time of the kernel process", cpu)):
        print(f"\n{kind}")
        print(f"{'configuration':<20} {'median s':>9} {'ratio':>7} {'paired':>7} {'95% interval':>15}   runs")
        for name, runs in table.items():
            ref_runs = table[baseline_of(name)]
            ts = [t for run in runs for t in run]
            ref = [t for run in ref_runs for t in run]
            med = statistics.median(ts)
            base = statistics.median(ref)
            ratios = sorted(
                t / b for run, ref_run in zip(runs, ref_runs, strict=True) for t, b in zip(run, ref_run, strict=True)
            )
            interval = "-" if len(ratios) < 6 else "{:.3f}-{:.3f}x".format(*median_interval(ratios))
            shown = " ".join(f"{t:.2f}" for t in ts) if len(runs) == 1 else f"{len(runs)} runs, {len(ts)} rounds"
            print(f"{name:<20} {med:9.2f} {med / base:7.2f}x {statistics.median(ratios):6.3f}x {interval:>15}  {shown}")


def pool(paths: list[str], error: Callable[[str], NoReturn]) -> None:
    """Print the paired ratios of several runs saved with ``--save``, pooled (each run's rounds
    paired within it). ``error``: how a file that cannot be pooled is refused (argparse's)."""
    saved = []
    for path in paths:
        try:
            run = json.loads(Path(path).read_text())
            times, cpu = run["times"], run["cpu"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            error(f"argument --pool: {path} is not a run saved with --save ({type(e).__name__}: {e})")
        for name in times:
            if len(times[name]) != len(cpu.get(name, ())):
                error(
                    f"argument --pool: {path}: `{name}` has {len(times[name])} wall times"
                    f" and {len(cpu.get(name, ()))} CPU times"
                )
        saved.append(run)
    settings = [{k: v for k, v in run.get("args", {}).items() if k not in ("save", "pool")} for run in saved]
    if any(s != settings[0] for s in settings):
        print("warning: the runs were made with different settings:", *settings, sep="\n  ")
    every = [n for n in saved[0]["times"] if all(n in run["times"] for run in saved)]
    names = [n for n in every if baseline_of(n) in every]
    left_out = sorted({n for run in saved for n in run["times"]} - set(names))
    print(f"{len(saved)} runs pooled: {', '.join(paths)}")
    if left_out:
        print(f"left out (not in every run, or its baseline is not): {', '.join(left_out)}")
    for name in names:
        for path, run in zip(paths, saved, strict=True):
            ref = run["times"][baseline_of(name)]
            if len(run["times"][name]) != len(ref):
                error(
                    f"argument --pool: {path}: `{name}` has {len(run['times'][name])} rounds, its baseline {len(ref)}"
                )
    print_ratios(
        {n: [run["times"][n] for run in saved] for n in names}, {n: [run["cpu"][n] for run in saved] for n in names}
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--long-steps", type=int, default=50_000)
    ap.add_argument("--width", type=int, default=64, help="the MLP's hidden width (64: the smallest step)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument(
        "--settle",
        type=float,
        default=0.5,
        help="idle seconds (after gc.collect) before each timed fit, after its set-up, in each configuration (0: none)",
    )
    ap.add_argument(
        "--configs",
        default="baseline,dashboard,dashboard+schedule,progbar,livelossplot,baseline-kernel,callback-kernel",
    )
    ap.add_argument("--save", metavar="FILE", help="also write every round's wall and CPU times to FILE (JSON)")
    ap.add_argument(
        "--pool",
        nargs="+",
        metavar="FILE",
        help="no benchmark: print the paired ratios of runs saved with --save, pooled",
    )
    args = ap.parse_args()
    if args.pool:
        pool(args.pool, ap.error)
        return
    if not args.settle >= 0:
        ap.error(f"argument --settle must be >= 0. Received: {args.settle}")
    os.environ.setdefault("KERAS_BACKEND", "jax")
    configs = args.configs.split(",")
    code = (
        f"CONFIGS = {configs!r}\nREPEATS = {args.repeats}\nEPOCHS = {args.epochs}\nSETTLE = {args.settle}\n"
        f"LONG_STEPS = {args.long_steps}\nWIDTH = {args.width}\nBATCH = {args.batch_size}\n" + KERNEL_CODE
    )
    result = run_in_kernel(code)
    if args.save:
        saved = {
            "args": vars(args),
            "backend": os.environ["KERAS_BACKEND"],
            "times": result["times"],
            "cpu": result["cpu"],
        }
        Path(args.save).write_text(json.dumps(saved))
    steps = args.epochs * -(-SAMPLES // args.batch_size)
    print(
        f"backend {os.environ['KERAS_BACKEND']}, {args.width}-{args.width}-10 MLP, batch {args.batch_size}:"
        f" {steps} steps a fit, {args.repeats} interleaved runs each"
    )
    print_ratios({n: [ts] for n, ts in result["times"].items()}, {n: [ts] for n, ts in result["cpu"].items()})
    print(f"\nwidget traffic of one dashboard run ({result['steps']} steps), read at 1k, 10k and 50k steps")
    print(
        f"{'steps':>7} {'updates':>8} {'updates/s':>9} {'messages':>9} {'total KB':>9} {'KB/update':>10}"
        f" {'wall s':>7} {'KB/s':>7}"
    )
    for n, m in sorted(result["marks"].items(), key=lambda kv: int(kv[0])):
        kb = m["bytes"] / 1e3
        print(
            f"{int(n):>7} {m['updates']:>8} {m['updates'] / m['wall']:>9.1f} {m['messages']:>9} {kb:>9.1f}"
            f" {kb / max(m['updates'], 1):>10.2f}"
            f" {m['wall']:>7.1f} {kb / m['wall']:>7.1f}"
        )


if __name__ == "__main__":
    main()
