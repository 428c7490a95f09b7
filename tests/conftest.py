"""Shared test set-up: the Keras backend comes from KERAS_BACKEND (default jax)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
