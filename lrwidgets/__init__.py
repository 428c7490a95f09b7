"""lrwidgets: see and steer the learning rate while a Keras 3 model trains.

The widgets (``TrainingDashboard``, ``ScheduleDesigner``, ``LayerLRControls``, ``LRFinder``,
``LRSweep``) are imported on first use, so that ``lrwidgets.TrainingSession`` works in a script or
on a Dask worker without
ipywidgets, bqplot or anywidget being imported.
"""

from typing import TYPE_CHECKING, Any

from lrwidgets import schedules
from lrwidgets._version import __version__
from lrwidgets.core import TrainingHistory
from lrwidgets.core.diagnosis import Diagnosis
from lrwidgets.training import (
    Diagnostician,
    LayerwiseOptimizer,
    LRRangeTest,
    TrainingController,
    TrainingRun,
    TrainingSession,
    UpdateSizeMonitor,
)
from lrwidgets.training import keras_schedules as _keras_schedules  # noqa: F401  (installs Schedule.to_keras)

if TYPE_CHECKING:  # for type checkers and the API reference; at run time imported on first use
    from lrwidgets.widgets import LayerLRControls, LRFinder, ScheduleDesigner, TrainingDashboard
    from lrwidgets.widgets.sweep import LRSweep as LRSweep  # re-exported: not in __all__ (see below)

_WIDGETS = ("LRFinder", "LRSweep", "LayerLRControls", "ScheduleDesigner", "TrainingDashboard")


def __getattr__(name: str) -> Any:
    if name == "LRSweep":  # its own module: it needs the `sweep` extra (dask.distributed)
        try:
            from lrwidgets.widgets.sweep import LRSweep
        except ModuleNotFoundError as e:
            if e.name not in ("distributed", "dask", "pandas", "cloudpickle"):
                raise
            raise ModuleNotFoundError(f"lrw.LRSweep needs {e.name}: pip install 'lrwidgets[sweep]'") from e
        return LRSweep
    if name in _WIDGETS:
        import lrwidgets.widgets

        return getattr(lrwidgets.widgets, name)
    raise AttributeError(f"module 'lrwidgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WIDGETS))


# Not "LRSweep": `from lrwidgets import *` must work without the `sweep` extra. It is public all the
# same (`lrw.LRSweep`, imported on first use) and has its entry in the API reference (tests/test_docs.py).
__all__ = [
    "Diagnosis",
    "Diagnostician",
    "LRFinder",
    "LRRangeTest",
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
