"""lrwidgets: see and steer the learning rate while a Keras 3 model trains."""

from lrwidgets._version import __version__
from lrwidgets.core import TrainingHistory
from lrwidgets.training import LayerwiseOptimizer, TrainingController, TrainingRun, UpdateSizeMonitor
from lrwidgets.widgets import LayerLRControls, TrainingDashboard

__all__ = [
    "LayerLRControls",
    "LayerwiseOptimizer",
    "TrainingController",
    "TrainingDashboard",
    "TrainingHistory",
    "TrainingRun",
    "UpdateSizeMonitor",
    "__version__",
]
