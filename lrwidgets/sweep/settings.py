"""A sweep's settings after its grid: checked when set as the constructor checks them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lrwidgets.core.checks import check_float, check_int, received
from lrwidgets.sweep import results as _results


class SweepSettings:
    """The settings of a :class:`~lrwidgets.sweep.Sweep` that may change after construction (each
    checked as ``Sweep(...)`` checks it: ``build_model`` among them), and its read-only ``epochs``."""

    _epochs: int

    @property
    def epochs(self) -> int:
        """Epochs of each trial; read-only (trials of other epochs do not compare: a new ``Sweep``)."""
        return self._epochs

    @property
    def build_model(self) -> Callable[[], Any]:
        """The function that builds each trial's model; a change applies to the next run (a resume
        keeps the trials that ended, built by the one before)."""
        return self._build_model

    @build_model.setter
    def build_model(self, build_model: Callable[[], Any]) -> None:
        if not callable(build_model):
            raise TypeError(f"Argument `build_model` must be callable. {received('build_model', build_model)}")
        self._build_model = build_model

    @property
    def n_workers(self) -> int | None:
        """Worker processes of the embedded cluster (None: one a core); a change applies when it next starts."""
        return self._n_workers

    @n_workers.setter
    def n_workers(self, n_workers: int | None) -> None:
        self._n_workers = None if n_workers is None else check_int("n_workers", n_workers, ge=1, le=1024)

    @property
    def path(self) -> Path | None:
        """The JSON file that receives the results after every trial (None: none); a change applies to
        the next trial's end, and a new path that holds results is refused by :meth:`run` as ``path=`` is."""
        return self._path

    @path.setter
    def path(self, path: str | Path | None) -> None:
        self._path = _results.check_path(path)

    @property
    def update_interval(self) -> float:
        """Seconds between two progress messages of a trial (0.1 to 60); a change applies to the next run."""
        return self._update_interval

    @update_interval.setter
    def update_interval(self, update_interval: float) -> None:
        self._update_interval = check_float("update_interval", update_interval, ge=0.1, le=60)

    @property
    def max_points(self) -> int:
        """Points of a trial's loss curve in each progress message (1 to 10,000); a change applies to the next run."""
        return self._max_points

    @max_points.setter
    def max_points(self, max_points: int) -> None:
        self._max_points = check_int("max_points", max_points, ge=1, le=10_000)
