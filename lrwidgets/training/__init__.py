"""The training layer: the only code that touches Keras model or optimizer state.

The controller applies every change in the training thread at batch boundaries;
:mod:`lrwidgets.training.keras_schedules` converts core schedules to Keras objects (importing it
installs that conversion behind ``Schedule.to_keras()``); :mod:`lrwidgets.training.layerwise`
holds the per-layer learning-rate optimizer.
"""

from lrwidgets.training.controller import ControllerCallback, Progress, TrainingController
from lrwidgets.training.keras_schedules import to_keras, to_keras_callback
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
    "to_keras",
    "to_keras_callback",
]
