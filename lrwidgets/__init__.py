"""lrwidgets: see and steer the learning rate while a Keras 3 model trains.

The widgets (``TrainingDashboard``, ``ScheduleDesigner``, ``LayerLRControls``) are imported on
first use, so that ``lrwidgets.TrainingSession`` works in a script or on a Dask worker without
ipywidgets, bqplot or anywidget being imported.
"""

from typing import Any

from lrwidgets import schedules
from lrwidgets._version import __version__
from lrwidgets.core import TrainingHistory
from lrwidgets.core.diagnosis import Diagnosis
from lrwidgets.training import (
    Diagnostician,
    LayerwiseOptimizer,
    TrainingController,
    TrainingRun,
    TrainingSession,
    UpdateSizeMonitor,
)
from lrwidgets.training import keras_schedules as _keras_schedules  # noqa: F401  (installs Schedule.to_keras)

_WIDGETS = ("LayerLRControls", "ScheduleDesigner", "TrainingDashboard")


def __getattr__(name: str) -> Any:
    if name in _WIDGETS:
        import lrwidgets.widgets

        return getattr(lrwidgets.widgets, name)
    raise AttributeError(f"module 'lrwidgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WIDGETS))


__all__ = [
    "Diagnosis",
    "Diagnostician",
    "LayerLRControls",
    "LayerwiseOptimizer",
    "ScheduleDesigner",
    "TrainingController",
    "TrainingDashboard",
    "TrainingHistory",
    "TrainingRun",
    "TrainingSession",
    "UpdateSizeMonitor",
    "__version__",
    "schedules",
]
