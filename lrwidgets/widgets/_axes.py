"""Axis ticks that never repeat a label: round values on log axes, integers on count axes.

bqplot's automatic ticks on a log scale give every 1..9 x 10^k (labels crowd and, with a short
format, repeat: "0.01, 0.01"); on a linear axis of epochs they fall between integers, which an
integer format shows as "2, 2, 3, 3". These set ``Axis.tick_values`` from the values drawn
(``core/ticks.py``), and send them only when they change.
"""

from __future__ import annotations

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
