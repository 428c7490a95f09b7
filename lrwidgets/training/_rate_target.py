"""Setting a learning rate on whatever a suggestion is applied to: a session or its view, a schedule
design, a compiled model, or anything with a settable rate."""

from __future__ import annotations

from typing import Any

import keras

from lrwidgets.training import _state, ownership
from lrwidgets.training.session import TrainingSession


def set_learning_rate(target: Any, rate: float, source: str) -> None:
    """Set ``target``'s learning rate to ``rate`` (recorded as set by ``source`` where it is recorded).

    ``target``: a ``TrainingSession`` or a dashboard, a ``ScheduleDesigner`` (its initial or maximum
    rate), a compiled Keras model (its optimizer's rate; through its session when one trains it),
    or anything with ``set_learning_rate`` or a settable ``learning_rate``.
    """
    session = target if isinstance(target, TrainingSession) else getattr(target, "session", None)
    if isinstance(session, TrainingSession):
        session.set_learning_rate(rate, source=source)
    elif (argument := _designer_rate_argument(target)) is not None:
        target.update(**{argument: rate})
    elif isinstance(target, keras.Model):
        refuse_reserved(target)
        owner = ownership.owner(target)
        if owner is not None:
            owner.set_learning_rate(rate, source=source)
        else:
            _, variable = _state.steerable_optimizer(target)
            variable.assign(rate)
    elif callable(getattr(target, "set_learning_rate", None)):
        target.set_learning_rate(rate)
    elif hasattr(target, "learning_rate"):
        target.learning_rate = rate
    else:
        raise TypeError(
            "Argument `target` must be a TrainingSession, a TrainingDashboard, a ScheduleDesigner, a compiled"
            f" keras.Model or have a `learning_rate` to set. Received: target={type(target).__name__}"
        )


def refuse_reserved(model: Any) -> None:
    """A rate set on a model in a range test would skew its ramp, or be undone by its restore."""
    if ownership.reserved(model):
        raise RuntimeError(
            f"Argument `target` ({model.name!r}) is in a learning-rate range test, which puts it back as it was"
            " when it ends: set its rate before or after the test."
        )


def _designer_rate_argument(target: Any) -> str | None:
    """The argument setting a ScheduleDesigner's level of the rate (duck-typed: no widget imported)."""
    has_trait = getattr(target, "has_trait", None)
    if not callable(has_trait) or not has_trait("value") or not callable(getattr(target, "update", None)):
        return None
    config = getattr(target, "value", {}).get("config", {})
    for name in ("initial_learning_rate", "max_learning_rate", "learning_rate"):
        if name in config:
            return name
    raise ValueError(
        f"This schedule design ({target.value.get('kind')!r}) has no single learning rate to set;"
        " apply the suggestion to a design with an initial or maximum rate."
    )
