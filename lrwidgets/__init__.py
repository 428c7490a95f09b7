"""lrwidgets: see and steer the learning rate while a Keras 3 model trains."""

from lrwidgets._version import __version__
from lrwidgets.core import TrainingHistory
from lrwidgets.training import TrainingController, TrainingRun
from lrwidgets.widgets import TrainingDashboard

__all__ = ["TrainingController", "TrainingDashboard", "TrainingHistory", "TrainingRun", "__version__"]
