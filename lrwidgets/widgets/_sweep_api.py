"""The :class:`~lrwidgets.sweep.Sweep` API of the ``LRSweep`` widget: each name is the sweep's own,
so that code written against a headless sweep runs unchanged on the widget (``sweep.monitor =
"val_accuracy"`` re-ranks the trials, and the views follow)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lrwidgets.sweep import Sweep, TrialCurve


class SweepAPI:
    """Delegates to ``self.sweep``: reading, ranking, steering and saving the sweep's trials, and its
    settings (each checked by the sweep). ``max_points`` is the widget's own (the points drawn); the
    sweep's (the points of a progress message) is ``widget.sweep.max_points``."""

    sweep: Sweep

    @property
    def trials(self) -> list[Any]:
        return self.sweep.trials

    @property
    def monitor(self) -> str | None:
        """The epoch log that ranks the trials (:attr:`lrwidgets.sweep.Sweep.monitor`); set it to
        rank the same trials by another one: nothing runs again, the table re-sorts."""
        return self.sweep.monitor

    @monitor.setter
    def monitor(self, monitor: str | None) -> None:
        self.sweep.monitor = monitor

    @property
    def mode(self) -> str:
        """The monitor's direction (:attr:`lrwidgets.sweep.Sweep.mode`): "auto", "min" or "max"."""
        return self.sweep.mode

    @mode.setter
    def mode(self, mode: str) -> None:
        self.sweep.mode = mode

    @property
    def epochs(self) -> int:
        """Epochs of each trial (read-only, as the sweep's)."""
        return self.sweep.epochs

    @property
    def n_workers(self) -> int | None:
        return self.sweep.n_workers

    @n_workers.setter
    def n_workers(self, n_workers: int | None) -> None:
        self.sweep.n_workers = n_workers

    @property
    def path(self) -> Any:
        return self.sweep.path

    @path.setter
    def path(self, path: Any) -> None:
        self.sweep.path = path

    @property
    def update_interval(self) -> float:
        return self.sweep.update_interval

    @update_interval.setter
    def update_interval(self, update_interval: float) -> None:
        self.sweep.update_interval = update_interval

    @property
    def monitor_name(self) -> str:
        """The log the trials are ranked by (``monitor``, else ``val_loss`` or ``loss``)."""
        return self.sweep.monitor_name

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """:meth:`lrwidgets.sweep.Sweep.run`: starts the trials, returns a ``SweepRun`` at once."""
        return self.sweep.run(*args, **kwargs)

    @property
    def running(self) -> bool:
        return self.sweep.running

    def cancel(self, trial: int) -> None:
        self.sweep.cancel(trial)

    def stop(self) -> None:
        self.sweep.stop()

    def wait(self, timeout: float | None = None) -> Any:
        return self.sweep.wait(timeout)

    def subscribe(self, listener: Callable[[set[int]], None]) -> Callable[[], None]:
        """:meth:`lrwidgets.sweep.Sweep.subscribe`: ``listener(trials)`` after trials change."""
        return self.sweep.subscribe(listener)

    def status(self, trial: int) -> str:
        return self.sweep.status(trial)

    @property
    def statuses(self) -> dict[int, str]:
        return self.sweep.statuses

    def curve(self, trial: int) -> TrialCurve:
        """What trial ``trial`` has streamed so far (a copy)."""
        return self.sweep.curve(trial)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.sweep.rows

    @property
    def results(self) -> Any:
        return self.sweep.results

    def ranking(self) -> list[dict[str, Any]]:
        return self.sweep.ranking()

    @property
    def best(self) -> dict[str, Any] | None:
        return self.sweep.best

    @property
    def why_no_best(self) -> str | None:
        return self.sweep.why_no_best

    @property
    def best_schedule(self) -> Any:
        return self.sweep.best_schedule

    def apply_best(self, target: Any) -> dict[str, Any]:
        return self.sweep.apply_best(target)

    def to_csv(self, path: Any) -> None:
        self.sweep.to_csv(path)

    def to_json(self, path: Any) -> None:
        self.sweep.to_json(path)
