"""Learning-rate schedules: pure numpy, no Keras and no widget imports.

Each schedule is callable on an int step (a float comes back) or on a numpy array of steps
(vectorized), has ``get_config()`` / ``from_config()`` with Keras' argument names, ``to_code()``
and, where Keras has the same schedule, ``to_keras()``.

Example:
    >>> import numpy as np
    >>> from lrwidgets.schedules import ExponentialDecay, deserialize, serialize
    >>> s = ExponentialDecay(1e-3, decay_steps=100, decay_rate=0.5)
    >>> s(np.array([0, 100, 200])).tolist()
    [0.001, 0.0005, 0.00025]
    >>> deserialize(serialize(s)) == s
    True
"""

from lrwidgets.schedules._base import NoKerasEquivalentError, Schedule
from lrwidgets.schedules.constant import Constant
from lrwidgets.schedules.cosine import CosineDecay, CosineDecayRestarts
from lrwidgets.schedules.exponential import ExponentialDecay, InverseTimeDecay
from lrwidgets.schedules.one_cycle import OneCycle
from lrwidgets.schedules.plateau import PlateauTracker, ReduceOnPlateau
from lrwidgets.schedules.polynomial import PolynomialDecay
from lrwidgets.schedules.serialization import deserialize, get, serialize
from lrwidgets.schedules.step import PiecewiseConstantDecay, StepDecay
from lrwidgets.schedules.warmup import Warmup

__all__ = [
    "Constant",
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseTimeDecay",
    "NoKerasEquivalentError",
    "OneCycle",
    "PiecewiseConstantDecay",
    "PlateauTracker",
    "PolynomialDecay",
    "ReduceOnPlateau",
    "Schedule",
    "StepDecay",
    "Warmup",
    "deserialize",
    "get",
    "serialize",
]
