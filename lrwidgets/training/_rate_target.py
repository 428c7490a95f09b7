"""Setting a learning rate on whatever a suggestion is applied to: a session or its view, a schedule
design, a compiled model, or anything with a settable rate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from lrwidgets.core.checks import received
from lrwidgets.training import _state, ownership
from lrwidgets.training.session import TrainingSession


def set_learning_rate(target: Any, rate: float, source: str) -> None:
    """Set ``target``'s learning rate to ``rate`` (recorded as set by ``source`` where it is recorded).

    ``target``: a ``TrainingSession`` or a dashboard, a ``ScheduleDesigner`` (its initial or maximum
    rate), a compiled Keras model (its optimizer's rate; through its session when one trains it),
    or anything with ``set_learning_rate`` or a settable ``learning_rate``.
    """
    _setter(target)(rate, source)


def check_rate_target(target: Any) -> None:
    """Refuse, when it is given, a ``target`` that :func:`set_learning_rate` could never set (a
    ``TypeError`` naming it): not first when a suggestion is applied."""
    _setter(target)


def _setter(target: Any) -> Callable[[float, str], None]:
    session = target if isinstance(target, TrainingSession) else getattr(target, "session", None)
    if isinstance(session, TrainingSession):
        return lambda rate, source: session.set_learning_rate(rate, source=source)
    if _is_design(target):
        return lambda rate, source: target.update(**{_designer_rate_argument(target): rate})
    if isinstance(target, keras.Model):
        return lambda rate, source: set_model_rate(target, rate, source)
    if callable(getattr(target, "set_learning_rate", None)):
        return lambda rate, source: target.set_learning_rate(rate)
    if hasattr(target, "learning_rate"):
        return lambda rate, source: setattr(target, "learning_rate", rate)
    raise TypeError(
        "Argument `target` must be a TrainingSession, a TrainingDashboard, a ScheduleDesigner, a compiled"
        f" keras.Model or have a `learning_rate` to set. {received('target', target)}"
    )


def set_model_rate(model: Any, rate: float, source: str) -> None:
    """Set a compiled model's rate: through the session training it (recorded as set by ``source``),
    or at once when idle; refused during a range test of it."""
    refuse_reserved(model)
    owner = ownership.owner(model)
    if owner is not None:
        owner.set_learning_rate(rate, source=source)
        return
    _, variable = _state.steerable_optimizer(model, "target")
    _state.sync(model)
    variable.assign(rate)


def refuse_reserved(model: Any) -> None:
    """A rate set on a model in a range test would skew its ramp, or be undone by its restore."""
    if ownership.reserved(model):
        raise RuntimeError(
            f"Argument `target` ({model.name!r}) is in a learning-rate range test, which puts it back as it was"
            " when it ends: set its rate before or after the test."
        )


def _is_design(target: Any) -> bool:
    """A ScheduleDesigner (duck-typed: no widget imported)."""
    has_trait = getattr(target, "has_trait", None)
    return callable(has_trait) and has_trait("value") and callable(getattr(target, "update", None))


def _designer_rate_argument(target: Any) -> str:
    """The argument setting a ScheduleDesigner's level of the rate (read when a rate is set: its kind may change)."""
    config = getattr(target, "value", {}).get("config", {})
    for name in ("initial_learning_rate", "max_learning_rate", "learning_rate"):
        if name in config:
            return name
    raise ValueError(
        f"This schedule design ({target.value.get('kind')!r}) has no single learning rate to set;"
        " apply the suggestion to a design with an initial or maximum rate."
    )
