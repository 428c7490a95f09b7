"""Shared test set-up: the Keras backend comes from KERAS_BACKEND (default jax)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")


@pytest.fixture(scope="session")
def binder_python() -> Path:
    """The python of the Binder environment (built on first use: minutes; see tests/binder_env.py)."""
    from tests.binder_env import build

    return build()
