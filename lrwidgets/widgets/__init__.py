"""The widget layer: traits wired to the core and the training controller."""

from lrwidgets.widgets.dashboard import TrainingDashboard
from lrwidgets.widgets.designer import ScheduleDesigner, synthetic_loss
from lrwidgets.widgets.finder import LRFinder
from lrwidgets.widgets.layer_controls import LayerLRControls

__all__ = ["LRFinder", "LayerLRControls", "ScheduleDesigner", "TrainingDashboard", "synthetic_loss"]
