"""Run every check of lrwidgets: lint, types, tests on jax, tensorflow and torch, the browser suite, JS tests.

Called by ``./dev test`` (and so by ``.ci/run``). Extra arguments go to each pytest run.
The browser suite (``tests/ui``, marker ``ui``) runs once, on jax, as its own stage; the other
stages deselect it.
Stages run in order; the script exits non-zero if any stage fails and prints a summary
line ``N passed, N failed`` over all pytest runs at the end.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(name: str, cmd: list[str], env: dict[str, str] | None = None) -> bool:
    print(f"\n=== {name}: {' '.join(cmd)}", flush=True)
    start = time.monotonic()
    rc = subprocess.call(cmd, cwd=ROOT, env={**os.environ, **(env or {})})
    print(f"=== {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {time.monotonic() - start:.0f} s", flush=True)
    return rc == 0


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


def main(argv: list[str]) -> int:
    ok = True
    sources = ["lrwidgets", "tests", "benchmarks", "scripts"]
    ok &= run("lint", [str(BIN / "ruff"), "check", *sources])
    ok &= run("format", [str(BIN / "ruff"), "format", "--check", *sources])
    ok &= run("types", [str(BIN / "mypy"), "lrwidgets"])
    reports = ROOT / "test-artifacts"
    reports.mkdir(exist_ok=True)
    stages = [
        # Everything on the default backend, then every Keras test again on tensorflow (and torch),
        # then the browser suite (real Chromium and Jupyter servers) on jax.
        ("tests (jax)", "jax", {"KERAS_BACKEND": "jax"}, ["-m", "not ui"]),
        ("keras tests (tensorflow)", "tensorflow", {"KERAS_BACKEND": "tensorflow"}, ["-m", "keras and not ui"]),
    ]
    if importlib.util.find_spec("torch") is not None:
        stages.append(("keras tests (torch)", "torch", {"KERAS_BACKEND": "torch"}, ["-m", "keras and not ui"]))
    elif os.environ.get("CI") == "true":
        print("torch is not installed: CI must test the torch backend (.ci/run installs it)")
        ok = False
    else:
        print("\ntorch is not installed: skipping the torch stage (`.venv/bin/pip install torch==2.13.0` to run it)")
    stages.append(("browser suite (jax)", "ui", {"KERAS_BACKEND": "jax"}, ["-m", "ui", "tests/ui"]))
    totals = [0, 0, 0]
    for name, tag, env, extra in stages:
        xml = reports / f"junit-{tag}.xml"
        xml.unlink(missing_ok=True)
        ok &= run(name, [str(BIN / "python"), "-m", "pytest", *extra, f"--junitxml={xml}", *argv], env)
        for i, n in enumerate(junit_counts(xml)):
            totals[i] += n
    ok &= js_tests(reports, totals)
    print(f"\nall checks: {'ok' if ok else 'FAILED'}")
    print(f"{totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
