"""What a ScheduleDesigner's plateau design is replayed against: a monitored curve the user gives, or
the synthetic loss its controls shape."""

from __future__ import annotations

from typing import Any

import numpy as np

from lrwidgets.schedules import ReduceOnPlateau, Schedule
from lrwidgets.widgets._design import monitored_values, synthetic_loss


class PlateauReplay:
    """The monitored values a plateau design is replayed against, and the rates it gives them.

    :meth:`set` takes a source (a Keras History, its ``.history`` dict, a dashboard or session or their
    history, numbers; None: the synthetic curve) and the key to read (None: the design's ``monitor``,
    read again when the design's changes).
    """

    def __init__(self) -> None:
        self.values: tuple[np.ndarray, np.ndarray] | None = None  # values, and which epochs logged one
        self._replayed: tuple[Any, str | None, str | None] = (None, None, None)  # source, monitor given, key read

    @property
    def given(self) -> bool:
        """Whether a monitored curve was given (else the synthetic one is replayed)."""
        return self.values is not None

    def set(self, source: Any, monitor: str | None, schedule: Schedule | None) -> None:
        """Replay against ``source`` read at ``monitor`` (None: ``schedule``'s own, a plateau's)."""
        key = schedule.monitor if monitor is None and isinstance(schedule, ReduceOnPlateau) else monitor
        self.values = None if source is None else monitored_values(source, key)
        self._replayed = (source, monitor, key)

    def monitored(self, schedule: Schedule | None, epochs: int, view: Any) -> np.ndarray:
        """The monitored value per epoch (NaN where an epoch logged none); the synthetic loss of
        ``view``'s controls when no curve was given."""
        source, given, key = self._replayed
        if (
            self.values is not None
            and given is None
            and isinstance(schedule, ReduceOnPlateau)
            and schedule.monitor != key
        ):
            self.values = monitored_values(source, schedule.monitor)  # the key its fit would watch
            self._replayed = (source, None, schedule.monitor)
        if self.values is not None:
            return self.values[0]
        return synthetic_loss(epochs, view.plateau_at.value, view.noise.value, view.seed.value)

    def rates(self, schedule: ReduceOnPlateau, epochs: int, view: Any) -> np.ndarray:
        """Rate per epoch of ``epochs``; after the end of a shorter monitored curve the last rate holds."""
        values: list[float | None] = self.monitored(schedule, epochs, view)[:epochs].tolist()
        if self.values is not None:  # an epoch that logged no value is skipped, as Keras's callback does
            values = [v if ok else None for v, ok in zip(values, self.values[1].tolist(), strict=False)]
        rates = schedule.simulate(values)
        if len(rates) < epochs:
            rates = np.concatenate([rates, np.full(epochs - len(rates), rates[-1])])
        return rates
