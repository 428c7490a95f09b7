"""Recover each batch's own loss from the running epoch mean that Keras reports.

Keras's ``logs["loss"]`` at batch end is the mean over the epoch so far, weighted by batch
size: ``m_k = (n_1*l_1 + ... + n_k*l_k) / (n_1 + ... + n_k)``. So batch ``k`` had
``l_k = (N_k*m_k - N_{k-1}*m_{k-1}) / n_k`` with ``N_k`` the samples seen so far. With equal
batches this is ``k*m_k - (k-1)*m_{k-1}``. Keras's sum is float32: the recovered value carries
an absolute error near ``N_k * 6e-8 * m_k``, far below batch-to-batch noise for epochs of a few
thousand batches.

A custom ``train_step`` may instead return each batch's own value (keras.io's GAN examples do,
with no ``keras.metrics.Mean`` tracker): ``per_batch=True`` takes the values as they are. A
series said to be a running mean of values that cannot be negative (``floor=0.0``) is checked:
one whose recovered loss falls below the floor by more than ``TOLERANCE`` x the mean (far beyond
float32 rounding) is no running mean, and is taken as per-batch from that row on
(:attr:`switched` is then True).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lrwidgets.core.checks import FLOAT32_TINY, check_int

#: how far below ``floor`` (a fraction of the running mean) a recovered loss may fall from
#: float32 rounding alone (the error is near ``k * 1.2e-7`` of the mean at batch ``k``)
TOLERANCE = 0.05
#: rows up to which they are recovered in plain Python (:meth:`BatchLossRecovery.update_few`): numpy's
#: ~20 calls cost ~19 us on 6 rows, the loop ~3 (benchmarks/RESULTS.md, "Fits of short epochs")
FEW = 16


class BatchLossRecovery:
    """Turn Keras's running epoch mean into per-batch losses.

    Args:
        batch_size: samples in a full batch, if known (then a short last batch is weighted right).
        samples_per_epoch: training samples in one epoch, if known (gives the last batch's size).
        per_batch: the values are each batch's own, not a running mean: taken as they are.
        floor: a value no batch's loss can be below (0.0 for a loss that cannot be negative), if
            known: a recovered loss far below it shows the values are per-batch.

    Example:
        >>> r = BatchLossRecovery()
        >>> r.start_epoch()
        >>> [r.update(0, 4.0), r.update(1, 3.0), r.update(2, 3.0)]
        [4.0, 2.0, 3.0]
        >>> r.update_many(np.array([3.0, 4.0, 5.0]), np.array([2.5, np.nan, 2.0])).tolist()
        [1.0, nan, 1.0]
    """

    __slots__ = ("_prev_samples", "_prev_total", "batch_size", "floor", "per_batch", "samples_per_epoch", "switched")

    def __init__(
        self,
        batch_size: int | None = None,
        samples_per_epoch: int | None = None,
        per_batch: bool = False,
        floor: float | None = None,
    ) -> None:
        self.batch_size = None if batch_size is None else check_int("batch_size", batch_size, ge=1)
        self.samples_per_epoch = (
            None if samples_per_epoch is None else check_int("samples_per_epoch", samples_per_epoch, ge=1)
        )
        self.per_batch = bool(per_batch)
        self.floor = floor
        self.switched = False  #: found per-batch by the floor check (see the module's docstring)
        self.start_epoch()

    def weigh(self, batch_size: int | None, samples_per_epoch: int | None, exact: bool) -> None:
        """A fit's sizes: a short last batch weighed by them when ``exact`` (its batches known before
        it runs, its step logging Keras's mean over samples); else each batch weighs the same. Set in
        the training thread as a fit begins: a size below 1 (no data) is taken as not known, not refused."""
        size = int(batch_size) if exact and batch_size is not None and batch_size >= 1 else None
        samples = int(samples_per_epoch) if size and samples_per_epoch is not None and samples_per_epoch >= 1 else None
        self.batch_size, self.samples_per_epoch = size, samples

    def start_epoch(self) -> None:
        self._prev_total = 0.0
        self._prev_samples = 0.0

    def update(self, batch: int, running_mean: float) -> float:
        """Loss of the batches since the last call, given the running mean after ``batch``.

        ``batch`` is Keras's 0-based batch index within the epoch (the ``end_step`` of the call,
        so with ``steps_per_execution > 1`` the value is the mean of the batches run together).
        """
        return float(self.update_many(np.array([batch], np.float64), np.array([running_mean], np.float64))[0])

    def update_many(self, batches: np.ndarray, running_means: np.ndarray) -> np.ndarray:
        """:meth:`update` for many calls in order, in numpy (a fit's rows are recovered in bulk).

        A NaN running mean is a batch with no value: its loss is NaN and it leaves the sums as
        they are (a real NaN loss ends the fit).
        """
        if len(running_means) <= FEW:
            return np.array(
                self.update_few(np.asarray(batches).tolist(), np.asarray(running_means).tolist()), np.float64
            )
        return self._update_array(batches, running_means)

    def update_few(self, batches: Sequence[float], running_means: Sequence[float]) -> list[float]:
        """:meth:`update_many` in plain Python, for a few rows (an epoch's of a small dataset, where
        numpy's calls cost more than the arithmetic): the same operations in the same order, the same
        values bit for bit."""
        if self.per_batch:
            return [float(m) for m in running_means]
        size, epoch, floor = self.batch_size, self.samples_per_epoch, self.floor
        prev_total, prev_samples = self._prev_total, self._prev_samples
        out: list[float] = []
        for batch, value in zip(batches, running_means, strict=True):
            mean = float(value)
            if mean != mean:  # no value: NaN, the sums as they are
                out.append(mean)
                continue
            samples = float(batch) + 1.0
            if size is not None:
                samples = samples * size
                if epoch is not None:
                    samples = min(samples, float(epoch))
            total = samples * mean
            delta = samples - prev_samples
            loss = (total - prev_total) / delta if delta > 0 else mean
            if self.per_batch:  # switched at an earlier row of this call
                loss = mean
            elif floor is not None and loss < floor - TOLERANCE * abs(mean) - samples * FLOAT32_TINY:
                self.per_batch = self.switched = True
                loss = mean
            out.append(loss)
            prev_total, prev_samples = total, samples
        self._prev_total, self._prev_samples = prev_total, prev_samples
        return out

    def _update_array(self, batches: np.ndarray, running_means: np.ndarray) -> np.ndarray:
        if self.per_batch:
            return np.array(running_means, np.float64)
        valid = ~np.isnan(running_means)
        means = running_means[valid]
        samples = batches[valid] + 1.0  # the samples seen after each batch
        size = self.batch_size
        if size is not None:
            samples = samples * size
            if self.samples_per_epoch is not None:
                samples = np.minimum(samples, float(self.samples_per_epoch))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a runaway loss is inf
            total = samples * means
            prev_total = np.concatenate(([self._prev_total], total[:-1]))
            delta = samples - np.concatenate(([self._prev_samples], samples[:-1]))
            losses = np.where(delta > 0, (total - prev_total) / np.where(delta > 0, delta, 1.0), means)
            if self.floor is not None:
                # (plus float32's spacing at its smallest, per sample: a running mean that underflows
                # to 0 from a subnormal one takes its batch below 0 by rounding alone)
                below = np.flatnonzero(losses < self.floor - TOLERANCE * np.abs(means) - samples * FLOAT32_TINY)
                if len(below):  # no running mean: per-batch values, from this row on
                    self.per_batch = self.switched = True
                    losses[below[0] :] = means[below[0] :]
        if len(means):
            self._prev_total, self._prev_samples = float(total[-1]), float(samples[-1])
        out = np.full(len(running_means), np.nan)
        out[valid] = losses
        return out
