"""A real ``jupyter lab``, ``jupyter notebook`` (7) or ``voila`` server on loopback, started and stopped
by the suite.

The server runs from this interpreter's environment, in an isolated Jupyter config/runtime/settings
tree, with ``PYTHONPATH`` pointing at this checkout so that kernels import *this* lrwidgets.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 120.0
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JupyterServer:
    """``kind`` is ``"lab"`` (JupyterLab), ``"notebook"`` (Notebook 7) or ``"voila"`` (Voilà, serving
    the notebooks of ``root_dir`` as dashboards: each page opened runs its notebook in a new kernel)."""

    def __init__(self, kind: str, root_dir: Path, state_dir: Path) -> None:
        if kind not in ("lab", "notebook", "voila"):
            raise ValueError(f"Argument `kind` must be 'lab', 'notebook' or 'voila'. Received: kind={kind!r}")
        self.kind = kind
        self.root_dir = root_dir
        self.state_dir = state_dir
        self.port = free_port()
        self.token = os.urandom(16).hex()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = state_dir / f"{kind}-server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        if self.kind == "voila":
            return [
                sys.executable,
                "-m",
                "voila",
                str(self.root_dir),
                "--no-browser",
                "--Voila.ip=127.0.0.1",
                f"--port={self.port}",
                "--Voila.port_retries=0",
                f"--token={self.token}",
            ]
        module = "jupyterlab" if self.kind == "lab" else "notebook"
        cmd = [
            sys.executable,
            "-m",
            module,
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--expose-app-in-browser",
        ]
        if self.kind == "lab":
            # No network from the app: no news feed, no update check.
            cmd += ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        return cmd

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in (
            "JUPYTER_CONFIG_DIR",
            "JUPYTER_RUNTIME_DIR",
            "JUPYTERLAB_SETTINGS_DIR",
            "JUPYTERLAB_WORKSPACES_DIR",
            "IPYTHONDIR",
        ):
            path = self.state_dir / name.lower()
            path.mkdir(parents=True, exist_ok=True)
            env[name] = str(path)
        # No "get notified about official Jupyter news?" toast over the notebook in screenshots.
        notification = self.state_dir / "jupyterlab_settings_dir" / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True, exist_ok=True)
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
        env["KERAS_BACKEND"] = env.get("KERAS_BACKEND", "jax")
        env["JAX_PLATFORMS"] = "cpu"
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        return env

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            self.command(),
            cwd=self.root_dir,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"jupyter {self.kind} exited with {self._proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status" if self.kind != "voila" else "/", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"jupyter {self.kind} did not answer in {STARTUP_TIMEOUT:.0f} s:\n{self.log_tail()}"
                    ) from None
                time.sleep(0.25)  # polling a condition (the server answering), not a fixed wait

    def api(self, method: str, path: str, timeout: float = 30) -> object:
        request = urllib.request.Request(
            self.base_url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        if not response.headers.get_content_type().endswith("json"):
            return body.decode(errors="replace")
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Shut down every session's kernel (each test opens its own; kernels are heavy)."""
        sessions = self.api("GET", "/api/sessions")
        assert isinstance(sessions, list)
        for session in sessions:
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def url(self, notebook: str) -> str:
        route = {"lab": "lab/tree", "notebook": "notebooks", "voila": "voila/render"}[self.kind]
        # `reset`: JupyterLab forgets the workspace of the last page (else it reopens the notebooks
        # an earlier test left there, whose saved widget outputs then count on this page).
        return f"{self.base_url}/{route}/{notebook}?token={self.token}" + ("&reset" if self.kind == "lab" else "")

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # jupyter_server shuts its kernels down, then exits
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # our own session: the server and its kernels
            proc.wait(timeout=10)
