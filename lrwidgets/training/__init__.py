"""The training layer: the only code that touches Keras model or optimizer state.

:class:`TrainingSession` is its public face: a fit run in the background, steered live and
recorded, with no widget imported; :class:`LRRangeTest` runs the learning-rate range test
through it. Its parts: the controller (requests, threading, lifecycle),
its callbacks (the per-batch work), the recorder (history, NaN guard, progress), ownership (one
fit per model, saves during a fit). :mod:`lrwidgets.training.keras_schedules` converts core
schedules to Keras objects; :mod:`lrwidgets.training.layerwise` holds the per-layer optimizer.
"""

from lrwidgets.training._rate_target import check_rate_target
from lrwidgets.training.callback import ControllerCallback
from lrwidgets.training.controller import TrainingController
from lrwidgets.training.diagnostician import Diagnostician
from lrwidgets.training.finder import LRRangeTest, RangeTestRun
from lrwidgets.training.keras_schedules import to_keras, to_keras_callback
from lrwidgets.training.layer_matching import layer_groups
from lrwidgets.training.layerwise import LayerwiseOptimizer, find_layerwise_optimizer
from lrwidgets.training.progress import Progress
from lrwidgets.training.run import TrainingRun
from lrwidgets.training.session import TrainingSession
from lrwidgets.training.snapshot import Snapshot
from lrwidgets.training.update_monitor import UpdateSizeMonitor

__all__ = [
    "ControllerCallback",
    "Diagnostician",
    "LRRangeTest",
    "LayerwiseOptimizer",
    "Progress",
    "RangeTestRun",
    "Snapshot",
    "TrainingController",
    "TrainingRun",
    "TrainingSession",
    "UpdateSizeMonitor",
    "check_rate_target",
    "find_layerwise_optimizer",
    "layer_groups",
    "to_keras",
    "to_keras_callback",
]
