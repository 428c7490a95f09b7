"""The Binder environment, built as repo2docker builds it: a virtual environment from exactly binder/.

Built once into ``build/binder-venv`` and kept while ``binder/requirements.txt``,
``constraints.txt`` and ``pyproject.toml`` stay the same (a fresh clone, as in CI, builds it
anew); lrwidgets itself is reinstalled from the checkout at every test session, so the tests
run the current code as Binder would install it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
VENV = ROOT / "build" / "binder-venv"
STAMP = VENV / ".lrwidgets-binder-stamp"
SPEC = (BINDER / "requirements.txt", ROOT / "constraints.txt", ROOT / "pyproject.toml")


def environment() -> dict[str, str]:
    """The test process's environment without what would point a kernel at this checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND", "VIRTUAL_ENV")}


def build() -> Path:
    """The Binder environment's python, (re)built when its specification changed."""
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in SPEC)).hexdigest()
    python = VENV / "bin" / "python"
    env = environment()
    if not (python.exists() and STAMP.exists() and STAMP.read_text() == digest):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        # As repo2docker does: from the repository root, so that `.` in the file is lrwidgets.
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(BINDER / "requirements.txt")],
            cwd=ROOT,
            env=env,
            check=True,
        )
        STAMP.write_text(digest)
    else:  # the same environment; lrwidgets as in this checkout now
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", "."],
            cwd=ROOT,
            env=env,
            check=True,
        )
    return python
