"""Reduce the learning rate when a monitored value stops improving, exactly as Keras' callback."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from lrwidgets.schedules._base import NoKerasEquivalentError, Schedule, check_float, check_int


def check_monitor(monitor: Any, mode: str) -> str:
    """The log key a plateau watches: ``monitor``, or the default of ``mode``; a loss watched for a
    rise or an accuracy for a fall refused (Keras error style)."""
    if monitor is None:
        return "val_loss" if mode == "min" else "val_accuracy"
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"Argument `monitor` must be a non-empty string (a log key). Received: monitor={monitor!r}")
    last = monitor.rsplit("_", 1)[-1]  # Keras's keys: `loss`, `val_loss`, `out_loss`, `val_accuracy`, `acc`
    if mode == "max" and last == "loss":
        wrong = "in mode 'max' must rise as the model improves (an accuracy); a loss falls"
    elif mode == "min" and last in ("accuracy", "acc"):
        wrong = "in mode 'min' must fall as the model improves (a loss); an accuracy rises"
    else:
        return monitor
    raise ValueError(
        f"Argument `monitor` {wrong}, and the rate would be cut while the model improves."
        f" Received: monitor={monitor!r}, mode={mode!r}"
    )


class ReduceOnPlateau(Schedule):
    """The learning rates ``keras.callbacks.ReduceLROnPlateau`` would produce, without Keras.

    At the end of each epoch the monitored value is compared with the best so far: it improves
    when ``value + min_delta < best`` (mode ``"min"``) or ``value - min_delta > best``
    (``"max"``), compared in float32 as Keras does. After ``patience`` epochs without improvement
    (not counting ``cooldown`` epochs after a reduction) the rate becomes
    ``max(lr * factor, min_lr)``, unless it is already at or below ``min_lr``.

    Called on steps, a plateau schedule returns the planned rate, ``initial_learning_rate``:
    reductions depend on the monitored values. :meth:`simulate` replays a whole run and
    :meth:`tracker` follows one epoch by epoch. Keras has it as a callback, not as a schedule:
    ``to_keras()`` raises ``NoKerasEquivalentError``
    (``lrwidgets.training.keras_schedules.to_keras_callback`` builds the callback).

    Args:
        initial_learning_rate: the learning rate of the first epoch (> 0).
        mode: ``"min"`` (a loss) or ``"max"`` (an accuracy).
        monitor: the log key a fit watches (Keras's ``ReduceLROnPlateau`` argument); by default
            ``"val_loss"`` in mode ``"min"`` and ``"val_accuracy"`` in mode ``"max"`` (what
            ``compile(metrics=["accuracy"])`` logs). A fit with no validation data watches the
            same key without ``val_`` and says so. A loss in mode ``"max"``, or an accuracy in
            mode ``"min"``, is refused: the rate would fall while the model improves.
        factor: multiplier applied at each reduction, in (0, 1).
        patience: epochs without improvement before a reduction (an integer >= 0).
        min_delta: smallest change that counts as an improvement (>= 0).
        cooldown: epochs after a reduction during which waiting is suspended (an integer >= 0).
        min_lr: the learning rate is never reduced below this (>= 0).

    Example:
        >>> plateau = ReduceOnPlateau(0.1, factor=0.5, patience=2)
        >>> plateau.simulate([1.0, 0.9, 0.9, 0.9, 0.9, 0.9]).round(4).tolist()
        [0.1, 0.1, 0.1, 0.1, 0.05, 0.05]
    """

    config_keys = ("initial_learning_rate", "mode", "factor", "patience", "min_delta", "cooldown", "min_lr", "monitor")

    def __init__(
        self,
        initial_learning_rate: float,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        monitor: str | None = None,
    ) -> None:
        self.initial_learning_rate = check_float("initial_learning_rate", initial_learning_rate, gt=0)
        if not isinstance(mode, str):
            raise TypeError(f"Argument `mode` must be 'min' or 'max'. Received: mode={mode!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"Argument `mode` must be 'min' or 'max'. Received: mode={mode!r}")
        self.mode = mode
        self.factor = check_float("factor", factor, gt=0, lt=1)
        self.patience = check_int("patience", patience, ge=0)
        self.min_delta = check_float("min_delta", min_delta, ge=0)
        self.cooldown = check_int("cooldown", cooldown, ge=0)
        self.min_lr = check_float("min_lr", min_lr, ge=0)
        self.monitor = check_monitor(monitor, mode)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if config["monitor"] == check_monitor(None, self.mode):
            del config["monitor"]  # the mode's default: configs and labels as they were before `monitor`
        return config

    def _evaluate(self, steps: np.ndarray) -> np.ndarray:
        return np.full(steps.shape, self.initial_learning_rate, dtype=steps.dtype)

    def keras_spec(self) -> Any:
        raise NoKerasEquivalentError(
            "ReduceOnPlateau has no equivalent in keras.optimizers.schedules: Keras reduces on plateau with the "
            "keras.callbacks.ReduceLROnPlateau callback (lrwidgets.training.keras_schedules.to_keras_callback)."
        )

    def tracker(self) -> PlateauTracker:
        """A fresh :class:`PlateauTracker` for one run, starting at ``initial_learning_rate``."""
        return PlateauTracker(self)

    def simulate(self, monitored: Iterable[float | None]) -> np.ndarray:
        """The learning rate in effect during each epoch, given the monitored value at each epoch's end.

        This is what Keras' History records as ``learning_rate`` for a run with the
        ``ReduceLROnPlateau`` callback: the rate of epoch ``e`` is the one before epoch ``e``'s
        value was seen. A None is an epoch that logged no value (a fit that validates every few
        epochs has no ``val_loss`` at the others): Keras's callback skips it, so no patience is
        spent and the rate holds. Returns a float64 array as long as ``monitored``.

        Example:
            >>> ReduceOnPlateau(1.0, mode="max", factor=0.5, patience=1).simulate([0.5, 0.4, 0.4]).tolist()
            [1.0, 1.0, 0.5]
            >>> ReduceOnPlateau(1.0, factor=0.5, patience=1).simulate([0.5, None, 0.6, None, 0.6]).tolist()
            [1.0, 1.0, 1.0, 0.5, 0.5]
        """
        items: Any = monitored
        if isinstance(items, np.ndarray) and items.dtype.kind == "O":
            items = items.tolist()  # numbers and None
        logged: list[bool] | None = None
        values: np.ndarray | None = items if isinstance(items, np.ndarray) else None
        if values is None:
            items = list(items)
            logged = [v is not None for v in items]
            try:
                values = np.asarray([v for v in items if v is not None])  # float64 when none is
            except ValueError:  # a ragged nesting
                values = None
        if values is None or values.ndim != 1 or values.dtype.kind not in "iuf":
            raise TypeError(
                f"Argument `monitored` must be a 1-D sequence of numbers (None: an epoch that logged no value)."
                f" Received: monitored={monitored!r}"
            )
        tracker = self.tracker()
        rates = np.empty(len(values) if logged is None else len(logged), dtype=np.float64)
        seen = iter(values.tolist())
        for epoch in range(len(rates)):
            rates[epoch] = tracker.learning_rate
            if logged is None or logged[epoch]:
                tracker.update(next(seen))
        return rates


class PlateauTracker:
    """Epoch-by-epoch state of a :class:`ReduceOnPlateau`: the single implementation of its logic.

    Contract: call :meth:`update` once at the end of every epoch with the monitored value; it
    returns the learning rate for the next epoch. The rate is held in float32, as the optimizer's
    learning-rate variable holds it. Pass ``learning_rate=`` the rate actually in effect when
    something else changed it (a live edit, a schedule): like Keras' callback, which reads the
    optimizer's rate, the reduction then applies to that rate. :attr:`last_factor` is the
    multiplicative change the update made (1.0 when nothing fired), the form in which a training
    controller composes plateau reductions with a schedule.

    Attributes:
        learning_rate: the rate in effect for the coming epoch.
        epoch: number of updates so far.
        reductions: epochs (0-based) at whose end a reduction fired.
        last_factor: new rate / old rate of the latest update.

    Example:
        >>> t = ReduceOnPlateau(0.1, factor=0.5, patience=1).tracker()
        >>> round(t.update(1.0), 4), round(t.update(1.0), 4), t.reductions, t.last_factor
        (0.1, 0.05, [1], 0.5)
    """

    def __init__(self, plateau: ReduceOnPlateau) -> None:
        self.plateau = plateau
        self.learning_rate = float(np.float32(plateau.initial_learning_rate))
        self.epoch = 0
        self.reductions: list[int] = []
        self.last_factor = 1.0
        self.best: float | None = None
        self.wait = 0
        self.cooldown_counter = 0
        # Keras folds the sign of min_delta into the comparison: value - min_delta vs best.
        self._signed_delta = -plateau.min_delta if plateau.mode == "min" else plateau.min_delta
        self._min_lr32 = float(np.float32(plateau.min_lr))

    def _is_improvement(self, value: float) -> bool:
        if self.best is None:
            return True
        # Keras compares with keras.ops.less/greater on Python floats, i.e. in float32.
        shifted, best = np.float32(value - self._signed_delta), np.float32(self.best)
        return bool(shifted < best) if self.plateau.mode == "min" else bool(shifted > best)

    def update(self, monitored: float, learning_rate: float | None = None) -> float:
        """Record the monitored value at the end of an epoch; return the rate for the next epoch."""
        if isinstance(monitored, (bool, np.bool_)) or not isinstance(monitored, (int, float, np.integer, np.floating)):
            raise TypeError(f"Argument `monitored` must be a float. Received: monitored={monitored!r}")
        value = float(monitored)  # NaN and inf are allowed: Keras' comparisons treat them as it does
        if learning_rate is not None:
            self.learning_rate = float(np.float32(check_float("learning_rate", learning_rate, ge=0)))
        p = self.plateau
        old = self.learning_rate
        self.last_factor = 1.0
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(value):
            self.best = value
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= p.patience and old > self._min_lr32:
                self.learning_rate = float(np.float32(max(old * p.factor, p.min_lr)))
                self.last_factor = self.learning_rate / old
                self.reductions.append(self.epoch)
                self.cooldown_counter = p.cooldown
                self.wait = 0
        self.epoch += 1
        return self.learning_rate
