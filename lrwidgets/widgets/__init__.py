"""The widget layer: traits wired to the core and the training controller."""

from lrwidgets.widgets.designer import ScheduleDesigner, synthetic_loss

__all__ = ["ScheduleDesigner", "synthetic_loss"]
