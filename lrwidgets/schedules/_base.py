"""The schedule base class, argument checks in Keras' error style, and the class registry."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

#: Every public schedule class by name; filled by ``Schedule.__init_subclass__``.
REGISTRY: dict[str, type[Schedule]] = {}

# Set by lrwidgets.training.keras_schedules (the layer allowed to import Keras), so that the core
# can offer ``schedule.to_keras()`` without importing Keras itself.
_keras_converter: Callable[[Schedule], Any] | None = None


class NoKerasEquivalentError(ValueError):
    """Raised by ``to_keras()`` for a schedule that Keras has no schedule object for."""


def set_keras_converter(converter: Callable[[Schedule], Any]) -> None:
    """Install the function that ``Schedule.to_keras()`` delegates to (done by ``lrwidgets.training``)."""
    global _keras_converter
    _keras_converter = converter


class Schedule:
    """A learning-rate schedule: a pure function of the training step.

    Subclasses implement ``_evaluate(steps)`` on a float array of steps and ``get_config()``.
    Calling a schedule on an int returns a float; on a numpy array of steps, an array of the
    same shape (vectorized): float64, except that float32 steps are computed in float32, several
    times faster where there are cosines (what a chart needs; exact for steps below 2**24), and
    again in float64 where float32's range falls short.
    """

    #: Name of the Keras schedule class this one matches, if any (see ``keras_spec``).
    keras_class_name: ClassVar[str | None] = None
    #: Constructor arguments, in order; each is stored as the attribute of that name.
    config_keys: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            REGISTRY[cls.__name__] = cls

    def __call__(self, step: Any) -> Any:
        steps = _as_steps(step)
        values = self._evaluate(steps)
        if values.dtype == np.float32 and not np.all(np.isfinite(values)):
            # A parameter or an intermediate beyond float32's range (a period of 1e-100 steps):
            # these steps are computed again in float64.
            with np.errstate(over="ignore"):
                values = self._evaluate(steps.astype(np.float64)).astype(np.float32)
        if steps.ndim == 0:
            return float(values)
        return values

    def _evaluate(self, steps: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as a flat JSON-able dict with Keras' argument names."""
        # Lists are copied so that editing a config never edits the schedule.
        return {key: _copy(getattr(self, key)) for key in self.config_keys}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Schedule:
        """Rebuild a schedule from ``get_config()``, or from the Keras schedule's own ``get_config()``
        (its ``name`` is dropped: a schedule here has none)."""
        if not isinstance(config, Mapping):
            raise TypeError(f"Argument `config` must be a dict. Received: config={config!r}")
        config = {k: v for k, v in config.items() if k != "name"}
        unknown = sorted(set(config) - set(cls.config_keys))
        if unknown and cls.get_config is Schedule.get_config:  # (a get_config of its own may add keys)
            raise ValueError(
                f"Argument `config` of {cls.__name__}.from_config has unknown keys {unknown}; its keys:"
                f" {list(cls.config_keys)}. Received: config={config!r}"
            )
        return cls(**config)

    def keras_spec(self) -> Any:
        """The Keras equivalent in Keras' serialized form, ``{"class_name": ..., "config": ...}``.

        A float for a constant learning rate (Keras' own form of one). Raises
        :class:`NoKerasEquivalentError` where Keras has no schedule that computes the same values.
        """
        if self.keras_class_name is None:
            raise NoKerasEquivalentError(f"{type(self).__name__} has no equivalent in keras.optimizers.schedules.")
        return {"class_name": self.keras_class_name, "config": self.get_config()}

    def to_keras(self) -> Any:
        """The native ``keras.optimizers.schedules`` object computing the same learning rates.

        The conversion needs Keras, so it lives in :mod:`lrwidgets.training.keras_schedules`
        (installed when ``lrwidgets`` is imported); this core module stays numpy-only.
        Raises :class:`NoKerasEquivalentError` where Keras has none.
        """
        self.keras_spec()  # raise the clear error before anything else
        if _keras_converter is None:
            raise RuntimeError("Import lrwidgets.training to convert schedules to Keras.")
        return _keras_converter(self)

    def to_code(self) -> str:
        """A Python snippet that rebuilds this schedule, ready to paste into a notebook."""
        names = sorted(self._code_names())
        return f"from lrwidgets.schedules import {', '.join(names)}\n\nschedule = {self._code_expr()}\n"

    def _code_names(self) -> set[str]:
        return {type(self).__name__}

    def _code_expr(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __repr__(self) -> str:
        return self._code_expr()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Schedule)
        return self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, json.dumps(self.get_config(), sort_keys=True)))


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def _as_steps(step: Any) -> np.ndarray:
    if isinstance(step, (bool, np.bool_)):
        raise TypeError(f"A step must be a number or an array of numbers. Received: step={step!r}")
    if isinstance(step, int) and not -(2**63) <= step < 2**63:
        step = float(step)  # beyond int64 (numpy would make an object array of it): a float step
    try:
        steps = np.asarray(step)
    except Exception as e:  # an object numpy cannot turn into an array
        raise TypeError(f"A step must be a number or an array of numbers. Received: step={step!r}") from e
    if steps.dtype.kind not in "iuf":
        raise TypeError(f"A step must be a number or an array of numbers. Received: step={step!r}")
    steps = steps.astype(np.float32 if steps.dtype == np.float32 else np.float64, copy=False)
    if steps.size and not (steps >= 0).all():  # a NaN step too (np.nanmin skipped it, or warned on all-NaN)
        raise ValueError(f"Steps must be >= 0 (a number, not NaN). Received: step={step!r}")
    return steps


# Argument checks live in lrwidgets.core.checks; re-exported here for the schedule modules.
from lrwidgets.core.checks import check_bool, check_float, check_int, check_steps, received  # noqa: E402

__all__ = ["check_bool", "check_float", "check_int", "check_steps", "received"]
