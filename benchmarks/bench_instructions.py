"""Instructions a fit executes with lrwidgets' callback and without, counted by valgrind's callgrind.

Wall and CPU ratios on a shared 2-core machine move by several points between runs; an
instruction count does not depend on the load. Each configuration runs in its own process under
``valgrind --tool=callgrind``, counting only the timed 4-epoch fit (``callgrind_control -i on``
around it) of the benchmarks' 64-64-10 MLP on the first ``--samples`` samples:

- ``baseline``: a callback that only reads ``float(logs["loss"])`` each batch;
- ``session``: a headless ``TrainingSession``'s callback;
- ``dashboard``: a ``TrainingDashboard``'s callback (no kernel: its widget messages go nowhere).

valgrind runs a program ~250x slower, so anything lrwidgets does on a clock (the listeners'
rounds every ``update_interval``, the NaN guard's copies every 2 s) happens ~250x more often per
step than in a real fit. ``--quiet`` (the default) switches both off: the counts then hold the
per-batch path and a fit's fixed work only. ``--no-quiet`` keeps them. Runs of one configuration
agreed within 0.1% on a quiet machine and moved by up to 3% on a busy one (why was not measured):
compare counts only between runs on a quiet machine.

Usage (valgrind from apt): ``.venv/bin/python benchmarks/bench_instructions.py [--samples 6400]
[--configs baseline,session,dashboard] [--repeats 2] [--no-quiet]``
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import os, subprocess, sys
sys.path.insert(0, {bench!r})
import keras
import lrwidgets as lrw
from _workload import digits_50k, mlp, read_loss

x, y = digits_50k()
model = mlp(x, y)
x, y = x[:{samples}], y[:{samples}]


def make():
    if {config!r} == "baseline":
        return read_loss()
    interval = 3600.0 if {quiet} else 0.1
    if {config!r} == "session":
        owner = lrw.TrainingSession(model, update_interval=interval)
        session = owner
    else:
        owner = lrw.TrainingDashboard(model, update_interval=interval)
        session = owner.session
    if {quiet}:
        session.controller.recorder.guard.interval = 1e9  # no copy on the clock
    return owner.callback


model.fit(x, y, epochs=1, batch_size=32, callbacks=[make()], verbose=0)  # warm: the same code paths
callback = make()
subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], capture_output=True, check=True)
model.fit(x, y, epochs=4, batch_size=32, callbacks=[callback], verbose=0)
subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], capture_output=True, check=True)
"""


def count(config: str, samples: int, quiet: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "child.py"
        bench = str(Path(__file__).resolve().parent)
        script.write_text(CHILD.format(bench=bench, samples=samples, config=config, quiet=quiet))
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={tmp}/cg.out",
             sys.executable, str(script)],
            capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": "jax"}, check=True,
        )  # fmt: skip
    found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{out.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=6400)
    parser.add_argument("--configs", default="baseline,session,dashboard")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quiet", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    configs = args.configs.split(",")
    counts: dict[str, list[int]] = {c: [] for c in configs}
    for _ in range(args.repeats):
        for c in configs:
            counts[c].append(count(c, args.samples, args.quiet))
    steps = 4 * -(-args.samples // 32)
    base = statistics.median(counts[configs[0]])
    print(f"{steps} steps a fit, {'clock-driven work off' if args.quiet else 'clock-driven work on'}")
    print(f"{'configuration':16s} {'instructions':>16s} {'per step':>10s} {'ratio':>7s}   runs")
    for c in configs:
        m = statistics.median(counts[c])
        runs = " ".join(f"{v / 1e6:.0f}M" for v in counts[c])
        print(f"{c:16s} {m:16,.0f} {m / steps:10,.0f} {m / base:6.3f}x   {runs}")


if __name__ == "__main__":
    main()
