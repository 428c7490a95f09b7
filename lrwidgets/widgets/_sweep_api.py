"""The :class:`~lrwidgets.sweep.Sweep` API of the ``LRSweep`` widget: each name is the sweep's own,
so that code written against a headless sweep runs unchanged on the widget (``sweep.monitor =
"val_accuracy"`` re-ranks the trials, and the views follow)."""

from __future__ import annotations

from typing import Any

from lrwidgets.sweep import Sweep
from lrwidgets.widgets._delegate import delegated


def _sweeps(name: str, settable: bool = False) -> Any:
    """The sweep's attribute ``name`` as the widget's: read from it, and set on it (which checks the
    value) when ``settable``; read-only otherwise, as on the sweep."""

    def get(self: SweepAPI) -> Any:
        return getattr(self.sweep, name)

    def put(self: SweepAPI, value: Any) -> None:
        setattr(self.sweep, name, value)

    return property(get, put if settable else None, doc=f"The sweep's ``{name}`` (:class:`lrwidgets.sweep.Sweep`).")


def _sweeps_method(name: str) -> Any:
    """The sweep's method ``name`` as the widget's."""
    return delegated("sweep", Sweep, name)


class SweepAPI:
    """Delegates to ``self.sweep``: reading, ranking, steering and saving the sweep's trials, and its
    settings (each checked by the sweep). ``max_points`` is the widget's own (the points drawn); the
    sweep's (the points of a progress message) is ``widget.sweep.max_points``."""

    sweep: Sweep

    # settable (checked by the sweep; ``monitor`` and ``mode`` re-rank the trials and the views follow)
    monitor = _sweeps("monitor", settable=True)
    mode = _sweeps("mode", settable=True)
    n_workers = _sweeps("n_workers", settable=True)
    path = _sweeps("path", settable=True)
    update_interval = _sweeps("update_interval", settable=True)
    build_model = _sweeps("build_model", settable=True)
    # read-only
    trials = _sweeps("trials")
    epochs = _sweeps("epochs")
    monitor_name = _sweeps("monitor_name")
    running = _sweeps("running")
    statuses = _sweeps("statuses")
    rows = _sweeps("rows")
    results = _sweeps("results")
    best = _sweeps("best")
    why_no_best = _sweeps("why_no_best")
    best_schedule = _sweeps("best_schedule")
    # methods
    _sweeps_run = _sweeps_method("run")

    def run(self, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "_closed", False):  # it trained with no view (an embedded cluster started again)
            raise RuntimeError("This LRSweep is closed: make a new one, or run its sweep (`widget.sweep.run`).")
        return self._sweeps_run(*args, **kwargs)

    run.__doc__, run.__wrapped__ = Sweep.run.__doc__, Sweep.run  # type: ignore[attr-defined]
    cancel = _sweeps_method("cancel")
    stop = _sweeps_method("stop")
    wait = _sweeps_method("wait")
    subscribe = _sweeps_method("subscribe")
    status = _sweeps_method("status")
    curve = _sweeps_method("curve")
    ranking = _sweeps_method("ranking")
    apply_best = _sweeps_method("apply_best")
    to_csv = _sweeps_method("to_csv")
    to_json = _sweeps_method("to_json")
