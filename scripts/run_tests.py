"""Run every check of lrwidgets: lint, types, tests on jax, tensorflow and torch, the browser suite, JS tests.

Called by ``./dev test`` (and so by ``.ci/run``). Extra arguments go to each pytest run.
The browser suite (``tests/ui``, marker ``ui``) runs once, on jax, as its own stage; the other
stages deselect it. Two stages run the Keras tests and the sweeps on Dask (marker ``sweep``) on
jax in environments of their own under
``build/``: "floors" on the lowest Python and the lowest version of every direct dependency that
pyproject.toml allows (``constraints-floors.txt``), "newest" on the newest releases (no
constraints), so that a breaking upstream release fails here before it reaches a user.
The pytest stages run in two lanes of about the same length, one beside the other: one runs the
browser suite (it waits on servers and Chromium most of its time), then tensorflow, then torch;
the other everything on jax, then the floors, then the newest releases. The floors and newest
environments are built during the jax stage (pip mostly waits on the network and the disk).
Output of what runs beside goes to ``test-artifacts/*.log``, printed when it ends. The script
exits non-zero if any stage fails and prints a summary line ``N passed, N failed`` over all pytest
runs at the end.
"""

from __future__ import annotations

import datetime
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
if str(ROOT) not in sys.path:  # run as a script: make `scripts.` importable
    sys.path.insert(0, str(ROOT))

from scripts.venvs import cached_venv, pip_install  # noqa: E402  (after the sys.path set-up above)

# What the floors and newest environments need besides lrwidgets[jax,sweep] to run its Keras and sweep tests.
TEST_TOOLS = ("pytest", "pytest-timeout", "hypothesis", "scikit-learn")  # scikit-learn: the digits data


def run(name: str, cmd: list[str], env: dict[str, str] | None = None) -> bool:
    print(f"\n=== {name}: {' '.join(cmd)}", flush=True)
    start = time.monotonic()
    rc = subprocess.call(cmd, cwd=ROOT, env={**os.environ, **(env or {})})
    print(f"=== {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {time.monotonic() - start:.0f} s", flush=True)
    return rc == 0


class Background:
    """Stages run one after another beside the others: their output goes to ``log``, printed by
    :meth:`wait`. Each stage is ``(name, command, environment)``."""

    def __init__(self, name: str, stages: list[tuple[str, list[str], dict[str, str]]], log: Path) -> None:
        print(f"\n=== {name} (beside the next stages, output in {log.relative_to(ROOT)})", flush=True)
        for stage, cmd, _ in stages:
            print(f"    {stage}: {' '.join(cmd)}", flush=True)
        self.name, self.log = name, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.failed: list[str] = []
        self._stopped = False
        self._lock = threading.Lock()  # a stop() and a stage's start: one before the other
        self._thread = threading.Thread(target=self._run, args=(stages,), daemon=True)
        self._thread.start()

    def _run(self, stages: list[tuple[str, list[str], dict[str, str]]]) -> None:
        with self.log.open("wb") as out:
            for name, cmd, env in stages:
                if self._stopped:
                    self.failed.append(name)
                    continue
                out.write(f"\n=== {name}: {' '.join(cmd)}\n".encode())
                out.flush()
                start = time.monotonic()
                try:
                    rc = self._stage(cmd, env, out)
                except Exception as e:  # it could not start: failed, said, and the lane goes on
                    out.write(f"=== {name}: could not run: {type(e).__name__}: {e}\n".encode())
                    rc = -1
                if rc != 0:
                    self.failed.append(name)
                status = "ok" if rc == 0 else f"FAILED (exit {rc})"
                out.write(f"=== {name}: {status} in {time.monotonic() - start:.0f} s\n".encode())
                out.flush()

    def _stage(self, cmd: list[str], env: dict[str, str], out: IO[bytes]) -> int:
        # A session of its own: a Ctrl-C reaches it once, from stop(), not twice (it would cut
        # pytest's teardown of its servers short). The child keeps its own handle of the log.
        with self._lock:
            if self._stopped:
                return -int(signal.SIGINT)
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self.proc.wait()

    def stop(self) -> None:
        """Interrupt the stage that runs, if any (pytest then tears its servers and browser down),
        and start no other."""
        with self._lock:
            self._stopped = True
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._thread.join()

    def wait(self) -> bool:
        waited = time.monotonic()
        self._thread.join()
        end = time.monotonic()
        print(f"\n=== {self.name}: its output", flush=True)
        sys.stdout.buffer.write(self.log.read_bytes())
        status = "ok" if not self.failed else f"FAILED ({', '.join(self.failed)})"
        print(f"=== {self.name}: {status}, waited for {end - waited:.0f} s after the other stages", flush=True)
        return not self.failed


def junit_counts(path: Path) -> tuple[int, int, int]:
    if not path.exists():
        return 0, 1, 0
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    tests = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return tests - failed - skipped, failed, skipped


def js_tests(reports: Path, totals: list[int]) -> bool:
    """The front ends' unit tests (vitest + jsdom), installing js/node_modules on first use."""
    js = ROOT / "js"
    npm = shutil.which("npm")
    if npm is None:
        print("\n=== js tests: FAILED: npm not found (install Node.js >= 20)", flush=True)
        totals[1] += 1
        return False
    # `npm install`, not `npm ci`: npm 11 rejects its own lock file in `ci` over the optional
    # platform packages of rollup; `install` still installs the locked versions.
    install = [npm, "install", "--prefix", str(js), "--no-audit", "--no-fund"]
    if not (js / "node_modules").is_dir() and not run("js deps (npm install)", install):
        totals[1] += 1
        return False
    xml = reports / "junit-js.xml"
    xml.unlink(missing_ok=True)
    reporters = ["--reporter=default", "--reporter=junit", f"--outputFile.junit={xml}"]
    ok = run("js tests", [npm, "test", "--prefix", str(js), "--", *reporters])
    for i, n in enumerate(junit_counts(xml)):
        totals[i] += n
    return ok


def lowest_python() -> str | None:
    """The interpreter of the lowest Python that ``requires-python`` allows (``python3.X``), if installed."""
    match = re.search(r'^requires-python = ">=(3\.\d+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    if match is None:
        raise SystemExit('pyproject.toml: requires-python must read ">=3.X"')
    return shutil.which(f"python{match.group(1)}")


def dependency_environments(log: Path, interrupted: threading.Event) -> tuple[list[tuple[str, str, Path]], bool]:
    """(stage name, tag, python) of the floors and newest environments, built or updated now; and
    False if one could not be built. What it says, and pip's output, go to ``log``; none is built
    once ``interrupted`` is set."""
    pyproject = (ROOT / "pyproject.toml").read_bytes() + " ".join(TEST_TOOLS).encode()
    floors_file = ROOT / "constraints-floors.txt"
    with log.open("w") as out:
        base = lowest_python()
        if base is None:
            print(
                "the lowest Python that pyproject.toml's requires-python allows is not installed: no floors stage",
                file=out,
            )
        wanted = (
            [] if base is None else [("floors", "floors", base, pyproject + floors_file.read_bytes() + base.encode())]
        )
        # Newest: rebuilt each day (and by every fresh clone, as in CI), so new releases come in.
        wanted.append(("newest releases", "newest", sys.executable, pyproject + str(datetime.date.today()).encode()))
        install = {
            "floors": lambda python: pip_install(
                python, "-c", str(floors_file), "-e", ".[jax,sweep]", *TEST_TOOLS, cwd=ROOT, out=out
            ),
            "newest": lambda python: pip_install(
                python, "--upgrade", "-e", ".[jax,sweep]", *TEST_TOOLS, cwd=ROOT, out=out
            ),
        }
        found = []
        ok = base is not None or os.environ.get("CI") != "true"  # CI must run the floors stage
        for what, tag, base_python, spec in wanted:
            if interrupted.is_set():
                return [], False
            start = time.monotonic()
            print(f"=== {tag} environment: build/{tag}-venv", file=out, flush=True)
            try:
                python, built = cached_venv(ROOT / "build" / f"{tag}-venv", spec, install[tag], base_python=base_python)
            except subprocess.CalledProcessError as exc:
                print(f"=== {tag} environment: FAILED ({exc})", file=out, flush=True)
                ok = False
                continue
            done = f"built in {time.monotonic() - start:.0f} s" if built else "up to date"
            print(f"=== {tag} environment: {done}", file=out, flush=True)
            found.append((f"keras tests on the {what} (jax)", tag, python))
    return found, ok


def main(argv: list[str]) -> int:
    ok = True
    sources = ["lrwidgets", "tests", "benchmarks", "scripts"]
    ok &= run("lint", [str(BIN / "ruff"), "check", *sources])
    ok &= run("format", [str(BIN / "ruff"), "format", "--check", *sources])
    ok &= run("types", [str(BIN / "mypy"), "lrwidgets"])
    # The API reference and guides, warnings as errors: a broken reference or a stale name fails.
    # Not `--quiet`: it hides the warnings from MkDocs' count too, and `--strict` then passes them.
    ok &= run("docs", [str(BIN / "mkdocs"), "build", "--strict"], {"NO_MKDOCS_2_WARNING": "1"})
    reports = ROOT / "test-artifacts"
    reports.mkdir(exist_ok=True)
    ok &= pytest_stages(reports, argv, totals := [0, 0, 0])
    ok &= js_tests(reports, totals)
    print(f"\nall checks: {'ok' if ok else 'FAILED'}")
    print(f"{totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 0 if ok else 1


def pytest_stages(reports: Path, argv: list[str], totals: list[int]) -> bool:
    """The pytest stages, their counts added to ``totals``, in two lanes of about the same length:
    the browser suite (it waits on servers and Chromium most of its time) then the Keras tests on
    tensorflow and on torch, beside everything on jax then the Keras and sweep tests again on the
    dependency floors and on the newest releases.
    The floors and newest environments are built during the jax stage."""
    ok = True
    has_torch = importlib.util.find_spec("torch") is not None
    if not has_torch:
        if os.environ.get("CI") == "true":
            print("torch is not installed: CI must test the torch backend (.ci/run installs it)")
            ok = False
        else:
            print(
                "\ntorch is not installed: skipping the torch stage (`.venv/bin/pip install torch==2.13.0` to run it)"
            )
    python = str(BIN / "python")

    def stage(
        name: str, tag: str, stage_python: str, backend: str, marks: list[str]
    ) -> tuple[str, list[str], dict[str, str]]:
        xml = reports / f"junit-{tag}.xml"
        xml.unlink(missing_ok=True)
        return name, [stage_python, "-m", "pytest", *marks, f"--junitxml={xml}", *argv], {"KERAS_BACKEND": backend}

    keras_marks = ["-m", "keras and not ui"]
    tags = ["ui", "tensorflow", "jax"]
    beside = [
        stage("browser suite (jax)", "ui", python, "jax", ["-m", "ui", "tests/ui"]),
        stage("keras tests (tensorflow)", "tensorflow", python, "tensorflow", keras_marks),
    ]
    if has_torch:
        beside.append(stage("keras tests (torch)", "torch", python, "torch", keras_marks))
        tags.append("torch")
    lane = Background("browser suite, tensorflow, torch", beside, reports / "beside.log")
    try:
        log = reports / "environments.log"
        print(f"\n=== floors and newest environments (beside the jax stage, output in {log.relative_to(ROOT)})")
        interrupted = threading.Event()
        with ThreadPoolExecutor(1) as pool:
            building = pool.submit(dependency_environments, log, interrupted)
            try:
                ok &= run(*stage("tests (jax)", "jax", python, "jax", ["-m", "not ui"]))
                environments, built = building.result()
            except BaseException:
                interrupted.set()  # no other build starts (pip, in this process group, had the Ctrl-C too)
                raise
        print(f"\n=== floors and newest environments: their output\n{log.read_text()}", end="", flush=True)
        ok &= built
        for name, tag, venv_python in environments:
            # the Keras tests, and the sweeps on Dask (the sweep extra's floors)
            marks = ["-m", "(keras or sweep) and not ui", "--ignore=tests/ui", "tests"]
            ok &= run(*stage(name, tag, str(venv_python), "jax", marks))
            tags.append(tag)
        ok &= lane.wait()
    except BaseException:
        lane.stop()  # an interrupted run leaves no browser, server or test process behind
        raise
    for tag in tags:
        for i, n in enumerate(junit_counts(reports / f"junit-{tag}.xml")):
            totals[i] += n
    return ok


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
