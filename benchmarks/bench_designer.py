"""How long a ScheduleDesigner edit takes for a 100k-step run: recompute, decimate, send.

Each edit is timed from the assignment to the last message handed to the comm. The comm here
JSON-encodes every message and keeps the binary buffers, as the kernel's would before writing to
its socket, so encoding is paid; the socket write itself is not. Medians of several runs.

Run from the repository root: .venv/bin/python benchmarks/bench_designer.py [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import comm
import numpy as np


class EncodingComm:
    """A comm that does what the kernel's does before the socket: JSON-encode, keep buffers."""

    kernel = "benchmark"
    comm_id = "benchmark"
    sent_bytes = 0
    messages = 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def open(self, *args: object, **kwargs: object) -> None:
        pass

    def on_msg(self, *args: object, **kwargs: object) -> None:
        pass

    def send(self, data: dict | None = None, metadata: object = None, buffers: list | None = None) -> None:
        EncodingComm.sent_bytes += len(json.dumps(data or {})) + sum(memoryview(b).nbytes for b in buffers or [])
        EncodingComm.messages += 1

    def close(self, *args: object, **kwargs: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    args = parser.parse_args()
    comm.create_comm = lambda **kwargs: EncodingComm()  # before any widget exists
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout's lrwidgets

    from lrwidgets import ScheduleDesigner
    from lrwidgets.widgets._designer_kinds import KINDS

    steps = args.epochs * args.steps_per_epoch
    print(f"ScheduleDesigner edit, {steps:,} steps, median of {args.runs} runs")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'kind':16s} {'redraw ms':>10s} {'p90':>6s} {'edit ms':>8s} {'p90':>6s} {'points':>7s} {'KB/edit':>8s}")
    worst = 0.0
    for kind in KINDS:
        d = ScheduleDesigner(kind=kind, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch)
        lr_arg = KINDS[kind].lr_arg
        redraws, edits, sizes = [], [], []
        for i in range(args.runs):
            t0 = time.perf_counter()
            d._redraw()  # recompute the preview and send it
            redraws.append(time.perf_counter() - t0)
            before = EncodingComm.sent_bytes
            t0 = time.perf_counter()
            if lr_arg:  # a whole edit: validate, rebuild the schedule, sync the controls, redraw
                d.update(**{lr_arg: 1e-3 * (1 + i % 2)})
            else:
                d.update(values=[1e-3 * (1 + i % 2), 1e-4, 1e-5])
            edits.append(time.perf_counter() - t0)
            sizes.append(EncodingComm.sent_bytes - before)
        redraw_ms = statistics.median(redraws) * 1e3
        worst = max(worst, redraw_ms)
        print(
            f"{kind:16s} {redraw_ms:10.2f} {np.percentile(redraws, 90) * 1e3:6.2f} "
            f"{statistics.median(edits) * 1e3:8.2f} {np.percentile(edits, 90) * 1e3:6.2f} "
            f"{len(d._plot.lines.x):7d} {statistics.median(sizes) / 1e3:8.1f}"
        )
    print(f"worst median redraw: {worst:.2f} ms (budget 10 ms)")


if __name__ == "__main__":
    main()
