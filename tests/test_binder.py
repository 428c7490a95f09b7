"""The Binder environment works: a fresh virtual environment built from exactly binder/ runs every notebook.

Slow (a few minutes): pip installs binder/requirements.txt (from the local pip cache when it can) into
a new venv, then executes each notebook through binder/start, importing the installed lrwidgets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_binder_environment_runs_every_notebook(tmp_path: Path) -> None:
    venv = tmp_path / "binder-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND", "VIRTUAL_ENV")}
    # As repo2docker does: from the repository root, so that `.` in the file is lrwidgets.
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(BINDER / "requirements.txt")],
                   cwd=ROOT, env=env, check=True)
    subprocess.run([str(python), "-m", "pip", "check"], env=env, check=True)
    extensions = subprocess.run([str(venv / "bin" / "jupyter"), "labextension", "list"], env=env,
                                capture_output=True, text=True, check=True)
    listed = extensions.stdout + extensions.stderr
    for name in ("@jupyter-widgets/jupyterlab-manager", "bqplot", "anywidget"):
        assert name in listed, f"JupyterLab extension {name} missing in the Binder environment:\n{listed}"
    notebooks = sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb"))
    result = subprocess.run(
        [str(BINDER / "start"), str(python), str(ROOT / "scripts" / "execute_notebooks.py"), "--installed",
         *notebooks],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert f"{len(notebooks)} of {len(notebooks)} notebooks ok" in result.stdout
    version = subprocess.run([str(BINDER / "start"), str(python), "-c", "import lrwidgets; print(lrwidgets.__file__)"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert str(venv) in version, f"lrwidgets imported from {version}, not from the Binder environment"
