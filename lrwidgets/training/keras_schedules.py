"""Core schedules to native Keras objects (the core cannot import Keras; this layer can).

Importing this module installs :func:`to_keras` behind ``Schedule.to_keras()``. Keras itself is
imported on first use, so importing lrwidgets does not pick the Keras backend.
"""

from __future__ import annotations

from typing import Any

from lrwidgets.schedules import ReduceOnPlateau, Schedule
from lrwidgets.schedules._base import set_keras_converter
from lrwidgets.schedules.plateau import check_monitor


def to_keras(schedule: Schedule) -> Any:
    """The ``keras.optimizers.schedules`` object (or, for a constant, the float) matching ``schedule``.

    Raises ``lrwidgets.schedules.NoKerasEquivalentError`` where Keras has none (one-cycle,
    plateau, a warm-up in front of anything but a cosine decay).

    Example:
        >>> from lrwidgets.schedules import StepDecay
        >>> k = to_keras(StepDecay(0.1, drop_every=10, factor=0.5))
        >>> type(k).__name__, round(float(k(20)), 6)
        ('ExponentialDecay', 0.025)
    """
    if not isinstance(schedule, Schedule):
        raise TypeError(f"Expected an lrwidgets schedule. Received: schedule={schedule!r}")
    spec = schedule.keras_spec()
    if isinstance(spec, float):
        return spec
    import keras

    return keras.optimizers.schedules.deserialize(spec)


def to_keras_callback(plateau: ReduceOnPlateau, monitor: str | None = None, verbose: int = 0) -> Any:
    """The ``keras.callbacks.ReduceLROnPlateau`` with ``plateau``'s arguments (``monitor``: by
    default the plateau's own).

    The optimizer must start at ``plateau.initial_learning_rate`` (a float, not a schedule object:
    Keras cannot reduce a schedule's rate).

    Example:
        >>> cb = to_keras_callback(ReduceOnPlateau(1e-3, factor=0.5, patience=3), monitor="loss")
        >>> type(cb).__name__, cb.factor, cb.patience
        ('ReduceLROnPlateau', 0.5, 3)
    """
    if not isinstance(plateau, ReduceOnPlateau):
        raise TypeError(f"Expected a ReduceOnPlateau. Received: plateau={plateau!r}")
    import keras

    config = plateau.get_config()
    del config["initial_learning_rate"]
    config["monitor"] = plateau.monitor if monitor is None else check_monitor(monitor, plateau.mode)
    return keras.callbacks.ReduceLROnPlateau(verbose=verbose, **config)


set_keras_converter(to_keras)
