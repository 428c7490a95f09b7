"""``{"class_name": ..., "config": ...}`` dicts to schedules and back, as Keras serializes its own."""

from __future__ import annotations

from typing import Any

from lrwidgets.core.checks import is_real
from lrwidgets.schedules._base import REGISTRY, Schedule
from lrwidgets.schedules.constant import Constant

#: Deepest nesting of serialized schedules (a ``Warmup`` holds one): deeper is a mistake, or a
#: page's attempt to exhaust the interpreter's stack.
MAX_NESTING = 32


def serialize(schedule: Schedule) -> dict[str, Any]:
    """A JSON-able dict naming the schedule's class and holding its config.

    Example:
        >>> from lrwidgets.schedules import StepDecay
        >>> serialize(StepDecay(0.1, drop_every=10, factor=0.5))
        {'class_name': 'StepDecay', 'config': {'initial_learning_rate': 0.1, 'drop_every': 10, 'factor': 0.5}}
    """
    if not isinstance(schedule, Schedule):
        raise TypeError(f"Expected an lrwidgets schedule. Received: schedule={schedule!r}")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict[str, Any]) -> Schedule:
    """The schedule described by ``serialize``'s output.

    Example:
        >>> deserialize({"class_name": "Constant", "config": {"learning_rate": 0.01}})
        Constant(learning_rate=0.01)
    """
    depth = _nesting(config)
    if depth > MAX_NESTING:
        raise ValueError(
            f"Argument `config` nests serialized schedules (each in the `schedule` of the one around it) "
            f"more than {MAX_NESTING} deep. Received: config nested {depth} deep or more"
        )
    if not isinstance(config, dict) or set(config) != {"class_name", "config"}:
        raise TypeError(
            "A serialized schedule must be a dict with exactly the keys 'class_name' and 'config'. "
            f"Received: config={config!r}"
        )
    name = config["class_name"]
    cls = REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"Unknown schedule class_name {name!r}. Known: {', '.join(sorted(REGISTRY))}")
    inner = config["config"]
    if not isinstance(inner, dict):
        raise TypeError(f"The 'config' of a serialized schedule must be a dict. Received: config={inner!r}")
    return cls.from_config(inner)


def _nesting(config: Any) -> int:
    """How deep serialized schedules nest in ``config``, counted without recursion (up to ``MAX_NESTING + 1``)."""
    depth = 0
    while isinstance(config, dict) and depth <= MAX_NESTING:
        depth += 1
        inner = config.get("config")
        config = inner.get("schedule") if isinstance(inner, dict) else None
    return depth


def get(identifier: Schedule | dict[str, Any] | float) -> Schedule:
    """A schedule from a schedule (returned as is), a serialized dict, or a number (a ``Constant``).

    Example:
        >>> get(0.001)
        Constant(learning_rate=0.001)
    """
    if isinstance(identifier, Schedule):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if is_real(identifier):
        return Constant(learning_rate=identifier)
    raise TypeError(
        "Argument `identifier` must be a schedule, a dict made by `serialize`, or a number (a constant rate)."
        f" Received: identifier={identifier!r}"
    )
