"""Where a fit is, how fast it goes and when it will end, from the recorded step times."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

RATE_WINDOW = 2.0  # seconds of recent steps over which the speed (and so the ETA) is measured


@dataclass(frozen=True)
class Progress:
    """Where a run is, for display: all counts are 0-based except ``epochs`` and ``steps``.

    ``elapsed`` is the wall time of the current fit (of the last one when idle); the speeds are
    measured over its last few seconds.
    """

    state: str
    epoch: int
    epochs: int
    step_in_epoch: int
    steps: int | None
    global_step: int
    steps_per_second: float
    samples_per_second: float | None
    elapsed: float
    eta: float | None
    learning_rate: float
    #: the history step where the current fit (the last one, when idle) began
    fit_first_step: int = 0


class ProgressMeter:
    """The position of a fit (epoch, step) and its speed over the last ``RATE_WINDOW`` seconds.

    Speeds come from the recorded step times, validation included, rather than from the gap
    between two callbacks: on jax, batch-end callbacks arrive in bursts and one gap says little.
    """

    def __init__(self) -> None:
        self.epoch = 0
        self.epochs = 0
        self.step_in_epoch = 0
        self.steps: int | None = None
        self._short_last = False
        self.fit_step = 0  # batches run in this fit (more than the records with steps_per_execution)
        self.first_record = 0
        self.batch_size: int | None = None
        self._span: tuple[float, float | None] | None = None

    def begin_fit(self, epochs: int, steps: int | None, first_record: int, data_ends_epochs: bool = False) -> None:
        """``data_ends_epochs``: each epoch reads the data to its end (no ``steps_per_epoch``), so
        with ``steps_per_execution`` > 1 an epoch's last call may run fewer batches than a full one."""
        self.epochs, self.steps, self.first_record = epochs, steps, first_record
        self._short_last = data_ends_epochs and steps is not None
        self.fit_step = 0
        self._span = (time.perf_counter(), None)

    def end_fit(self) -> None:
        if self._span is not None:
            self._span = (self._span[0], time.perf_counter())

    def begin_epoch(self, epoch: int) -> None:
        self.epoch, self.step_in_epoch = epoch, 0

    def batch_end(self, batch: int) -> int:
        """The number of an epoch's batches run once Keras's ``batch`` has ended: ``batch + 1``, but
        not past the end of data that ends with the epoch (with ``steps_per_execution`` > 1 Keras
        numbers an epoch's short last call as a full one: batch 11 for the 10th and last batch, at
        3 a call). With ``steps_per_epoch`` the data runs on and every call is full: Keras's number."""
        end, steps = batch + 1, self.steps
        return steps if self._short_last and steps is not None and end > steps else end

    def end_batches(self, batches: np.ndarray | list[int]) -> None:
        """Batches ended, in order (Keras's 0-based indices in the epoch); a list is a few, counted in Python."""
        if not len(batches):
            return
        if isinstance(batches, list):
            start, steps = self.step_in_epoch, self.steps if self._short_last else None
            for batch in batches:
                end = int(batch) + 1 if steps is None else min(int(batch) + 1, steps)
                self.fit_step += max(end - start, 1)
                start = end
            self.step_in_epoch = start
            return
        # With steps_per_execution > 1 one call covers several batches; schedules count batches.
        ends = batches.astype(np.int64) + 1
        if self._short_last and self.steps is not None:  # not past the end of the data (see batch_end)
            ends = np.minimum(ends, self.steps)
        self.fit_step += int(np.maximum(ends - np.concatenate(([self.step_in_epoch], ends[:-1])), 1).sum())
        self.step_in_epoch = int(ends[-1])

    def elapsed(self) -> float:
        if self._span is None:
            return 0.0
        start, end = self._span
        return (time.perf_counter() if end is None else end) - start

    def steps_per_second(self, times: np.ndarray) -> float:
        """Batches a second over the last ``RATE_WINDOW`` seconds of ``times`` (the history's step times)."""
        first, n = self.first_record, len(times)
        if n - first < 2:
            return 0.0
        last = float(times[n - 1])
        start = min(first + int(np.searchsorted(times[first:n], last - RATE_WINDOW)), n - 2)
        dt = last - float(times[start])
        if dt <= 0:
            return 0.0
        batches_per_record = self.fit_step / (n - first)  # > 1 with steps_per_execution
        return (n - 1 - start) * batches_per_record / dt

    def snapshot(self, state: str, times: np.ndarray, learning_rate: float) -> Progress:
        rate = self.steps_per_second(times)
        eta = None
        if self.steps and rate > 0 and self.epochs:
            remaining = (self.epochs - self.epoch - 1) * self.steps + (self.steps - self.step_in_epoch)
            eta = max(remaining, 0) / rate
        return Progress(
            state=state,
            epoch=self.epoch,
            epochs=self.epochs,
            step_in_epoch=self.step_in_epoch,
            steps=self.steps,
            global_step=len(times),
            steps_per_second=rate,
            samples_per_second=rate * self.batch_size if self.batch_size else None,
            elapsed=self.elapsed(),
            eta=eta,
            learning_rate=learning_rate,
            fit_first_step=self.first_record,
        )
