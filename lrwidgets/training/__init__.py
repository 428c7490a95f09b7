"""The training controller layer: the only code that touches model state while a fit runs."""

from lrwidgets.training.controller import ControllerCallback, Progress, TrainingController
from lrwidgets.training.layerwise import LayerwiseOptimizer, find_layerwise_optimizer, layer_groups
from lrwidgets.training.run import TrainingRun
from lrwidgets.training.update_monitor import UpdateSizeMonitor

__all__ = [
    "ControllerCallback",
    "LayerwiseOptimizer",
    "Progress",
    "TrainingController",
    "TrainingRun",
    "UpdateSizeMonitor",
    "find_layerwise_optimizer",
    "layer_groups",
]
