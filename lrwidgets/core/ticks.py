"""Tick values for a logarithmic axis of learning rates: few, distinct and at round numbers.

A plotting library's automatic log ticks either repeat a label (``1e-3`` three times when the
range spans less than a decade and the format has one digit) or crowd the axis (every 0.2e-3).
``log_ticks`` picks round values for any range instead.
"""

from __future__ import annotations

import math

import numpy as np

TOL = 1e-6  # relative: rates drawn are float32, so 1e-3 arrives as 1.00000005e-3
_MANTISSAS = ((1,), (1, 3), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9))


def log_ticks(lo: float, hi: float, max_ticks: int = 6) -> list[float]:
    """Round tick values within ``[lo, hi]`` (positive), at most ``max_ticks`` of them.

    Decades when the range spans several (every k-th decade if there are too many), else
    1-3 or 1-2-5 or 1..9 times a power of ten, else (a range narrower than that) a few evenly
    spaced values rounded to three significant digits.

    Example:
        >>> log_ticks(1e-6, 1.0)
        [1e-06, 0.0001, 0.01, 1.0]
        >>> log_ticks(1e-5, 1e-3)
        [1e-05, 3e-05, 0.0001, 0.0003, 0.001]
        >>> log_ticks(1e-3, 3e-3)
        [0.001, 0.002, 0.003]
        >>> log_ticks(1e-3, 1.05e-3)
        [0.001, 0.00102, 0.00105]
        >>> log_ticks(2.1, 2.3)
        [2.1, 2.2, 2.3]
        >>> log_ticks(2e-3, 2e-3)
        [0.002]
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi < lo:
        return []
    if hi == lo:
        return [_round(lo)]
    e0, e1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    best: list[float] | None = None  # None: too many even at one a decade
    for mantissas in _MANTISSAS:
        ticks = [_round(m * 10.0**e) for e in range(e0, e1 + 1) for m in mantissas]
        ticks = [t for t in ticks if lo * (1 - TOL) <= t <= hi * (1 + TOL)]
        if len(ticks) > max_ticks:
            break
        best = ticks
    if best is None:  # every k-th decade
        decades = [e for e in range(e0, e1 + 1) if lo * (1 - TOL) <= 10.0**e <= hi * (1 + TOL)]
        k = math.ceil(len(decades) / max_ticks)
        return [_round(10.0**e) for e in decades[::k]]
    if len(best) >= 2:
        return best
    # Fewer than two round values within the range (2.1 to 2.3 holds none of them)
    return sorted({_round(float(v)) for v in np.geomspace(lo, hi, min(3, max_ticks))})


def _round(value: float, digits: int = 3) -> float:
    return float(f"{value:.{digits}g}")


def int_ticks(lo: int, hi: int, max_ticks: int = 8) -> list[int]:
    """Distinct integer ticks within ``[lo, hi]``, at most ``max_ticks``, at a step of 1, 2 or 5 x 10^k.

    An axis of epochs formatted as integers repeats labels ("2, 2, 3, 3") when the plotting
    library puts ticks between integers; these never do.

    Example:
        >>> int_ticks(1, 3)
        [1, 2, 3]
        >>> int_ticks(1, 40)
        [5, 10, 15, 20, 25, 30, 35, 40]
    """
    if hi < lo:
        return []
    span = max(hi - lo, 1)
    step = 1
    for k in range(0, 19):
        for m in (1, 2, 5):
            step = m * 10**k
            if span // step + 1 <= max_ticks:
                first = -(-lo // step) * step
                return list(range(first, hi + 1, step))
    return [lo, hi]
