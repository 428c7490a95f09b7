"""Argument checks in Keras's error style, shared by every layer of lrwidgets.

Errors read like Keras's: ``Argument `factor` must be < 1. Received: factor=1.5``. A value of the
wrong type raises ``TypeError``, a value out of range ``ValueError``; nothing is clamped. Numbers
too large for a float (``10**400``) are a ``ValueError`` naming the argument, not a bare
``OverflowError``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_TINY = float(np.finfo(np.float32).smallest_subnormal)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: a float step count (a schedule's period) at least this large keeps every int64 step over it
#: finite (the exact bound is 2**63 / the largest float64, 5.13e-290)
MIN_STEP_COUNT = 1e-289


def short_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)``, cut to ``limit`` characters with an ellipsis (an array, a model)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def received(name: str, value: Any) -> str:
    return f"Received: {name}={short_repr(value)}"


def is_real(value: Any) -> bool:
    """A real number (Python's or numpy's), not a bool."""
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))


def _as_float(name: str, value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"Argument `{name}` must be finite. {received(name, value)}") from None


def check_real(name: str, value: Any) -> float:
    """``value`` as a Python float, infinite or NaN included (a state carried over, not a setting), or
    a TypeError."""
    if not is_real(value):
        raise TypeError(f"Argument `{name}` must be a float. {received(name, value)}")
    try:
        return float(value)
    except OverflowError:  # an int beyond float range
        return math.inf if value > 0 else -math.inf


def check_float(
    name: str,
    value: Any,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
) -> float:
    """``value`` as a finite Python float, or a TypeError (not a real number) / ValueError (out of range)."""
    v = check_real(name, value)
    if not math.isfinite(v):
        raise ValueError(f"Argument `{name}` must be finite. {received(name, value)}")
    if gt is not None and not v > gt:
        raise ValueError(f"Argument `{name}` must be > {gt:g}. {received(name, value)}")
    if ge is not None and not v >= ge:
        raise ValueError(f"Argument `{name}` must be >= {ge:g}. {received(name, value)}")
    if lt is not None and not v < lt:
        raise ValueError(f"Argument `{name}` must be < {lt:g}. {received(name, value)}")
    if le is not None and not v <= le:
        raise ValueError(f"Argument `{name}` must be <= {le:g}. {received(name, value)}")
    return v


def check_int(name: str, value: Any, *, ge: int | None = None, le: int | None = None) -> int:
    """``value`` as a Python int (an integral float such as 100.0 is accepted), or a named error.

    Whatever the bounds, the int fits in an int64.
    """
    if not is_real(value):
        raise TypeError(f"Argument `{name}` must be an integer. {received(name, value)}")
    if isinstance(value, (float, np.floating)) and not (math.isfinite(value) and float(value).is_integer()):
        raise ValueError(f"Argument `{name}` must be an integer. {received(name, value)}")
    v = int(value)
    # Counts and steps beyond int64 fit no numpy array and overflow float arithmetic (10**400).
    ge = INT64_MIN if ge is None else max(ge, INT64_MIN)
    le = INT64_MAX if le is None else min(le, INT64_MAX)
    if v < ge:
        raise ValueError(f"Argument `{name}` must be >= {ge:,}. {received(name, value)}")
    if v > le:
        raise ValueError(f"Argument `{name}` must be <= {le:,}. {received(name, value)}")
    return v


def check_steps(name: str, value: Any) -> int | float:
    """A positive step count; ints stay ints and floats stay floats (Keras accepts both). A float
    so small that a step divided by it overflows (``1e-320``: a schedule NaN from step 1) is refused."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return check_int(name, value, ge=1)
    v = check_float(name, value, gt=0)
    if v < MIN_STEP_COUNT:
        raise ValueError(
            f"Argument `{name}` must be >= {MIN_STEP_COUNT:g}: a step count divided by it must be finite."
            f" {received(name, value)}"
        )
    return v


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a bool, or a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"Argument `{name}` must be a bool. {received(name, value)}")
    return bool(value)


def check_name(name: str, value: Any) -> str:
    """A non-empty str (a change's ``source``, recorded with it and shown), or a TypeError."""
    if not isinstance(value, str) or not value:
        raise TypeError(f"Argument `{name}` must be a non-empty str. {received(name, value)}")
    return value


def check_keyed(name: str, value: Any, keys: str = "layer names or patterns") -> dict[str, Any]:
    """``value`` as a dict whose keys are non-empty strs (``keys`` says what they name), or a TypeError.

    The values are the caller's to check (each against its own range)."""
    if not isinstance(value, Mapping):
        raise TypeError(f"Argument `{name}` must be a dict mapping {keys} to numbers. {received(name, value)}")
    if not all(isinstance(k, str) and k for k in value):
        raise TypeError(f"Argument `{name}` must have non-empty string keys ({keys}). {received(name, value)}")
    return dict(value)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices`` (compared by equality, never hashed), else a ValueError."""
    options = tuple(choices)
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or value not in options:
        raise ValueError(f"Argument `{name}` must be one of {options}. {received(name, value)}")
    return value


def rounds_to_zero(value: float) -> bool:
    """Whether a positive ``value`` becomes 0 held as float32 (``1e-45`` does not: it is held as
    float32's smallest, 1.4e-45)."""
    return value > 0 and float(np.float32(value)) == 0


def check_rate(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """A learning rate (or a multiplier) as the float32 value the optimizer will hold.

    It must be a finite number > 0 (>= 0 with ``allow_zero``, for a frozen phase) that stays
    finite and, unless zero is allowed, non-zero once rounded to float32: ``1e39`` (inf in
    float32) and ``1e-50`` (0 in float32) are refused, not written.
    """
    if not is_real(value):
        raise TypeError(f"Argument `{name}` must be a number. {received(name, value)}")
    v = _as_float(name, value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        kind = "a finite number >= 0" if allow_zero else "a positive finite number"
        raise ValueError(f"Argument `{name}` must be {kind}. {received(name, value)}")
    if v > FLOAT32_MAX:
        raise ValueError(
            f"Argument `{name}` must be at most {FLOAT32_MAX:.4g}: the optimizer holds it as a float32."
            f" {received(name, value)}"
        )
    if rounds_to_zero(v):
        least = f"0 or at least {FLOAT32_TINY:.3g}" if allow_zero else f"at least {FLOAT32_TINY:.3g}"
        raise ValueError(
            f"Argument `{name}` must be {least} in float32: this value rounds to 0. {received(name, value)}"
        )
    return v
