"""LR sweeps on Dask: a grid of learning rates x optimizers x schedules x seeds, each trial a
headless ``TrainingSession`` on a worker, streamed live, cancellable, resumable.

Imports the training layer, the core and ``dask.distributed`` (the ``sweep`` extra:
``pip install lrwidgets[sweep]``), never a widget library: :class:`lrwidgets.LRSweep` is the view.
"""

try:  # the `sweep` extra
    import cloudpickle  # noqa: F401
    import distributed  # noqa: F401
except ModuleNotFoundError as e:
    raise ModuleNotFoundError(f"lrwidgets.sweep needs {e.name}: pip install 'lrwidgets[sweep]'", name=e.name) from e

from lrwidgets.sweep._worker import train_trial
from lrwidgets.sweep.grid import ScaledSchedule, Trial, make_grid
from lrwidgets.sweep.run import SweepRun
from lrwidgets.sweep.sweep import Sweep
from lrwidgets.sweep.trial_table import TrialCurve

__all__ = ["ScaledSchedule", "Sweep", "SweepRun", "Trial", "TrialCurve", "make_grid", "train_trial"]
