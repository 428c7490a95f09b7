"""The Binder environment, built as repo2docker builds it: a virtual environment from exactly binder/.

Built once into ``build/binder-venv`` and kept while ``binder/requirements.txt``,
``constraints.txt`` and ``pyproject.toml`` stay the same (a fresh clone, as in CI, builds it
anew); lrwidgets itself is reinstalled from the checkout at every test session, so the tests
run the current code as Binder would install it.
"""

from __future__ import annotations

from pathlib import Path

from scripts.venvs import cached_venv, clean_environment, pip_install

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
VENV = ROOT / "build" / "binder-venv"
SPEC = (BINDER / "requirements.txt", ROOT / "constraints.txt", ROOT / "pyproject.toml")


def environment() -> dict[str, str]:
    """The test process's environment without what would point a kernel at this checkout."""
    return clean_environment()


def build() -> Path:
    """The Binder environment's python, (re)built when its specification changed."""
    # As repo2docker does: from the repository root, so that `.` in the file is lrwidgets.
    python, built = cached_venv(
        VENV,
        b"".join(p.read_bytes() for p in SPEC),
        lambda python: pip_install(python, "-r", str(BINDER / "requirements.txt"), cwd=ROOT),
    )
    if not built:  # the same environment; lrwidgets as in this checkout now
        pip_install(python, "--no-deps", "--force-reinstall", ".", cwd=ROOT)
    return python
