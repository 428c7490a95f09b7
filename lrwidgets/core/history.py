"""Full-resolution record of a training run, kept in the kernel.

Per step: the true batch loss, the learning rate in effect and the wall time, as float32
columns (12 bytes a step; the epoch of a step is derived from the epoch boundaries). Per
epoch: every value Keras logs (loss, metrics, ``val_*``, ``learning_rate``). Events: every
live change and incident (learning-rate changes with their cause, pause, stop, NaN, errors).

The training thread appends; any other thread may read at any time: columns grow by
reallocation, so a reader that has taken a view keeps a consistent prefix. A writer that buffers
its rows (a fit's per-batch path appends a tuple, no more) sets :attr:`TrainingHistory.drain`:
every read writes the buffered rows first, so readers always see every step.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from lrwidgets.core.checks import check_int

STEP_COLUMNS = ("loss", "learning_rate", "time")


class Float32Column:
    """A float32 array that grows by doubling (O(1) amortised append); ``view()`` is the filled prefix."""

    def __init__(self, capacity: int = 1024) -> None:
        self._data = np.empty(capacity, dtype=np.float32)
        self._n = 0

    def append(self, value: float) -> None:
        if self._n == len(self._data):
            grown = np.empty(2 * len(self._data), dtype=np.float32)
            grown[: self._n] = self._data
            self._data = grown
        self._data[self._n] = value
        self._n += 1

    def view(self, n: int | None = None) -> np.ndarray:
        data, filled = self._data, self._n
        return data[: filled if n is None else min(n, filled)]

    @property
    def nbytes(self) -> int:
        return int(self._data.nbytes)


@dataclass(frozen=True)
class Event:
    """Something that happened at a step. ``kind`` is one of:

    - ``learning_rate``: the rate changed (``value`` is the new rate); ``source`` says who changed
      it: ``user`` (the default of ``set_learning_rate``), ``designer`` (a schedule edit, the
      default of ``replace_schedule``), ``finder``, ``sweep``, ``diagnosis`` (a verdict's fix
      applied), ``on_diverge``, ``plateau`` (a ``ReduceOnPlateau`` reduction), ``callback``
      (another callback changed it), ``compile`` (the model was re-compiled), or the ``source``
      a caller passed;
    - ``pause``, ``resume``, ``stop``;
    - ``nan`` (a non-finite loss stopped the fit), ``restore`` (weights put back after it),
      ``diverging`` (the divergence rule's flag);
    - ``diagnosis``: a :class:`~lrwidgets.core.verdicts.Diagnosis`; ``source`` is its kind;
    - ``action``: another change made through the controller, such as per-layer rates or a stop
      by a verdict's fix; ``message`` says which;
    - ``info``: a note on how the fit is recorded (a short last batch's loss is approximate);
    - ``warning``, ``error``."""

    step: int
    epoch: int
    kind: str
    message: str
    value: float | None = None
    source: str | None = None
    time: float = field(default=0.0)
    #: the fit it happened in or after (0 for the first; as the ``fit`` column of the exports)
    fit: int = 0


class EpochLogs(dict[str, list[float]]):
    """:attr:`TrainingHistory.epoch_logs`: Keras's ``History.history`` form, every list one value an
    epoch, with NaN where an epoch logged no value (Keras's own lists leave such epochs out)."""


class TrainingHistory:
    """Per-step, per-epoch and event records of one or more consecutive fits.

    Steps are counted globally from 0 across epochs and across fits made with the same
    dashboard, so a second ``fit`` continues the curves. The exports number the fits in a
    ``fit`` column (0 for the first), since each fit counts its epochs from its own start.

    Example:
        >>> h = TrainingHistory()
        >>> h.start_epoch(0)
        >>> for loss in (2.0, 1.5, 1.2):
        ...     _ = h.record_step(loss=loss, learning_rate=1e-3, time=0.1)
        >>> h.record_epoch(0, {"loss": 1.57, "val_loss": 1.4})
        >>> h.num_steps, h.epochs[-1]["val_loss"]
        (3, 1.4)
    """

    def __init__(self) -> None:
        # One float32 row per step (loss, learning rate, time): 12 bytes, grown by doubling.
        # Readers take the count first and the array second, so the array they hold has at least
        # that many rows filled.
        self._steps = np.empty((1024, len(STEP_COLUMNS)), dtype=np.float32)
        self._n = 0
        self._epoch_first_step: list[int] = []
        self._epoch_numbers: list[int] = []
        self._fit_first_step: list[int] = []
        self._epoch_fits: list[int] = []  # the fit of each epoch started
        self._fit_open = False  # the last fit started has not ended: its steps may follow
        self._events_dated = 0  # events before this index have their fit's epoch
        self.epochs: list[dict[str, Any]] = []
        #: in the order they were recorded (a fit's set-up notes, held until it begins, carry their
        #: earlier ``time``); a ``learning_rate`` event's ``step`` is the first step run with the new
        #: rate, most others' the last step run, a verdict's its last step: steps need not be sorted
        self.events: list[Event] = []
        self._lock = threading.Lock()
        #: called before each read and write: writes the rows a writer has buffered (None: none is)
        self.drain: Callable[[], None] | None = None

    # ---- writing (training thread) ---------------------------------------------------------
    def start_fit(self) -> None:
        """A fit begins: the steps, epochs and events from here on are its own."""
        with self._lock:
            self._fit_first_step.append(self.num_steps)
            self._fit_open = True

    def end_fit(self) -> None:
        """The last fit runs no more steps: an event at a step to come is the next fit's."""
        self._fit_open = False

    def start_epoch(self, epoch: int) -> None:
        with self._lock:
            fit = max(len(self._fit_first_step) - 1, 0)  # 0 also for epochs recorded with no fit started
            if not self._epoch_fits or self._epoch_fits[-1] != fit:
                # The fit's first epoch: the events recorded for this fit before it (made between
                # fits, or in its set-up) were given epoch 0; now its own is known (`initial_epoch`).
                for i in range(self._events_dated, len(self.events)):
                    e = self.events[i]
                    if e.fit == fit and e.epoch != epoch:
                        self.events[i] = replace(e, epoch=int(epoch))
                self._events_dated = len(self.events)
            self._epoch_first_step.append(self.num_steps)
            self._epoch_numbers.append(int(epoch))
            self._epoch_fits.append(fit)

    def record_step(self, loss: float, learning_rate: float, time: float) -> int:
        """Append one step; returns its global index."""
        if self.drain is not None:
            self.drain()
        n = self._n
        self.extend_steps(np.array([(loss, learning_rate, time)], dtype=np.float64))
        return n

    def extend_steps(self, rows: np.ndarray) -> None:
        """Append ``rows`` (one ``(loss, learning_rate, time)`` row a step): a writer's buffered rows.

        Values beyond float32's range are written as +-inf.
        """
        n, k = self._n, len(rows)
        if n + k > len(self._steps):
            grown = np.empty((max(2 * len(self._steps), n + k), len(STEP_COLUMNS)), dtype=np.float32)
            grown[:n] = self._steps[:n]
            self._steps = grown
        with np.errstate(over="ignore"):
            self._steps[n : n + k] = rows
        self._n = n + k

    def record_epoch(self, epoch: int, logs: dict[str, Any]) -> None:
        row: dict[str, Any] = {"epoch": int(epoch), "step": self.num_steps - 1}
        for key, value in logs.items():
            try:
                row[key] = float(value)
            except (TypeError, ValueError):
                continue
        with self._lock:
            self.epochs.append(row)

    def add_event(
        self,
        kind: str,
        message: str,
        *,
        value: float | None = None,
        source: str | None = None,
        time: float = 0.0,
        step: int | None = None,
        fit: int | None = None,
    ) -> Event:
        """Record an event at ``step`` (default: the last step run, or the first step of a fit
        begun that has run none yet) of ``fit`` (default: the fit that step belongs to: a step to
        come after the last fit ended is the next fit's first, so a change made at a fit's end or
        between fits, which applies from the next fit, names that fit). An event of a fit that has
        started no epoch yet is in epoch 0 until its first epoch starts, then in that one."""
        n = self.num_steps
        started = len(self._fit_first_step)
        last = n - 1 if not started else max(n - 1, self._fit_first_step[-1])  # a fit begun: its first step
        at = last if step is None else step
        if fit is None:
            to_come = step is not None and step >= n and started and not self._fit_open
            fit = started if to_come else max(started - 1, 0)
        dated = bool(self._epoch_fits) and self._epoch_fits[-1] >= fit
        event = Event(
            step=max(at, 0),
            epoch=self.epoch_of(max(at, 0)) if dated else 0,
            kind=kind,
            message=message,
            value=value,
            source=source,
            time=time,
            fit=fit,
        )
        with self._lock:
            self.events.append(event)
        return event

    # ---- reading (any thread) ----------------------------------------------------------------
    @property
    def num_fits(self) -> int:
        """The fits started (the next fit's index)."""
        return len(self._fit_first_step)

    @property
    def num_steps(self) -> int:
        if self.drain is not None:
            self.drain()
        return self._n

    def column(self, name: str, n: int | None = None) -> np.ndarray:
        """A read-only view of one per-step column (``loss``, ``learning_rate``, ``time``)."""
        if name not in STEP_COLUMNS:
            raise ValueError(f"Argument `name` must be one of {STEP_COLUMNS}. Received: name={name!r}")
        if n is not None:
            n = check_int("n", n, ge=0)
        filled = self.num_steps
        steps = self._steps
        view = steps[: filled if n is None else min(n, filled), STEP_COLUMNS.index(name)]
        view.flags.writeable = False
        return view

    def last(self, name: str) -> float:
        """The last step's value in one column (NaN before the first step): O(1), for per-step readers."""
        if name not in STEP_COLUMNS:
            raise ValueError(f"Argument `name` must be one of {STEP_COLUMNS}. Received: name={name!r}")
        n = self.num_steps
        return float(self._steps[n - 1, STEP_COLUMNS.index(name)]) if n else math.nan

    @property
    def loss(self) -> np.ndarray:
        """True per-batch training loss, one value per step (float32)."""
        return self.column("loss")

    @property
    def learning_rate(self) -> np.ndarray:
        """Learning rate in effect at each step (float32)."""
        return self.column("learning_rate")

    @property
    def time(self) -> np.ndarray:
        """Seconds since the start of the first fit, at the end of each step (float32)."""
        return self.column("time")

    def epoch_of(self, step: int) -> int:
        """Epoch number of a global step (0 before the first epoch starts)."""
        if not self._epoch_first_step:
            return 0
        i = int(np.searchsorted(self._epoch_first_step, step, side="right")) - 1
        return self._epoch_numbers[max(i, 0)]

    def step_epochs(self, n: int | None = None) -> np.ndarray:
        """The epoch number of each step."""
        n = self.num_steps if n is None else n
        if not self._epoch_first_step:
            return np.zeros(n, dtype=np.int32)
        idx = np.searchsorted(self._epoch_first_step, np.arange(n), side="right") - 1
        return np.asarray(self._epoch_numbers, dtype=np.int32)[np.maximum(idx, 0)]

    def step_fits(self, n: int | None = None) -> np.ndarray:
        """The fit of each step (0 for the first fit's steps)."""
        return self.fits_of(np.arange(self.num_steps if n is None else n))

    def fits_of(self, steps: Any) -> np.ndarray:
        """The fit each of ``steps`` belongs to (0 before the first fit began)."""
        first = np.asarray(self._fit_first_step, dtype=np.int64)
        return np.maximum(np.searchsorted(first, steps, side="right") - 1, 0).astype(np.int32)

    @property
    def epoch_logs(self) -> EpochLogs:
        """Per-epoch values by log name, in the form of Keras's ``History.history``.

        A value missing in some epoch (validation every other epoch) is NaN there.
        """
        rows = list(self.epochs)
        keys = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in ("epoch", "step")]
        return EpochLogs({k: [float(r.get(k, math.nan)) for r in rows] for k in keys})

    @property
    def nbytes(self) -> int:
        """Memory held by the per-step columns."""
        return int(self._steps.nbytes)

    # ---- export ------------------------------------------------------------------------------
    def _rows(self, level: str) -> dict[str, list[Any]] | list[dict[str, Any]]:
        if level == "step":
            n = self.num_steps
            return {
                "step": list(range(n)),
                "fit": self.step_fits(n).tolist(),
                "epoch": self.step_epochs(n).tolist(),
                **{name: self.column(name, n).astype(np.float64).tolist() for name in STEP_COLUMNS},
            }
        if level == "epoch":  # an epoch's row names its last step, which is its fit's
            rows = list(self.epochs)  # one copy: the training thread may append while this reads
            fits = self.fits_of([r["step"] for r in rows]).tolist()
            return [{"fit": f, **r} for f, r in zip(fits, rows, strict=True)]
        if level == "events":
            return [asdict(e) for e in self.events]
        raise ValueError(f"Argument `level` must be one of 'step', 'epoch', 'events'. Received: level={level!r}")

    def to_dataframe(self, level: str = "step") -> Any:
        """A pandas DataFrame of the ``step`` (default), ``epoch`` or ``events`` records."""
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - pandas ships with the dev extra
            raise ImportError("`to_dataframe()` needs pandas: pip install pandas") from e
        rows = self._rows(level)
        if level == "step":
            return pd.DataFrame(rows).set_index("step")
        # With no rows yet, the columns still there (a filter on `kind` works on an empty frame).
        columns = ["fit", "epoch", "step"] if level == "epoch" else [f.name for f in fields(Event)]
        return pd.DataFrame(rows, columns=None if rows else columns)

    def to_csv(self, path: str | Path | Any, level: str = "step") -> None:
        """Write the ``step``, ``epoch`` or ``events`` records as CSV (needs pandas): one row per
        record, a header of named columns (the steps' first is their index, ``step``)."""
        if path is None:  # pandas would return the text, written nowhere
            raise TypeError("Argument `path` must be a file path or a file object. Received: path=None")
        frame = self.to_dataframe(level)
        frame.to_csv(path, index=frame.index.name is not None)  # not the epochs' and events' unnamed row numbers

    def to_json(self, path: str | Path | None = None) -> str:
        """All records as JSON (``steps``, ``epochs``, ``events``); written to ``path`` if given.

        Non-finite numbers (a NaN loss) are written as ``null``.
        """

        def clean(obj: Any) -> Any:
            if isinstance(obj, float) and not math.isfinite(obj):
                return None
            if isinstance(obj, dict):
                return {k: clean(v) for k, v in obj.items()}
            if isinstance(obj, list):
                return [clean(v) for v in obj]
            return obj

        text = json.dumps(
            clean({"steps": self._rows("step"), "epochs": self._rows("epoch"), "events": self._rows("events")})
        )
        if path is not None:
            Path(path).write_text(text)
        return text
