"""The training layer: the only code that touches Keras model or optimizer state.

:mod:`lrwidgets.training.keras_schedules` converts core schedules to Keras objects; importing it
installs that conversion behind ``Schedule.to_keras()``.
"""

from lrwidgets.training.keras_schedules import to_keras, to_keras_callback

__all__ = ["to_keras", "to_keras_callback"]
