"""The trials of a sweep: every combination of learning rate, optimizer, schedule and seed."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrwidgets.core.checks import check_int, check_rate, received
from lrwidgets.training.trial import check_optimizer_name

MAX_TRIALS = 10_000


@dataclass(frozen=True)
class Trial:
    """One point of the grid. ``schedule`` is None (the rate stays constant) or a callable shape.

    ``optimizer`` is a Keras optimizer name, or None for the optimizer ``build_model`` compiles with.
    """

    trial: int
    learning_rate: float
    optimizer: str | None
    schedule_name: str
    seed: int
    schedule: Any = None

    @property
    def key(self) -> tuple[float, str, str, int]:
        """What identifies the trial across kernels (``trial`` numbers follow the grid's order)."""
        return (self.learning_rate, self.optimizer or "", self.schedule_name, self.seed)

    def scaled_schedule(self) -> Any:
        """The schedule as this trial runs it (its shape started at its rate), or None (constant).

        A ``ReduceOnPlateau`` (a constant rate its reductions act on) is one of its own at the
        trial's rate, its ``min_lr`` scaled alike: a wrapper would hide the plateau from the fit,
        which would hold the rate."""
        if self.schedule is None:
            return None
        if callable(getattr(self.schedule, "tracker", None)):
            config = self.schedule.get_config()
            scale = self.learning_rate / config["initial_learning_rate"]
            return type(self.schedule).from_config(
                {**config, "initial_learning_rate": self.learning_rate, "min_lr": config["min_lr"] * scale}
            )
        return ScaledSchedule(self.schedule, self.learning_rate)

    def config(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "learning_rate": self.learning_rate,
            "optimizer": self.optimizer or "",
            "schedule": self.schedule_name,
            "seed": self.seed,
        }


class ScaledSchedule:
    """A schedule's shape started at a trial's rate: ``rate(step) = learning_rate * s(step) / s(0)``.

    So a grid of rates times schedules compares each schedule's shape at each starting rate.

    Example:
        >>> from lrwidgets.schedules import ExponentialDecay
        >>> s = ScaledSchedule(ExponentialDecay(1e-3, decay_steps=10, decay_rate=0.5), 0.1)
        >>> round(float(s(0)), 6), round(float(s(10)), 6)
        (0.1, 0.05)
    """

    def __init__(self, schedule: Any, learning_rate: float) -> None:
        self.schedule = schedule
        self.factor = learning_rate / float(schedule(0))

    def __call__(self, step: Any) -> Any:
        values = self.schedule(step)
        return values * self.factor if isinstance(values, np.ndarray) else float(values) * self.factor


def schedule_name(schedule: Any) -> str:
    """A readable, stable label: ``ExponentialDecay(decay_steps=10, decay_rate=0.5)`` (its rate left out)."""
    if schedule is None:
        return "constant"
    get_config = getattr(schedule, "get_config", None)
    if callable(get_config):
        config = {k: v for k, v in get_config().items() if "learning_rate" not in k}
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"{type(schedule).__name__}({args})"
    return str(getattr(schedule, "__name__", type(schedule).__name__))


def _as_list(name: str, values: Any) -> list[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"Argument `{name}` must be a list. {received(name, values)}")
    items = list(values)
    if not items:
        raise ValueError(f"Argument `{name}` must not be empty. {received(name, values)}")
    return items


def _check_start(schedule: Any) -> None:
    """A trial starts a schedule at its own rate, ``learning_rate * s(step) / s(0)``: s(0) must be a
    rate > 0 (a warm-up from 0 cannot be scaled to start at a rate)."""
    label = schedule_name(schedule)
    try:
        start = float(schedule(0))
    except Exception as e:
        raise ValueError(f"Argument `schedules`: {label} raised at step 0 ({type(e).__name__}: {e}).") from e
    try:
        check_rate("schedules", start)
    except ValueError:
        raise ValueError(
            f"Argument `schedules` must hold schedules whose rate at step 0 is > 0: each trial runs"
            f" `learning_rate * s(step) / s(0)`. {label} gives {start!r} at step 0 (a warm-up: start it"
            " from a small rate > 0)."
        ) from None


def _schedule_names(schedules: list[Any]) -> list[str]:
    """Each schedule's label; two different functions of one name (two lambdas) told apart by
    their place (`<lambda> #2`), while one schedule given twice keeps its name (and is refused)."""
    names: list[str] = []
    seen: dict[str, list[Any]] = {}  # label -> the schedules labelled so, in order
    for s in schedules:
        name = schedule_name(s)
        same = seen.setdefault(name, [])
        plain = not callable(getattr(s, "get_config", None))  # no config to tell it by
        names.append(f"{name} #{len(same) + 1}" if same and plain and all(t is not s for t in same) else name)
        same.append(s)
    return names


def make_grid(learning_rates: Any, optimizers: Any, schedules: Any, seeds: Any) -> list[Trial]:
    """Every combination, checked: rates > 0, known optimizer names, schedules positive at step 0."""
    rates = [check_rate("learning_rates", r) for r in _as_list("learning_rates", learning_rates)]
    opts = [None] if optimizers is None else [check_optimizer_name(o) for o in _as_list("optimizers", optimizers)]
    scheds = [None] if schedules is None else _as_list("schedules", schedules)
    for s in scheds:
        if s is not None and not callable(s):
            raise TypeError(
                f"Argument `schedules` must hold callables (step -> rate) or None. {received('schedules', s)}"
            )
        if s is not None:
            _check_start(s)
    names = _schedule_names(scheds)
    seed_list = [check_int("seeds", s, ge=0, le=2**32 - 1) for s in _as_list("seeds", seeds)]  # Keras's range
    if len({float(np.float32(r)) for r in rates}) != len(rates):  # as the optimizer holds them: 1e-3 == 1.00000001e-3
        raise ValueError(
            "Argument `learning_rates` must not repeat a value (as the float32 values the optimizer holds)."
            f" {received('learning_rates', rates)}"
        )
    spelled = [o.lower() if o else o for o in opts]  # Keras takes "adam" and "Adam" for one optimizer
    for name, values, told in (
        ("optimizers", spelled, opts),
        ("schedules", names, names),
        ("seeds", seed_list, seed_list),
    ):
        if len(set(values)) != len(values):
            raise ValueError(f"Argument `{name}` must not repeat a value. {received(name, told)}")
    count = len(rates) * len(opts) * len(scheds) * len(seed_list)
    if count > MAX_TRIALS:
        raise ValueError(f"A sweep runs at most {MAX_TRIALS:,} trials. Received: {count:,} combinations")
    combos = itertools.product(opts, zip(scheds, names, strict=True), rates, seed_list)
    return [Trial(i, rate, opt, name, seed, sched) for i, (opt, (sched, name), rate, seed) in enumerate(combos)]


def grid_config(trials: Sequence[Trial], epochs: int, monitor: str | None) -> dict[str, Any]:
    """The grid as a sweep file keeps it: each axis's values in trial order, the epochs and the monitor."""
    return {
        "learning_rates": list(dict.fromkeys(t.learning_rate for t in trials)),
        "optimizers": list(dict.fromkeys(t.optimizer for t in trials)),
        "schedules": list(dict.fromkeys(t.schedule_name for t in trials)),
        "seeds": list(dict.fromkeys(t.seed for t in trials)),
        "epochs": epochs,
        "monitor": monitor,
    }
