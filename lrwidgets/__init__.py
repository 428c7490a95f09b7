"""lrwidgets: see and steer the learning rate while a Keras 3 model trains."""

from lrwidgets import schedules
from lrwidgets._version import __version__
from lrwidgets.core import TrainingHistory
from lrwidgets.training import TrainingController, TrainingRun
from lrwidgets.training import keras_schedules as _keras_schedules  # noqa: F401  (installs Schedule.to_keras)
from lrwidgets.widgets import ScheduleDesigner, TrainingDashboard

__all__ = [
    "ScheduleDesigner",
    "TrainingController",
    "TrainingDashboard",
    "TrainingHistory",
    "TrainingRun",
    "__version__",
    "schedules",
]
