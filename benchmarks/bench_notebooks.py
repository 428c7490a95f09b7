"""How long each tutorial notebook takes to run headless in the Binder environment, against the
90-second budget that the README promises a reader on 2 CPU cores.

Each notebook runs as ``tests/test_notebooks.py`` runs it: ``binder/start`` around
``scripts/execute_notebooks.py --installed`` in the Binder environment (``build/binder-venv``,
built first if needed), one fresh kernel a notebook, one notebook at a time. For each it reports
the wall time, the kernel's CPU time (user + system, every thread, and the processes the kernel
started and ended) and the load average before and after it, then a Markdown table. A busy machine
stretches the wall time, not the CPU time: a notebook is over budget when both exceed it (the rule
of ``execute_notebooks.py``). Exits 1 if a notebook fails or is over budget.

Usage: ``.venv/bin/python benchmarks/bench_notebooks.py [--budget 90] [NOTEBOOK ...]``
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `tests.` and `scripts.` importable
    sys.path.insert(0, str(ROOT))

from tests.binder_env import BINDER, build, environment  # noqa: E402  (after the sys.path set-up above)

# The line execute_notebooks.py prints for a notebook that ran.
RESULT = re.compile(
    r"^(ok|OVER BUDGET|TOO MANY WIDGETS \(> \d+\)) (\S+): "
    r"wall ([\d.]+) s, kernel CPU ([\d.]+ s|unknown), (\d+) widget models$",
    re.MULTILINE,
)


@dataclass
class Row:
    name: str
    status: str  # "ok", "OVER BUDGET" or "FAILED"
    wall: float | None
    cpu: float | None
    load_before: float
    load_after: float
    widgets: int | None = None

    def markdown(self, budget: float) -> str:
        def seconds(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}"

        return (
            f"| `{Path(self.name).stem}` | {seconds(self.wall)} | {seconds(self.cpu)} | {budget:.0f} "
            f"| {self.load_before:.1f} / {self.load_after:.1f} | {'-' if self.widgets is None else self.widgets} "
            f"| {self.status} |"
        )


def run_one(python: Path, notebook: Path, budget: float, cwd: str) -> Row:
    load_before = os.getloadavg()[0]
    command = [str(BINDER / "start"), str(python), str(ROOT / "scripts" / "execute_notebooks.py"), "--installed"]
    command += ["--budget", str(budget), str(notebook.resolve())]
    result = subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True)
    load_after = os.getloadavg()[0]
    match = RESULT.search(result.stdout)
    if match is None:
        sys.stderr.write(result.stdout + result.stderr[-3000:])
        return Row(notebook.name, "FAILED", None, None, load_before, load_after)
    cpu = None if match[4] == "unknown" else float(match[4].removesuffix(" s"))
    return Row(notebook.name, match[1], float(match[3]), cpu, load_before, load_after, int(match[5]))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, default=sorted((ROOT / "notebooks").glob("*.ipynb")))
    parser.add_argument("--budget", type=float, default=90.0, help="seconds a notebook may take")
    args = parser.parse_args(argv)
    python = build()
    rows = []
    with tempfile.TemporaryDirectory() as cwd:
        for notebook in args.notebooks:
            row = run_one(python, notebook, args.budget, cwd)
            print(f"{row.status} {row.name}: wall {row.wall} s, kernel CPU {row.cpu} s, "
                  f"load {row.load_before:.1f} -> {row.load_after:.1f}", flush=True)  # fmt: skip
            rows.append(row)
    print("\n| notebook | wall s | kernel CPU s | budget s | load before / after | widget models | result |")
    print("|---|---:|---:|---:|---|---:|---|")
    for row in rows:
        print(row.markdown(args.budget))
    return 0 if all(row.status == "ok" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
