"""A schedule design: the JSON-able ``value`` of a ``ScheduleDesigner``, checked and turned into a
schedule, and the steps a chart of a long run evaluates it at."""

from __future__ import annotations

from typing import Any

import numpy as np

from lrwidgets.core.checks import check_choice, check_int, check_rate, received
from lrwidgets.core.history import EpochLogs
from lrwidgets.schedules import Schedule, Warmup
from lrwidgets.widgets._designer_kinds import ARGS, FLOOR_RATES, KINDS, LOG_RATES, STEP_COUNTS

#: Longest planned run in epochs: a plateau design is replayed epoch by epoch.
MAX_EPOCHS = 100_000
#: Most steps in a planned run (``epochs * steps_per_epoch``); the chart never evaluates them all.
MAX_TOTAL_STEPS = 10**12
DESIGN_KEYS = ("kind", "epochs", "steps_per_epoch", "warmup_steps", "config")


def checked_run(epochs: Any, steps_per_epoch: Any, warmup_steps: Any) -> tuple[int, int, int]:
    """The size of a planned run as ints, bounded so that nothing about it can exhaust memory."""
    epochs = check_int("epochs", epochs, ge=1, le=MAX_EPOCHS)
    steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, ge=1, le=MAX_TOTAL_STEPS)
    if epochs * steps_per_epoch > MAX_TOTAL_STEPS:
        raise ValueError(
            f"A planned run has at most {MAX_TOTAL_STEPS:,} steps (`epochs` x `steps_per_epoch`). "
            f"Received: epochs={epochs}, steps_per_epoch={steps_per_epoch}"
        )
    return epochs, steps_per_epoch, check_int("warmup_steps", warmup_steps, ge=0, le=MAX_TOTAL_STEPS)


def checked_design(v: Any) -> dict[str, Any]:
    """A design checked in full and normalised by its schedule (1 -> 1.0 where the argument is a float)."""
    if not isinstance(v, dict) or set(v) != set(DESIGN_KEYS):
        raise TypeError(f"A design must be a dict with the keys {sorted(DESIGN_KEYS)}. {received('value', v)}")
    kind, config = check_choice("kind", v["kind"], KINDS), v["config"]
    epochs, steps_per_epoch, warmup_steps = checked_run(v["epochs"], v["steps_per_epoch"], v["warmup_steps"])
    if not isinstance(config, dict) or set(config) != set(ARGS[kind]):
        raise TypeError(
            f"The config of a {kind!r} design needs exactly {list(ARGS[kind])}. {received('config', config)}"
        )
    if kind == "plateau" and warmup_steps:
        raise ValueError("A plateau design cannot have warm-up steps: its reductions follow the monitored values.")
    schedule = KINDS[kind].cls(**config)
    config = schedule.get_config()
    for arg in LOG_RATES.intersection(config):  # a schedule may hold 0 there; a log slider cannot
        if not config[arg] > 0:
            raise ValueError(
                f"Argument `{arg}` must be > 0 in the designer, whose rate slider is on a log scale."
                f" {received(arg, config[arg])}"
            )
        check_rate(arg, config[arg])  # a rate the optimizer can hold: not inf, nor 0, as a float32
    for arg in (FLOOR_RATES - {"min_delta"}).intersection(config):  # floors: 0, or a rate float32 holds
        check_rate(arg, config[arg], allow_zero=True)
    for arg in STEP_COUNTS.intersection(config):  # a float may be 0.5 or 1e39, which the slider cannot hold
        if not 1 <= config[arg] <= MAX_TOTAL_STEPS:
            raise ValueError(
                f"Argument `{arg}` must be >= 1 and <= {MAX_TOTAL_STEPS:,} in the designer (its slider's range:"
                f" whole steps, up to the most of a planned run). {received(arg, config[arg])}"
            )
    return as_design(kind, epochs, steps_per_epoch, warmup_steps, config)


def as_design(kind: str, epochs: int, steps_per_epoch: int, warmup_steps: int, config: dict) -> dict[str, Any]:
    return {
        "kind": kind,
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "warmup_steps": warmup_steps,
        "config": {a: config[a] for a in ARGS[kind]},
    }


def schedule_of(design: dict[str, Any]) -> Schedule:
    """The schedule of a checked design."""
    schedule = KINDS[design["kind"]].cls(**design["config"])
    return Warmup(schedule, design["warmup_steps"]) if design["warmup_steps"] else schedule


def drawn_steps(total_steps: int, samples: int) -> np.ndarray:
    """The steps (float64) a chart of ``total_steps`` evaluates: all of them, or ``samples`` of them.

    Beyond ``samples`` steps, one step is taken at a fixed pseudo-random place in each of
    ``samples`` equal strata, plus the first and the last: a schedule that oscillates faster than
    the strata shows as the band it fills, not as an alias of one phase.

    Example:
        >>> drawn_steps(5, 100).tolist()
        [0.0, 1.0, 2.0, 3.0, 4.0]
        >>> s = drawn_steps(10**12, 1000)
        >>> len(s) <= 1002, float(s[0]), float(s[-1])
        (True, 0.0, 999999999999.0)
    """
    if total_steps <= samples:
        return np.arange(total_steps, dtype=np.float64)
    width = total_steps / samples
    jitter = np.random.default_rng(0).random(samples)
    inside = np.floor((np.arange(samples) + jitter) * width)
    return np.unique(np.concatenate([[0.0], inside, [float(total_steps - 1)]]))


def synthetic_loss(epochs: int, plateau_at: int, noise: float, seed: int = 0) -> np.ndarray:
    """A loss curve that falls until epoch ``plateau_at`` and then stays flat, with relative noise.

    Example:
        >>> y = synthetic_loss(30, plateau_at=10, noise=0.0)
        >>> bool(np.all(np.diff(y[:10]) < 0)), bool(np.all(y[10:] == y[10]))
        (True, True)
    """
    e = np.arange(epochs, dtype=np.float64)
    plateau_at = max(1, int(plateau_at))
    clean = 0.2 + 0.8 * np.exp(-3.0 * np.minimum(e, plateau_at) / plateau_at)
    return clean * (1.0 + noise * np.random.default_rng(seed).standard_normal(epochs)) if noise else clean


def monitored_values(source: Any, monitor: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The monitored value per epoch in ``source``: a Keras History, its ``.history`` dict, an
    lrwidgets ``TrainingHistory`` (or anything with a ``history``) or its ``epoch_logs``, or numbers.

    Returns the values (NaN where an epoch logged none) and, per epoch, whether it logged one. A
    fit that validates every few epochs (``validation_freq``) logs ``val_loss`` at those only:
    Keras's ``ReduceLROnPlateau`` skips the others, and so does a replay. A ``TrainingHistory``
    knows which epochs logged the value; its ``epoch_logs`` mark the others NaN; in numbers such an
    epoch is None. Elsewhere a NaN is a value the fit logged, as Keras takes it (no improvement; a
    first one becomes the best). A Keras History's list of such values is shorter than its
    epochs, with nothing to say which epochs they belong to: refused, rather than replayed on the
    wrong epochs.
    """
    history = getattr(source, "history", source)
    logs = getattr(history, "epoch_logs", None)
    if logs is not None:  # an lrwidgets TrainingHistory: its rows say which epochs logged the value
        key = _monitor_key(logs, monitor)
        items: Any = [row.get(key) for row in list(history.epochs)]
    elif isinstance(history, dict):
        key = _monitor_key(history, monitor)
        items = history[key]
        lengths = {k: len(v) for k, v in history.items() if isinstance(v, (list, tuple)) or np.ndim(v) == 1}
        if key in lengths and lengths[key] < max(lengths.values()):
            epochs = max(lengths.values())
            raise ValueError(
                f"The history has {lengths[key]} values of {key!r} for {epochs} epochs (a fit that validates every"
                " few epochs?): which epochs they belong to is not known. Pass the run's TrainingDashboard or"
                " TrainingHistory, or one value per epoch with None where an epoch logged none."
            )
    else:
        items = history
    numbers = "Argument `monitored` must be a history, or a non-empty 1-D sequence of numbers (None: no value)."
    try:
        if isinstance(items, (str, bytes)):
            raise TypeError
        items = list(items.tolist() if isinstance(items, np.ndarray) else items)
        if any(isinstance(v, (bool, np.bool_, str, bytes)) for v in items):
            raise TypeError
        logged = np.array([v is not None for v in items], dtype=bool)
        values = np.asarray([np.nan if v is None else v for v in items], dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{numbers} {received('monitored', source)}") from None
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"{numbers} Received: an array of shape {values.shape}")
    if isinstance(history, EpochLogs):  # NaN marks an epoch without the value there
        logged &= ~np.isnan(values)
    return values, logged


def _monitor_key(history: dict[str, Any], monitor: str | None) -> str:
    key = monitor or ("val_loss" if "val_loss" in history else "loss")
    if key not in history and key.startswith("val_") and key[4:] in history:  # as a fit without validation
        key = key[4:]
    if key not in history:
        said = "" if monitor else " (the default of `monitor`)"
        raise ValueError(f"No {key!r} in the history{said}; it has {sorted(history)}. {received('monitor', monitor)}")
    return key
