"""The training layer: the only code that touches Keras model or optimizer state.

The controller applies every change in the training thread at batch boundaries;
:mod:`lrwidgets.training.keras_schedules` converts core schedules to Keras objects (importing it
installs that conversion behind ``Schedule.to_keras()``).
"""

from lrwidgets.training.controller import ControllerCallback, Progress, TrainingController
from lrwidgets.training.keras_schedules import to_keras, to_keras_callback
from lrwidgets.training.run import TrainingRun

__all__ = ["ControllerCallback", "Progress", "TrainingController", "TrainingRun", "to_keras", "to_keras_callback"]
