"""The per-batch path's raw rows written as history steps: each batch's true loss, recovered from Keras's
running mean, its rate and its time.

A row is ``(batch, monitored value or None, rate, clock)``, appended by the session's callback at each
batch's end. A few rows (an epoch's of a small dataset, written at the next epoch's start) are written in
plain Python, many (a round's in a long epoch) in numpy: the same values bit for bit
(``tests/test_core.py``), each the cheaper where it is used (``benchmarks/RESULTS.md``, "Fits of short
epochs").
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from lrwidgets.core.batch_loss import FEW, BatchLossRecovery

Row = tuple[int, float | None, float, float]


def as_array(rows: list[Row], k: int) -> np.ndarray:
    """The first ``k`` raw rows as a ``(k, 4)`` float64 array, read as one flat run of numbers (``np.fromiter``:
    ~0.6x the time of ``np.array`` on the tuples); None (a step that logged none) is NaN, as ``np.array`` makes it."""
    return np.fromiter(itertools.chain.from_iterable(itertools.islice(rows, k)), np.float64, 4 * k).reshape(k, 4)


def written(
    rows: list[Row], k: int, recovery: BatchLossRecovery, floor: float | None, t0: float
) -> tuple[np.ndarray, list[int] | np.ndarray]:
    """The first ``k`` rows as history steps, a ``(k, 3)`` float64 array of ``(loss, rate, time - t0)``
    (a loss below ``floor``, float32 rounding in Keras's running mean, is ``floor``), and their batch numbers.

    Example:
        >>> recovery = BatchLossRecovery()
        >>> steps, batches = written([(0, 4.0, 1e-3, 10.0), (1, 3.0, 1e-3, 10.5)], 2, recovery, 0.0, 10.0)
        >>> steps.tolist(), batches
        ([[4.0, 0.001, 0.0], [2.0, 0.001, 0.5]], [0, 1])
    """
    if k <= FEW:
        taken = rows[:k]
        batches = [row[0] for row in taken]
        losses = recovery.update_few(batches, [math.nan if row[1] is None else row[1] for row in taken])
        if floor is not None:
            losses = [floor if loss < floor and math.isfinite(loss) else loss for loss in losses]
        steps = [(loss, row[2], row[3] - t0) for loss, row in zip(losses, taken, strict=True)]
        return np.array(steps, np.float64).reshape(k, 3), batches
    numbers, values, rates, times = as_array(rows, k).T
    with np.errstate(over="ignore", invalid="ignore"):  # a runaway loss is inf, silently
        losses_array = recovery.update_many(numbers, values)
        if floor is not None:
            losses_array[(losses_array < floor) & np.isfinite(losses_array)] = floor
    return np.column_stack((losses_array, rates, times - t0)), numbers
