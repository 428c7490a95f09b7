"""The learning-rate range test, as arithmetic: the ramp, the smoothed curve, the stop rule
(:mod:`lrwidgets.core.range_test`) and the four suggestion methods of fastai's ``lr_find``
(``fastai/callback/schedule.py``) with lrwidgets' default (:mod:`lrwidgets.core.suggestions`).

Pure numpy: the training layer (``lrwidgets.training.finder``) runs the sweep through a
``TrainingSession`` and hands the recorded rates and batch losses to these functions.
"""

from lrwidgets.core.fall import judge_fall
from lrwidgets.core.range_test import (
    MAX_STEPS,
    MIN_STEPS,
    MODES,
    SMOOTHING,
    Ramp,
    RangeTestMonitor,
    SweepCurve,
    check_ramp,
    smooth_losses,
)
from lrwidgets.core.suggestions import (
    DEFAULT_METHOD,
    EXPLANATIONS,
    METHODS,
    SKIP_END,
    SLIDE_THRESHOLD,
    SLIDE_WINDOW,
    Suggestion,
    analysed,
    combine,
    minimum,
    robust_valley,
    slide,
    steep,
    suggest,
    valley,
)

__all__ = [
    "DEFAULT_METHOD",
    "EXPLANATIONS",
    "MAX_STEPS",
    "METHODS",
    "MIN_STEPS",
    "MODES",
    "SKIP_END",
    "SLIDE_THRESHOLD",
    "SLIDE_WINDOW",
    "SMOOTHING",
    "Ramp",
    "RangeTestMonitor",
    "Suggestion",
    "SweepCurve",
    "analysed",
    "check_ramp",
    "combine",
    "judge_fall",
    "minimum",
    "robust_valley",
    "slide",
    "smooth_losses",
    "steep",
    "suggest",
    "valley",
]
