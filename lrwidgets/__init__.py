"""lrwidgets: see and steer the learning rate while a Keras 3 model trains."""

from lrwidgets._version import __version__

__all__ = ["__version__"]
