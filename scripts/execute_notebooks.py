"""Execute notebooks headless (nbclient), as a reader's "run all" would; fail on the first error.

    python scripts/execute_notebooks.py [--output-dir DIR] [--budget SECONDS] NOTEBOOK...

Each notebook runs in a fresh ``python3`` kernel of the interpreter running this script, with the
notebook's folder as working directory, ``KERAS_BACKEND=jax`` unless set, and this checkout first
on ``PYTHONPATH`` (unless ``--installed`` is given: then the kernel imports the installed
lrwidgets, as on Binder). Prints one line per notebook with its wall time; exits 1 if a notebook
fails or runs over ``--budget``. Used by the tests, the Binder check and the static export.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def kernel_environment(installed: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("KERAS_BACKEND", "jax")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up banner is not notebook output
    if not installed:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def execute(path: Path, timeout: int = 600, installed: bool = False) -> tuple[Any, float]:
    """Execute ``path``; return the executed notebook and the wall time in seconds.

    Raises ``nbclient.exceptions.CellExecutionError`` on the first cell that raises.
    """
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.monotonic()
    client.execute(env=kernel_environment(installed))  # passed on to the kernel manager
    return nb, time.monotonic() - start


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--output-dir", type=Path, help="write the executed notebooks here")
    parser.add_argument("--budget", type=float, default=None, help="fail a notebook that takes longer (seconds)")
    parser.add_argument("--installed", action="store_true", help="import the installed lrwidgets, not this checkout")
    args = parser.parse_args(argv)

    import nbformat

    failed = []
    for path in args.notebooks:
        try:
            nb, seconds = execute(path, installed=args.installed)
        except Exception as exc:  # report every notebook, then fail
            print(f"FAILED {path.name}: {type(exc).__name__}: {exc}", flush=True)
            failed.append(path.name)
            continue
        over = args.budget is not None and seconds > args.budget
        print(f"{'OVER BUDGET' if over else 'ok'} {path.name}: {seconds:.1f} s", flush=True)
        if over:
            failed.append(path.name)
        if args.output_dir:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, args.output_dir / path.name)
    print(f"{len(args.notebooks) - len(failed)} of {len(args.notebooks)} notebooks ok", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
