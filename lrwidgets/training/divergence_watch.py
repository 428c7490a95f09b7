"""The session's ``diverging`` event: the one divergence rule run over a session's recorded steps."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from lrwidgets.core import TrainingHistory
from lrwidgets.core.detectors import DivergingDetector
from lrwidgets.core.diagnosis import starts_where_it_ended
from lrwidgets.training import _state
from lrwidgets.training.fit_traits import num_classes_of


class DivergenceWatch:
    """:class:`~lrwidgets.core.detectors.DivergingDetector` over the steps of ``history``, a fit at
    a time, off the per-batch path: ``tell(message, step)`` at each ``diverging`` verdict.

    A fit from fresh weights starts far above the best of the last one, which is no divergence: it
    is judged against its own best. One that starts where the last ended continues the last fit's
    watch (decided at its first row, in :meth:`scan`), as the Diagnostician's does: a rate raised
    between two fits is judged against what the model had reached. The gap stays a share of the
    session's first loss (its untrained model's), and for a classifier at least what its small
    batches' noise lifts the smoothed loss by (:meth:`use_batches`).
    """

    def __init__(self, history: TrainingHistory, factor: float, tell: Callable[[str, int], None]) -> None:
        self.history, self.factor, self._tell = history, factor, tell
        self.rule: DivergingDetector | None = None  # this fit's
        self._last_fit: DivergingDetector | None = None  # the last fit's, until this fit's first row
        self._scanned = 0  # steps up to here have been through the watch
        #: a classifier's rows' samples this fit (None: not known, or no classifier): the Diagnostician's
        #: ``diverging`` reads it too, one reading of the model for both
        self.samples: int | None = None
        self._lock = threading.Lock()

    def use_batches(self, size: int | None, model: Any) -> None:
        """The next fit's batch size (None: not known) and ``model`` as compiled for it: a classifier's rows' size."""
        samples = size * _state.batches_per_row(model) if size and num_classes_of(model) else None
        with self._lock:
            self.samples = samples

    def begin_fit(self) -> None:
        with self._lock:
            previous, self.rule = self.rule, DivergingDetector(self.factor)
            if previous is not None:
                self.rule.monitor.initial = previous.monitor.initial
            self._last_fit = previous
            self._scanned = self.history.num_steps

    def scan(self) -> None:
        """Run the watch over the steps recorded since its last look.

        Called at the listeners' pace (every ``update_interval`` while training), at a NaN and at
        the fit's end: a ``diverging`` event names the step where the rule held, recorded that
        much later. Locked: a change made just as a fit ends or starts may notify from another
        thread.
        """
        with self._lock:
            n = self.history.num_steps
            first, self._scanned = self._scanned, n
            if self.rule is None or n <= first:
                return
            losses = self.history.column("loss", n)[first:]
            rates = self.history.column("learning_rate", n)[first:]
            last, self._last_fit = self._last_fit, None
            if last is not None and starts_where_it_ended(float(losses[0]), last.monitor.smoothed, self.factor):
                self.rule = last  # this fit's first row: it starts where the last fit ended
            self.rule.use_samples(self.samples)
            for verdict in self.rule.scan(first, losses, rates):
                self._tell(verdict.message, verdict.last_step)
