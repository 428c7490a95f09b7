"""What the ScheduleDesigner offers for each kind of schedule: defaults and a control per argument."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ipywidgets as w

from lrwidgets import schedules as s
from lrwidgets.widgets._strict_controls import STRICT, StrictIntSlider, StrictIntText, StrictSlider


@dataclass(frozen=True)
class Kind:
    """A kind of schedule in the designer.

    ``lr_arg`` names the argument that sets the overall level of the rate, carried over when the
    kind changes; ``defaults(lr, total_steps, steps_per_epoch)`` gives every other argument.
    """

    cls: type[s.Schedule]
    lr_arg: str | None
    defaults: Callable[[float, int, int], dict[str, Any]]


def _piecewise(lr: float, total: int, _: int) -> dict[str, Any]:
    return {"boundaries": [max(1, total // 3), max(2, 2 * total // 3)], "values": [lr, lr / 10, lr / 100]}


KINDS: dict[str, Kind] = {
    "constant": Kind(s.Constant, "learning_rate", lambda lr, total, spe: {}),
    "step": Kind(
        s.StepDecay, "initial_learning_rate", lambda lr, total, spe: {"drop_every": max(1, total // 3), "factor": 0.1}
    ),
    "exponential": Kind(
        s.ExponentialDecay,
        "initial_learning_rate",
        lambda lr, total, spe: {"decay_steps": spe, "decay_rate": 0.9, "staircase": False},
    ),
    "piecewise": Kind(s.PiecewiseConstantDecay, None, _piecewise),
    "polynomial": Kind(
        s.PolynomialDecay,
        "initial_learning_rate",
        lambda lr, total, spe: {"decay_steps": total, "end_learning_rate": lr / 100, "power": 1.0, "cycle": False},
    ),
    "inverse_time": Kind(
        s.InverseTimeDecay,
        "initial_learning_rate",
        lambda lr, total, spe: {"decay_steps": spe, "decay_rate": 0.5, "staircase": False},
    ),
    "cosine": Kind(s.CosineDecay, "initial_learning_rate", lambda lr, total, spe: {"decay_steps": total, "alpha": 0.0}),
    "cosine_restarts": Kind(
        s.CosineDecayRestarts,
        "initial_learning_rate",
        lambda lr, total, spe: {"first_decay_steps": max(1, total // 7), "t_mul": 2.0, "m_mul": 1.0, "alpha": 0.0},
    ),
    "one_cycle": Kind(
        s.OneCycle,
        "max_learning_rate",
        lambda lr, total, spe: {"total_steps": total, "pct_start": 0.25, "div_factor": 25.0, "final_div_factor": 1e4},
    ),
    "plateau": Kind(
        s.ReduceOnPlateau,
        "initial_learning_rate",
        lambda lr, total, spe: {
            "mode": "min",
            "factor": 0.1,
            "patience": 5,
            "min_delta": 1e-4,
            "cooldown": 0,
            "min_lr": 0.0,
        },
    ),
}

#: The arguments the designer edits, per kind (CosineDecay's own warm-up is the designer's Warmup; a
#: plateau watches the default monitor of its mode).
ARGS: dict[str, tuple[str, ...]] = {
    name: tuple(a for a in kind.cls.config_keys if a not in ("warmup_target", "warmup_steps", "monitor"))
    for name, kind in KINDS.items()
}

LOG_RATES = {"learning_rate", "initial_learning_rate", "max_learning_rate"}
FLOOR_RATES = {"end_learning_rate", "min_lr", "min_delta"}
STEP_COUNTS = {"decay_steps", "first_decay_steps", "drop_every", "total_steps"}
EPOCH_COUNTS = {"patience", "cooldown"}
FLOATS: dict[str, tuple[float, float, float]] = {  # min, max, step
    "decay_rate": (0.01, 1.0, 0.01),
    "factor": (0.01, 0.99, 0.01),
    "power": (0.1, 5.0, 0.1),
    "alpha": (0.0, 1.0, 0.01),
    "t_mul": (1.0, 4.0, 0.1),
    "m_mul": (0.05, 1.5, 0.05),
    "pct_start": (0.01, 0.99, 0.01),
}
LOG_FACTORS = {"div_factor": (0.0, 4.0), "final_div_factor": (0.0, 7.0)}
STYLE = {"description_width": "150px"}


def make_control(kind: str, arg: str, value: Any, total_steps: int, epochs: int) -> w.ValueWidget:
    """A control for ``arg`` of ``kind`` on the right scale, its range widened to hold ``value``."""
    cls, kwargs = control_spec(kind, arg, value, total_steps, epochs)
    return STRICT.get(cls, cls)(**kwargs)  # bounded controls refuse a value out of range, never clamp


def control_spec(kind: str, arg: str, value: Any, total_steps: int, epochs: int) -> tuple[type, dict[str, Any]]:
    """The widget class and keyword arguments of the control for ``arg`` holding ``value``."""
    common: dict[str, Any] = {"description": arg, "style": STYLE, "continuous_update": False}
    if arg in LOG_RATES:
        exponent = math.floor(math.log10(value))  # > 0: a design's rates are (checked_design)
        return w.FloatLogSlider, dict(
            value=value,
            base=10,
            min=min(-7, exponent),
            max=max(1, exponent + 1),
            step=0.05,
            readout_format=".2e",
            **common,
        )
    if arg in LOG_FACTORS:
        lo, hi = LOG_FACTORS[arg]
        return w.FloatLogSlider, dict(
            value=value, base=10, min=lo, max=max(hi, math.log10(value)), step=0.05, readout_format=".3g", **common
        )
    if arg in FLOOR_RATES:  # may be 0, which a log scale cannot show
        return w.BoundedFloatText, dict(
            value=value, min=0.0, max=max(1e3, value), step=1e-5, description=arg, style=STYLE
        )
    if arg in STEP_COUNTS:
        return w.IntSlider, dict(value=int(value), min=1, max=max(total_steps, int(value)), **common)
    if arg in EPOCH_COUNTS:
        return w.IntSlider, dict(value=int(value), min=0, max=max(epochs, int(value)), **common)
    if arg in FLOATS:
        lo, hi, step = FLOATS[arg]
        if arg == "decay_rate" and kind == "inverse_time":
            lo, hi = 0.0, 10.0
        if arg == "factor" and kind == "step":
            hi = 1.0
        return w.FloatSlider, dict(value=value, min=min(lo, value), max=max(hi, value), step=step, **common)
    if arg in ("staircase", "cycle"):
        return w.Checkbox, dict(value=value, description=arg, style=STYLE, indent=False)
    if arg == "mode":
        return w.Dropdown, dict(options=["min", "max"], value=value, description=arg, style=STYLE)
    if arg in ("boundaries", "values"):
        return w.Text, dict(
            value=", ".join(repr(v) for v in value), description=arg, style=STYLE, continuous_update=False
        )
    raise TypeError(f"No designer control for argument {arg!r} of kind {kind!r}")


def control_value(arg: str, control: w.ValueWidget) -> Any:
    """The argument value a control holds (lists are parsed from comma-separated text)."""
    if arg in ("boundaries", "values"):
        return [_number(part, arg) for part in str(control.value).split(",") if part.strip()]
    return control.value


def _number(text: str, arg: str) -> int | float:
    text = text.strip()
    try:
        return int(text) if arg == "boundaries" and text.lstrip("+-").isdigit() else float(text)
    except ValueError:
        raise ValueError(f"Argument `{arg}` must be a comma-separated list of numbers. Received: {text!r}") from None


def synthetic_loss_controls(
    on_refused: Callable[[str], None],
) -> tuple[StrictSlider, StrictIntSlider, StrictIntText]:
    """The controls of the synthetic loss curve a plateau design is replayed against (refusing,
    not clamping, what the page sends out of range)."""
    noise = StrictSlider(
        value=0.02,
        min=0.0,
        max=0.3,
        step=0.005,
        description="loss noise",
        continuous_update=False,
        style=STYLE,
        on_refused=on_refused,
        name="noise",
    )
    plateau_at = StrictIntSlider(
        value=10,
        min=1,
        max=30,
        description="loss plateaus at epoch",
        continuous_update=False,
        style=STYLE,
        on_refused=on_refused,
        name="plateau_at",
    )
    seed = StrictIntText(
        value=0, min=0, max=2**31 - 1, description="noise seed", style=STYLE, on_refused=on_refused, name="seed"
    )
    return noise, plateau_at, seed
