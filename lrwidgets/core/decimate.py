"""Streaming min/max decimation of a growing series.

The browser gets at most ``max_points`` points a line, whatever the length of the run, and
a spike never disappears: the series is cut into equal buckets of consecutive steps and each
bucket keeps the index of its minimum and of its maximum. When the buckets are full their width
doubles and neighbours merge. Appending a value is O(1) amortised and reading the kept indices
is O(max_points), so the cost of a browser update does not grow with the length of the run.
"""

from __future__ import annotations

import numpy as np

from lrwidgets.core.checks import check_int

#: Most points a chart line may ask for: more than a screen shows, few enough to send every time.
MAX_POINTS = 10_000


class MinMaxDecimator:
    """Choose at most ``max_points`` indices of a growing series, keeping minima and maxima.

    Args:
        max_points: upper bound on the number of indices returned by :meth:`indices`
            (at least 8). The last appended index is always among them, so a line drawn
            from them reaches the current step.

    Example:
        >>> d = MinMaxDecimator(max_points=16)
        >>> for v in np.sin(np.arange(10_000) / 100.0):
        ...     d.append(float(v))
        >>> idx = d.indices()
        >>> len(idx) <= 16, int(idx[-1])
        (True, 9999)
    """

    def __init__(self, max_points: int = 1000) -> None:
        # Four arrays of max_points / 2 each are allocated here (10**7: 160 MB; a browser line holds
        # far fewer points: the views allow up to 100,000).
        self.max_points = check_int("max_points", max_points, ge=8, le=10**7)
        # One slot is reserved for the last index; the buckets share the rest, two points each.
        self._capacity = max(2, ((self.max_points - 1) // 2) // 2 * 2)
        self._width = 1
        self._used = 0
        self._n = 0
        self._min_i = np.zeros(self._capacity, dtype=np.int64)
        self._max_i = np.zeros(self._capacity, dtype=np.int64)
        self._min_v = np.zeros(self._capacity, dtype=np.float64)
        self._max_v = np.zeros(self._capacity, dtype=np.float64)

    def __len__(self) -> int:
        """Number of values appended so far."""
        return self._n

    @property
    def bucket_width(self) -> int:
        """Number of consecutive values that share one bucket now."""
        return self._width

    def reset(self) -> None:
        """Forget every value."""
        self._width = 1
        self._used = 0
        self._n = 0

    def append(self, value: float) -> None:
        """Add the next value of the series (NaN and inf are kept out of min/max, not lost)."""
        b = self._n // self._width
        if b >= self._capacity:
            self._merge()
            b = self._n // self._width
        i = self._n
        self._n += 1
        finite = value == value and value not in (float("inf"), float("-inf"))
        if b == self._used:
            self._used += 1
            self._min_i[b] = self._max_i[b] = i
            if finite:
                self._min_v[b] = self._max_v[b] = value
            else:
                self._min_v[b], self._max_v[b] = np.inf, -np.inf
            return
        if finite:
            if value < self._min_v[b]:
                self._min_v[b], self._min_i[b] = value, i
            if value > self._max_v[b]:
                self._max_v[b], self._max_i[b] = value, i

    def extend(self, values: np.ndarray) -> None:
        """Append many values: the same buckets as :meth:`append` one by one, whole buckets at a
        time in numpy (a view's refresh feeds the steps since the last one)."""
        v = np.asarray(values, dtype=np.float64).ravel()
        pos, m = 0, len(v)
        while pos < m:
            if self._n // self._width >= self._capacity:
                self._merge()
                continue
            w = self._width
            head = (-self._n) % w  # values that finish the current bucket (0 at a boundary)
            if head:
                part = v[pos : pos + head]
                for x in part.tolist():
                    self.append(x)
                pos += len(part)
                continue
            b = self._n // w  # == self._used: a new bucket starts here
            chunk = v[pos : pos + (self._capacity - b) * w]
            k = len(chunk)
            nb = -(-k // w)
            padded = np.full(nb * w, np.nan)
            padded[:k] = chunk
            blocks = padded.reshape(nb, w)
            finite = np.isfinite(blocks)  # NaN and inf are kept out of min/max (the padding too)
            lo = np.where(finite, blocks, np.inf)
            hi = np.where(finite, blocks, -np.inf)
            rows = np.arange(nb)
            amin, amax = lo.argmin(axis=1), hi.argmax(axis=1)  # first occurrences, as append keeps
            start = self._n + rows * w
            self._min_i[b : b + nb], self._max_i[b : b + nb] = start + amin, start + amax
            self._min_v[b : b + nb], self._max_v[b : b + nb] = lo[rows, amin], hi[rows, amax]
            self._used = b + nb
            self._n += k
            pos += k

    def _merge(self) -> None:
        half = self._capacity // 2
        lo, hi = slice(0, None, 2), slice(1, None, 2)
        take_hi_min = self._min_v[hi] < self._min_v[lo]
        take_hi_max = self._max_v[hi] > self._max_v[lo]
        self._min_i[:half] = np.where(take_hi_min, self._min_i[hi], self._min_i[lo])
        self._min_v[:half] = np.where(take_hi_min, self._min_v[hi], self._min_v[lo])
        self._max_i[:half] = np.where(take_hi_max, self._max_i[hi], self._max_i[lo])
        self._max_v[:half] = np.where(take_hi_max, self._max_v[hi], self._max_v[lo])
        self._used = half
        self._width *= 2

    def indices(self) -> np.ndarray:
        """Sorted, unique indices to draw: each bucket's minimum and maximum, and the last index."""
        if self._n == 0:
            return np.zeros(0, dtype=np.int64)
        u = self._used
        kept = np.concatenate([self._min_i[:u], self._max_i[:u], [self._n - 1]])
        return np.unique(kept)


def minmax_indices(values: np.ndarray, max_points: int = 1000) -> np.ndarray:
    """Indices of a whole series to draw: each bucket's minimum and maximum, plus both ends.

    The one-shot, vectorized counterpart of :class:`MinMaxDecimator` for a series known in full
    (a planned schedule): O(n) numpy work, at most ``max_points`` sorted unique indices; NaN is
    ignored for the extremes.

    Example:
        >>> y = np.r_[np.ones(50_000), np.full(50_000, 0.1)]
        >>> idx = minmax_indices(y, max_points=100)
        >>> len(idx) <= 100, int(idx[0]), int(idx[-1]), bool((np.diff(y[idx]) != 0).sum() == 1)
        (True, 0, 99999, True)
    """
    if not isinstance(max_points, (int, np.integer)) or isinstance(max_points, bool) or max_points < 8:
        raise ValueError(f"Argument `max_points` must be an integer >= 8. Received: max_points={max_points!r}")
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n <= max_points:
        return np.arange(n)
    buckets = (max_points - 2) // 2
    width = -(-n // buckets)
    blocks = np.concatenate([v, np.full(buckets * width - n, np.nan)]).reshape(buckets, width)
    finite = np.isfinite(blocks)
    start = np.arange(buckets) * width
    lo = np.where(finite, blocks, np.inf).argmin(axis=1)
    hi = np.where(finite, blocks, -np.inf).argmax(axis=1)
    kept = np.concatenate([[0], start + lo, start + hi, [n - 1]])
    return np.unique(np.minimum(kept, n - 1))
