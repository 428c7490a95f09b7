"""How long a ScheduleDesigner edit takes for a 100k-step run, measured in a real Jupyter kernel.

For each kind (default arguments, 1000 epochs x 100 steps), in a kernel where the designer is
displayed, so every message goes out on the kernel's iopub socket:

- ``redraw``: evaluate the schedule at all 100,000 steps, min/max-decimate to <= 1000 points,
  assign float32 arrays to the existing bqplot marks inside ``hold_sync()``, send;
- ``edit``: a whole user edit, ``designer.update(<level of the rate>=...)``: validate by building
  the schedule, set the ``schedule`` trait, re-sync the controls, then the redraw above;
- bytes handed to the comms per edit (JSON plus binary buffers).

Medians (and 90th percentiles) of several runs.

Usage: ``.venv/bin/python benchmarks/bench_designer.py [--runs 40] [--epochs 1000] [--steps-per-epoch 100]``
"""

from __future__ import annotations

import argparse
import os

from _kernel import run_in_kernel

KERNEL_CODE = r"""
import json, os, platform, statistics, time
import numpy as np
import lrwidgets as lrw
from lrwidgets.widgets._designer_kinds import KINDS
from ipykernel.comm.comm import BaseComm as Comm  # the class comm.create_comm makes in a kernel
from IPython.display import display

traffic = {"bytes": 0}
_publish = Comm.publish_msg
def counting_publish(self, msg_type, data=None, metadata=None, buffers=None, **keys):
    traffic["bytes"] += len(json.dumps(data, default=str)) + sum(memoryview(b).nbytes for b in buffers or [])
    return _publish(self, msg_type, data=data, metadata=metadata, buffers=buffers, **keys)
Comm.publish_msg = counting_publish

rows = {}
for kind, spec in KINDS.items():
    d = lrw.ScheduleDesigner(kind=kind, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH)
    display(d)
    redraws, edits, sizes = [], [], []
    for i in range(RUNS):
        t0 = time.perf_counter()
        d._redraw()
        redraws.append(time.perf_counter() - t0)
        level = 1e-3 * (1 + i % 2)
        change = {spec.lr_arg: level} if spec.lr_arg else {"values": [level, 1e-4, 1e-5]}
        before = traffic["bytes"]
        t0 = time.perf_counter()
        d.update(**change)
        edits.append(time.perf_counter() - t0)
        sizes.append(traffic["bytes"] - before)
    rows[kind] = {"redraw": redraws, "edit": edits, "bytes": statistics.median(sizes),
                  "points": len(d._plot.lines.x)}
info = {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
        "load": os.getloadavg()[0]}
print("RESULT" + json.dumps({"rows": rows, "info": info}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--steps-per-epoch", type=int, default=100)
    args = ap.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "jax")  # lrwidgets imports Keras; jax is the lighter import
    code = f"RUNS = {args.runs}\nEPOCHS = {args.epochs}\nSTEPS_PER_EPOCH = {args.steps_per_epoch}\n" + KERNEL_CODE
    result = run_in_kernel(code)

    def ms(values: list[float], q: float) -> float:
        values = sorted(values)
        return 1e3 * values[min(len(values) - 1, round(q * (len(values) - 1)))]

    info = result["info"]
    steps = args.epochs * args.steps_per_epoch
    print(f"ScheduleDesigner in a kernel, {steps:,} steps, {args.runs} runs per kind")
    print(f"python {info['python']}, numpy {info['numpy']}, {info['cpus']} cpus, load average {info['load']:.1f}")
    print(f"{'kind':16s} {'redraw ms':>10s} {'p90':>6s} {'edit ms':>8s} {'p90':>6s} {'points':>7s} {'KB/edit':>8s}")
    for kind, row in result["rows"].items():
        print(
            f"{kind:16s} {ms(row['redraw'], 0.5):10.2f} {ms(row['redraw'], 0.9):6.2f} {ms(row['edit'], 0.5):8.2f}"
            f" {ms(row['edit'], 0.9):6.2f} {row['points']:7d} {row['bytes'] / 1e3:8.1f}"
        )
    worst = max(ms(row["redraw"], 0.5) for row in result["rows"].values())
    worst_edit = max(ms(row["edit"], 0.5) for row in result["rows"].values())
    print(f"worst median: redraw {worst:.2f} ms, whole edit {worst_edit:.2f} ms (budget 10 ms)")


if __name__ == "__main__":
    main()
