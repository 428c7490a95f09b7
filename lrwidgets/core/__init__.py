"""The pure core of lrwidgets: numpy only, no Keras and no widget imports.

Schedule math lives in :mod:`lrwidgets.schedules`; this package holds the training history,
its decimation for the browser, smoothing, per-batch loss recovery, the rate driver (a fit's
rate at each step), the argument checks, the range test's arithmetic (``core.finder``) and the
live diagnosis's rules (``core.diagnosis`` and its detectors).
"""

from lrwidgets.core.batch_loss import BatchLossRecovery
from lrwidgets.core.decimate import MinMaxDecimator, minmax_indices
from lrwidgets.core.diagnostics import DivergenceMonitor
from lrwidgets.core.history import Event, Float32Column, TrainingHistory
from lrwidgets.core.smoothing import EmaSmoother, ema
from lrwidgets.core.ticks import log_ticks

__all__ = [
    "BatchLossRecovery",
    "DivergenceMonitor",
    "EmaSmoother",
    "Event",
    "Float32Column",
    "MinMaxDecimator",
    "TrainingHistory",
    "ema",
    "log_ticks",
    "minmax_indices",
]
