"""The widget layer: traits wired to the core and the training controller."""

from lrwidgets.widgets.dashboard import TrainingDashboard
from lrwidgets.widgets.layer_controls import LayerLRControls

__all__ = ["LayerLRControls", "TrainingDashboard"]
