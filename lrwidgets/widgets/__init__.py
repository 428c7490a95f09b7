"""The widget layer: traits wired to the core and the training controller."""

from lrwidgets.widgets.dashboard import TrainingDashboard

__all__ = ["TrainingDashboard"]
