"""The training controller layer: the only code that touches model state while a fit runs."""

from lrwidgets.training.controller import ControllerCallback, Progress, TrainingController
from lrwidgets.training.run import TrainingRun

__all__ = ["ControllerCallback", "Progress", "TrainingController", "TrainingRun"]
