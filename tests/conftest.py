"""Shared test set-up: the Keras backend comes from KERAS_BACKEND (default jax)."""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")


@pytest.fixture(scope="session")
def binder_python() -> Path:
    """The python of the Binder environment (built on first use: minutes; see tests/binder_env.py)."""
    from tests.binder_env import build

    return build()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    """A test that failed on a `TimeoutError` (a fit or a sweep still running after its `wait`):
    every thread's stack at that moment goes into the report, to show where the work stood."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" and call.excinfo is not None and call.excinfo.errisinstance(TimeoutError):
        names = {t.ident: t.name for t in threading.enumerate()}
        stacks = [
            f"--- thread {names.get(ident, ident)}\n{''.join(traceback.format_stack(frame))}"
            for ident, frame in sys._current_frames().items()
        ]
        report.sections.append(("threads at the timeout", "\n".join(stacks)))
