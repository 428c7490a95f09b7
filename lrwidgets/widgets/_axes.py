"""Axis ticks that never repeat a label: round values on log axes, integers on count axes, and on
linear axes a format with the decimals their step needs.

bqplot's automatic ticks on a log scale give every 1..9 x 10^k (labels crowd and, with a short
format, repeat: "0.01, 0.01"); on a linear axis of epochs they fall between integers, which an
integer format shows as "2, 2, 3, 3". These set ``Axis.tick_values`` from the values drawn
(``core/ticks.py``), and send them only when they change.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lrwidgets.core.ticks import int_ticks, log_ticks

#: Margins of the kit's figures (px): room for tick labels and the axis label on the left, for the
#: last tick label of the x axis on the right ("900" centred on the right edge), none for a title
#: (the title is the first word of the legend row above the figure).
FIG_MARGIN = {"top": 12, "bottom": 40, "left": 76, "right": 32}
#: Distance of a left axis' label from the axis line: beyond its tick labels ("2.5e-3", "0.003" and
#: their tick: ~50 px). bqplot's default, 4ex (~28 px), puts the label over them.
Y_LABEL_OFFSET = "56px"


def set_log_ticks(axis: Any, *arrays: Any) -> None:
    """Round, distinct ticks over the finite positive values of ``arrays`` on a log ``axis``."""
    values = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays]) if arrays else np.zeros(0)
    values = values[np.isfinite(values) & (values > 0)]
    ticks = log_ticks(float(values.min()), float(values.max())) if len(values) else []
    _set(axis, [float(t) for t in ticks])


def set_int_ticks(axis: Any, lo: int, hi: int) -> None:
    """Integer ticks from ``lo`` to ``hi``, each label once."""
    _set(axis, [float(t) for t in int_ticks(lo, hi)])


def _set(axis: Any, ticks: list[float]) -> None:
    current = axis.tick_values
    if current is None or [float(t) for t in np.asarray(current).ravel()] != ticks:
        axis.tick_values = np.array(ticks, dtype=np.float64)


def linear_ticks(lo: float, hi: float, max_ticks: int = 8) -> tuple[list[float], str]:
    """Round ticks within ``[lo, hi]`` at a step of 1, 2 or 5 x 10^k, and a d3 format with just
    the decimals that step needs, so that no two labels read the same (".3~g" showed a metric
    between 0.0980 and 0.1012 as "0.101, 0.101").

    Example:
        >>> linear_ticks(0.098, 0.1012)
        ([0.098, 0.0985, 0.099, 0.0995, 0.1, 0.1005, 0.101], '.4f')
        >>> linear_ticks(0.45, 1.0)
        ([0.5, 0.6, 0.7, 0.8, 0.9, 1.0], '.1f')
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        return [], ".3~g"
    if hi == lo:
        return [lo], ".3~g"
    exponent = math.floor(math.log10((hi - lo) / max_ticks))
    for k in (exponent, exponent + 1, exponent + 2):
        for m in (1, 2, 5):
            step = m * 10.0**k
            first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
            if last - first + 1 <= max_ticks:
                decimals = max(0, -k)
                ticks = [round(i * step, decimals + 1) for i in range(first, last + 1)]
                return ticks, f".{decimals}f" if decimals <= 6 else "~e"  # 1e-9, not 0.000000001
    return [lo, hi], ".3~g"


def set_linear_ticks(axis: Any, *arrays: Any) -> None:
    """``linear_ticks`` over the finite values of ``arrays``, and the format that keeps them distinct."""
    values = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays]) if arrays else np.zeros(0)
    values = values[np.isfinite(values)]
    if not len(values):
        return
    ticks, tick_format = linear_ticks(float(values.min()), float(values.max()))
    with axis.hold_sync():  # one message: the page formats the new ticks with the new format
        if axis.tick_format != tick_format:
            axis.tick_format = tick_format
        _set(axis, ticks)
