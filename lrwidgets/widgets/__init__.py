"""The widget layer: views and controls, traits wired to the core and to ``TrainingSession``."""

from lrwidgets.widgets.dashboard import TrainingDashboard
from lrwidgets.widgets.designer import ScheduleDesigner, synthetic_loss
from lrwidgets.widgets.finder import LRFinder
from lrwidgets.widgets.layer_controls import LayerLRControls

__all__ = ["LRFinder", "LayerLRControls", "ScheduleDesigner", "TrainingDashboard", "synthetic_loss"]
