"""The widget layer: traits wired to the core and the training controller."""

from lrwidgets.widgets.dashboard import TrainingDashboard
from lrwidgets.widgets.designer import ScheduleDesigner, synthetic_loss

__all__ = ["ScheduleDesigner", "TrainingDashboard", "synthetic_loss"]
