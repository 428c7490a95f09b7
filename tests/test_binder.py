"""The Binder environment is complete: pip finds no conflict, JupyterLab has the widget
extensions, and kernels import the installed lrwidgets. (Every notebook runs in it:
tests/test_notebooks.py.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.binder_env import BINDER, VENV, environment


@pytest.mark.slow
def test_binder_environment_is_complete(binder_python: Path, tmp_path: Path) -> None:
    env = environment()
    subprocess.run([str(binder_python), "-m", "pip", "check"], env=env, check=True)
    extensions = subprocess.run(
        [str(VENV / "bin" / "jupyter"), "labextension", "list"], env=env, capture_output=True, text=True, check=True
    )
    listed = extensions.stdout + extensions.stderr
    for name in ("@jupyter-widgets/jupyterlab-manager", "bqplot", "anywidget"):
        assert name in listed, f"JupyterLab extension {name} missing in the Binder environment:\n{listed}"
    version = subprocess.run(
        [str(BINDER / "start"), str(binder_python), "-c", "import lrwidgets; print(lrwidgets.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(VENV) in version, f"lrwidgets imported from {version}, not from the Binder environment"
