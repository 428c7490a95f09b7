"""How long each tutorial notebook takes to run headless in the Binder environment, against the
two-minute budget that the README promises a Binder user (the tests check only that each runs:
a busy machine must not fail them).

Each notebook runs as ``tests/test_notebooks.py`` runs it: ``binder/start`` around
``scripts/execute_notebooks.py --installed`` in the Binder environment (``build/binder-venv``,
built first if needed), one fresh kernel a notebook. Prints each notebook's wall time and the
load average before and after; exits 1 if a notebook fails or runs over ``--budget``.

Usage: ``.venv/bin/python benchmarks/bench_notebooks.py [--budget 120] [NOTEBOOK ...]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `tests.` and `scripts.` importable
    sys.path.insert(0, str(ROOT))

from tests.binder_env import BINDER, build, environment  # noqa: E402  (after the sys.path set-up above)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, default=sorted((ROOT / "notebooks").glob("*.ipynb")))
    parser.add_argument("--budget", type=float, default=120.0, help="seconds a notebook may take")
    args = parser.parse_args(argv)
    python = build()
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as cwd:
        command = [str(BINDER / "start"), str(python), str(ROOT / "scripts" / "execute_notebooks.py"), "--installed"]
        command += ["--budget", str(args.budget), *(str(p.resolve()) for p in args.notebooks)]
        rc = subprocess.call(command, cwd=cwd, env=environment())
    print(f"load average after: {os.getloadavg()}", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
