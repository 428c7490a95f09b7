"""What a fit leaves behind: the history of every step, its events, and the guard against NaN.

:class:`Recorder` is fed by the controller's callback in the training thread: the true loss of
each batch (recovered from Keras's running mean), the rate it ran with, the epoch logs, the
events; it keeps the NaN guard's copies and the divergence monitor, and routes the Python
warnings raised in the training thread to this history only.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from lrwidgets.core import BatchLossRecovery, TrainingHistory
from lrwidgets.core.detectors import DivergingDetector
from lrwidgets.training import warnings_hook
from lrwidgets.training.nan_guard import NanGuard
from lrwidgets.training.progress import Progress, ProgressMeter

ON_NAN_CHOICES = ("restore", "stop")


class Recorder:
    """History, progress, NaN guard and divergence watch of one controller's fits."""

    def __init__(self, history: TrainingHistory, on_nan: str, divergence_factor: float) -> None:
        self.history = history
        self.on_nan = on_nan
        self.divergence_factor = divergence_factor
        self.monitor: str | None = None  # the log key recorded as the loss (None: `loss`, else the first)
        self.meter = ProgressMeter()
        self.guard = NanGuard(history, factor=divergence_factor)
        self.recovery = BatchLossRecovery()
        self.loss_floor: float | None = None
        self._divergence: DivergingDetector | None = None  # the one divergence rule (core/detectors.py)
        self._scanned = 0  # steps up to here have been through the divergence watch
        self._scan_lock = threading.Lock()
        self._t0: float | None = None
        self._close_warnings: Callable[[], None] | None = None
        self._key: str | None = None
        self.stopped_by_nan = False

    def clock(self) -> float:
        return time.perf_counter()

    def now(self) -> float:
        """Seconds since this history's first fit began (the time axis of every record)."""
        if self._t0 is None:
            self._t0 = time.perf_counter()
        return time.perf_counter() - self._t0

    def event(self, kind: str, message: str, **kw: Any) -> None:
        self.history.add_event(kind, message, time=self.now(), **kw)

    def rate_event(self, learning_rate: float, message: str, source: str, step: int | None = None) -> None:
        """A change of the learning rate, with its cause (``user``, ``callback``, ``plateau``...)."""
        at = self.history.num_steps if step is None else step
        self.event("learning_rate", message, value=learning_rate, source=source, step=at)

    def progress(self, state: str, learning_rate: float) -> Progress:
        return self.meter.snapshot(state, self.history.time, learning_rate)

    # ---- a fit's life ---------------------------------------------------------------------------
    def begin_fit(self, params: dict[str, Any]) -> None:
        self.now()
        self.stopped_by_nan = False
        self._key = self.monitor
        self.meter.begin_fit(int(params.get("epochs") or 0), params.get("steps"), self.history.num_steps)
        self.guard.begin_fit()
        # Each fit is judged against its own best: a fit from fresh weights starts far above the
        # best of the last one, which is no divergence.
        with self._scan_lock:
            self._divergence = DivergingDetector(self.divergence_factor)
            self._scanned = self.history.num_steps
        self._close_warnings = warnings_hook.open_route(lambda text: self.event("warning", text))

    def end_fit(self, error: BaseException | None, stopped: bool) -> None:
        self.scan()
        self.meter.end_fit()
        if self._close_warnings is not None:
            self._close_warnings()
            self._close_warnings = None
        if error is not None:
            self.event("error", f"training failed: {type(error).__name__}: {error}")
        elif stopped and not self.stopped_by_nan:
            self.event("stop", "stopped")

    def begin_epoch(self, epoch: int) -> None:
        self.meter.begin_epoch(epoch)
        self.history.start_epoch(epoch)
        self.recovery.start_epoch()

    def loss_of(self, batch: int, logs: dict[str, Any]) -> float | None:
        """The true loss of the batch just run, or None when the step returned no monitored value."""
        key = self._key
        if key is None:
            key = self._key = self._choose_key(logs)
            if key is None:
                return None
        value = logs.get(key)
        if value is None:
            return None
        loss = self.recovery.update(batch, float(value))
        floor = self.loss_floor
        if floor is not None and loss < floor and math.isfinite(loss):
            loss = floor  # float32 rounding in Keras's running mean, not a real value
        return loss

    def _choose_key(self, logs: dict[str, Any]) -> str | None:
        if "loss" in logs:
            return "loss"
        scalars = sorted(k for k, v in logs.items() if isinstance(v, (int, float)) or getattr(v, "shape", None) == ())
        if not scalars:
            return None
        self.event(
            "warning",
            f"the train step returns no `loss`: recording `{scalars[0]}` as the loss (of {scalars});"
            " choose another with `monitor=`",
        )
        if scalars[0] != "loss":
            self.recovery.batch_size = None  # a custom tracker: every batch weighs the same
        return scalars[0]

    def end_batch(self, batch: int, logs: dict[str, Any] | None, learning_rate: float) -> tuple[float | None, float]:
        """Record the batch just run: the per-batch path, one history row (the watches look later).

        Returns its true loss (None when the step returned no monitored value: the row's loss is a
        NaN gap) and the clock's reading (:meth:`clock`) at the record.
        """
        loss = self.loss_of(batch, logs) if logs else None
        self.meter.end_batch(batch)
        t = time.perf_counter()
        t0 = self._t0
        if t0 is None:
            t0 = self._t0 = t
        self.history.record_step(math.nan if loss is None else loss, learning_rate, t - t0)
        return loss, t

    def scan(self) -> None:
        """Run the divergence watch over the steps recorded since its last look.

        Called at the listeners' pace (every ``update_interval`` while training), at a NaN and at
        the fit's end: a ``diverging`` event names the step where the rule held, recorded that
        much later. Locked: a change made just as a fit ends or starts may notify from another
        thread.
        """
        with self._scan_lock:
            n = self.history.num_steps
            first, self._scanned = self._scanned, n
            if self._divergence is None or n <= first:
                return
            losses = self.history.column("loss", n)[first:].tolist()
            rates = self.history.column("learning_rate", n)[first:].tolist()
            for verdict in self._divergence.scan(first, losses, rates):
                self.event("diverging", verdict.message, step=verdict.last_step)

    def nan(self, model: Any, loss: float, learning_rate: float, keep: list[Any]) -> None:
        """A non-finite loss: restore (if asked) and say what happened (steps 0-based, as on the plots)."""
        self.scan()  # the divergence that led here is told first
        step = self.history.num_steps - 1
        msg = f"the loss became {loss} at step {step} (learning rate {learning_rate:.3g})"
        restored = self.guard.restore(model, keep) if self.on_nan == "restore" else None
        if restored is not None:
            self.event(
                "nan",
                msg + f"; training stopped and the weights of step {restored} (the last ones whose loss was finite"
                " and not diverging) were restored",
            )
            self.event("restore", f"weights restored from step {restored}")
        elif self.on_nan == "restore":
            self.event("nan", msg + "; training stopped (no earlier state with a finite loss to restore)")
        else:
            self.event("nan", msg + "; training stopped (on_nan='stop': the weights are left as they are)")
        self.stopped_by_nan = True
