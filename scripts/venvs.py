"""Virtual environments that the checks build beside the checkout, under ``build/``.

Each is built once and kept while its specification (the bytes of the files it is built from) stays
the same; a fresh clone, as in CI, builds it anew. Used by the Binder check
(``tests/binder_env.py``), the installed-wheel test (``tests/test_packaging.py``) and the
dependency floors and newest stages of ``scripts/run_tests.py``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

STAMP = ".lrwidgets-stamp"


def clean_environment() -> dict[str, str]:
    """This process's environment without what would point another python at this checkout or its venv."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "KERAS_BACKEND")
    return {k: v for k, v in os.environ.items() if k not in drop}


def cached_venv(
    venv: Path, spec: bytes, install: Callable[[Path], None], base_python: str = sys.executable
) -> tuple[Path, bool]:
    """The python of ``venv`` and whether it was built now.

    Built with ``base_python -m venv`` and ``install(python)`` unless its stamp holds the hash of
    ``spec``. The stamp is written only once ``install`` returned, so an interrupted build is redone.
    """
    digest = hashlib.sha256(spec).hexdigest()
    python = venv / "bin" / "python"
    stamp = venv / STAMP
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python, False
    subprocess.run([base_python, "-m", "venv", "--clear", str(venv)], check=True)
    install(python)
    stamp.write_text(digest)
    return python, True


def pip_install(python: Path, *args: str, cwd: Path | None = None, out: IO[str] | None = None) -> None:
    """``python -m pip install -q ARGS`` in the clean environment, its output to ``out`` if given;
    raises if pip fails."""
    cmd = [str(python), "-m", "pip", "install", "-q", *args]
    subprocess.run(cmd, cwd=cwd, env=clean_environment(), check=True, stdout=out, stderr=out)
