"""What the learning rate of each step should be: schedule x live factor x plateau reductions.

Pure arithmetic, no Keras: the training layer asks :class:`RateDriver` for the rate before each
batch and tells it what happened (a live change, another callback's change, an epoch's logs);
the driver answers in O(1) a step and keeps the planned curve of the fit, drawable in
O(max_points) whatever the fit's length.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrwidgets.schedules import Constant
from lrwidgets.schedules.plateau import check_monitor
from lrwidgets.schedules.table import ScheduleTable, rates

Schedule = Callable[[Any], Any]


@dataclass(frozen=True)
class PlateauStep:
    """What one epoch end did to the rate: ``factor`` (1.0: nothing), or a ``warning`` to show once."""

    factor: float = 1.0
    monitor: str = ""
    warning: str | None = None


class RateDriver:
    """The rate of every step of a fit: ``schedule(step) * factor``, the factor moved by live changes.

    ``factor`` starts at 1 with each schedule; a live change to ``lr`` at step ``s`` sets it to
    ``lr / schedule(s)``, a change by another callback and a plateau reduction multiply it. With
    no schedule, :meth:`rate` is None: the rate stays wherever it was set.

    Args:
        schedule: a callable on a step (an ``lrwidgets.schedules`` object, or any function), or None.
        plateau: an ``lrwidgets.schedules.ReduceOnPlateau`` whose reductions multiply the factor.
        learning_rate: the rate now, for a plateau given without a schedule (a constant to reduce).

    Example:
        >>> from lrwidgets.schedules import ExponentialDecay
        >>> d = RateDriver(ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5))
        >>> d.rate(2), d.set_rate(2, 1.0), round(d.rate(3), 12)     # a live change: the rest x4
        (0.25, True, 0.5)
    """

    def __init__(self, schedule: Schedule | None = None, plateau: Any = None, learning_rate: float = 1.0) -> None:
        if schedule is not None and not callable(schedule):
            raise TypeError(f"Argument `schedule` must be callable on a step. Received: schedule={schedule!r}")
        if plateau is None and hasattr(schedule, "tracker"):
            plateau = schedule
        if plateau is not None and not hasattr(plateau, "tracker"):
            raise TypeError(
                f"Argument `plateau` must be an lrwidgets.schedules.ReduceOnPlateau. Received: plateau={plateau!r}"
            )
        self._constant: Schedule | None = None  # made here, for a plateau given without a schedule
        if plateau is not None and schedule is None:
            schedule = self._constant = Constant(learning_rate)  # a constant rate for the reductions to act on
        self.schedule = schedule
        self.factor = 1.0
        self._table = None if schedule is None else ScheduleTable(schedule)
        self._tracker = None if plateau is None else plateau.tracker()
        # An object pickled before `monitor` existed has none: the default of its mode.
        self._monitor = (
            "val_loss" if plateau is None else check_monitor(getattr(plateau, "monitor", None), plateau.mode)
        )
        self._warned = False
        #: when this fit validates: Keras's ``validation_freq`` (every n epochs, or a list of 1-based
        #: epochs), set by the session, which knows its arguments; None: unknown, or no validation
        self.validation_freq: int | list[int] | None = None
        # The planned curve: (first step, schedule) pieces; an edit during the fit adds one.
        self._starts: list[int] = [0]
        self._pieces: list[Schedule | None] = [schedule]

    @property
    def active(self) -> bool:
        """True when a schedule drives the rate (else it stays where it is set)."""
        return self._table is not None

    def rate(self, step: int) -> float | None:
        """The rate for ``step`` (0-based in the fit), or None without a schedule. O(1) a step."""
        table = self._table
        if table is None:
            return None
        return table(step) * self.factor

    def check_start(self) -> None:
        """Evaluate step 0 now, so that a schedule that fails at once fails before the fit starts."""
        if self._table is not None:
            self._table(0)

    def set_rate(self, step: int, learning_rate: float) -> bool:
        """A live change: ``learning_rate`` from ``step`` on, the rest of the schedule scaled to match.

        False (and nothing changes) where the schedule's rate is 0: a frozen phase cannot be scaled.
        """
        if self._table is not None:
            base = self._table(step)
            if base <= 0:
                return False
            self.factor = learning_rate / base
        return True

    @property
    def has_plateau(self) -> bool:
        """Whether a plateau's reductions act on the rate."""
        return self._tracker is not None

    def describe(self, plateau: bool = True) -> str:
        """What drives the rate, in words: the schedule's class, and the plateau's reductions (not
        with ``plateau=False``: the schedule alone).

        Example:
            >>> from lrwidgets.schedules import ReduceOnPlateau
            >>> d = RateDriver(None, ReduceOnPlateau(0.1), learning_rate=0.01)
            >>> d.describe(), d.describe(plateau=False)
            ('ReduceOnPlateau reductions of a constant rate', 'a constant rate')
        """
        schedule = self.schedule
        if schedule is None:
            return "no schedule"
        constant = schedule is self._constant or hasattr(schedule, "tracker")  # a plateau's rate as set
        if not plateau or self._tracker is None:
            return "a constant rate" if constant else type(schedule).__name__
        if hasattr(schedule, "tracker"):
            return type(schedule).__name__
        if schedule is self._constant:
            return "ReduceOnPlateau reductions of a constant rate"
        return f"{type(schedule).__name__} with ReduceOnPlateau reductions"

    def frozen(self, step: int) -> bool:
        """Whether the schedule holds the rate at 0 at ``step`` (a live change cannot act there).

        Calls the schedule itself (any thread; the table is the training thread's): a schedule that
        fails at ``step`` is not frozen (the fit reports its failure)."""
        schedule = self.schedule
        if schedule is None:
            return False
        try:
            return float(schedule(step)) == 0.0
        except Exception:
            return False

    def scale(self, factor: float) -> None:
        """Another callback multiplied the rate by ``factor``: the rest of the schedule follows."""
        if self._table is not None and math.isfinite(factor) and factor > 0:
            self.factor *= factor

    def replace(self, step: int, schedule: Schedule) -> float:
        """Follow ``schedule`` as designed from ``step`` on (live factors dropped); returns its rate there."""
        if not callable(schedule):
            raise TypeError(f"Argument `schedule` must be callable on a step. Received: schedule={schedule!r}")
        table = ScheduleTable(schedule)
        first = table(step)  # fails here, before anything changes, if the schedule fails there
        self.schedule, self._table, self.factor = schedule, table, 1.0
        while self._starts and self._starts[-1] >= step:
            self._starts.pop()
            self._pieces.pop()
        self._starts.append(step)
        self._pieces.append(schedule)
        return first

    def end_epoch(self, logs: dict[str, Any], learning_rate: float, epoch: int | None = None) -> PlateauStep:
        """Feed an epoch's logs to the plateau tracker; a reduction multiplies the factor. An epoch
        that does not validate (``validation_freq``) is skipped on a ``val_`` key, as Keras skips it."""
        tracker = self._tracker
        if tracker is None:
            return PlateauStep()
        key = self._monitor
        warning = None
        if key not in logs and key.startswith("val_") and epoch is not None and not self._validates(epoch):
            return PlateauStep(monitor=key)
        if key not in logs and key.startswith("val_") and key[4:] in logs:
            warning = f"reduce-on-plateau watches `{key[4:]}`: this fit has no validation data"
            key = key[4:]
        if key not in logs:
            return self._warn_once(f"reduce-on-plateau cannot watch `{key}`: it is not in the logs", key)
        tracker.update(float(logs[key]), learning_rate=learning_rate)
        self.factor *= tracker.last_factor
        step = PlateauStep(factor=tracker.last_factor, monitor=key)
        return self._warn_once(warning, key, step) if warning else step

    def _validates(self, epoch: int) -> bool:
        """Whether Keras validates at the end of ``epoch`` (its ``_should_eval``); True when unknown."""
        freq = self.validation_freq
        if isinstance(freq, int) and freq > 0:
            return (epoch + 1) % freq == 0
        if isinstance(freq, list):
            return epoch + 1 in freq
        return True

    def _warn_once(self, warning: str, key: str, step: PlateauStep | None = None) -> PlateauStep:
        base = step or PlateauStep(monitor=key)
        if self._warned:
            return base
        self._warned = True
        return PlateauStep(factor=base.factor, monitor=key, warning=warning)

    def plan(self, total_steps: int, max_points: int) -> tuple[np.ndarray, np.ndarray]:
        """The planned rate at no more than ``max_points`` steps of a ``total_steps``-step fit.

        Returns ``(steps, rates)`` (int64, float32): every step when the fit is short, else
        evenly spaced steps plus each piece's first step; O(max_points) whatever ``total_steps``.
        """
        if self.schedule is None or total_steps <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if total_steps <= max_points:
            steps = np.arange(total_steps, dtype=np.int64)
        else:
            grid = np.linspace(0, total_steps - 1, max_points).round().astype(np.int64)
            starts = np.array([s for s in self._starts if s < total_steps], dtype=np.int64)
            steps = np.unique(np.concatenate([grid, starts]))
        values = np.empty(len(steps), np.float64)
        bounds = [*self._starts[1:], total_steps]
        lo = 0
        for i, schedule in enumerate(self._pieces):
            hi = bisect.bisect_left(steps.tolist(), bounds[i], lo) if i + 1 < len(self._pieces) else len(steps)
            if schedule is not None and hi > lo:
                values[lo:hi] = rates(schedule, steps[lo:hi])
            lo = hi
        return steps, values.astype(np.float32)
