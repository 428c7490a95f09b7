"""What a sweep's trials have given: statuses, curves, rows, the ranking and the best trial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lrwidgets.core.checks import received
from lrwidgets.sweep import results as _results
from lrwidgets.sweep.grid import Trial
from lrwidgets.sweep.trial_table import STATUSES, TrialCurve, TrialTable, check_trial


class SweepResults:
    """The reading side of a :class:`~lrwidgets.sweep.Sweep`: its trials' table, ranked by ``monitor``.

    ``monitor`` only ranks the trials (each row keeps the best and final value of every epoch
    log): set it after a run to rank the same trials by another log, nothing runs again.
    ``mode`` ("auto", "min", "max") is the monitor's direction.
    """

    _trials: tuple[Trial, ...]
    _table: TrialTable
    _monitor: str | None = None
    _mode: str = "auto"

    @property
    def trials(self) -> tuple[Trial, ...]:
        """The grid's trials, in trial order; read-only (another grid is a new ``Sweep``)."""
        return self._trials

    @property
    def monitor(self) -> str | None:
        """The epoch log that ranks the trials; None: ``val_loss`` when trials have one, else ``loss``."""
        return self._monitor

    @monitor.setter
    def monitor(self, monitor: str | None) -> None:
        if monitor is not None and (not isinstance(monitor, str) or not monitor):
            raise TypeError(
                f"Argument `monitor` must be an epoch log name such as 'val_loss'. {received('monitor', monitor)}"
            )
        self._monitor = monitor
        self._rank_again()

    @property
    def mode(self) -> str:
        """The direction of :attr:`monitor`: "min" (lower is better), "max", or "auto" (as Keras marks
        the model's metrics, else by the name: lower for a loss, an error, a count of errors, ``nll``,
        ``perplexity``; higher otherwise). Given ("min" or "max"), the trials take the monitor's best
        that way as they run (``best_<monitor>``, and its ``val_``/training twin): a trial that ran
        with the other direction is not ranked (run it again)."""
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        self._mode = _results.check_mode(mode)
        self._rank_again()

    def _rank_again(self) -> None:
        table = getattr(self, "_table", None)
        if table is not None:  # set after construction: the views rank again
            table.notify({t.trial for t in self.trials})

    # ---- reading ---------------------------------------------------------------------------------
    def status(self, trial: int) -> str:
        """``queued``, ``running``, ``done``, ``failed`` or ``cancelled``."""
        return self._table.status[check_trial(trial, len(self.trials))]

    @property
    def statuses(self) -> dict[int, str]:
        return self._table.statuses()

    def curve(self, trial: int) -> TrialCurve:
        """What trial ``trial`` has streamed so far (a copy)."""
        return self._table.curve(check_trial(trial, len(self.trials)))

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One dict a trial: its config and status; metrics, time and worker once it has ended."""
        return self._table.rows()

    @property
    def results(self) -> Any:
        """A ``pandas.DataFrame``, one row a trial: config, status and reason, ``best_<log>`` and
        ``final_<log>`` of every epoch log (loss, val_loss, metrics), epochs, steps, time (s), worker."""
        return _results.to_dataframe(self.rows)

    def ranking(self) -> list[dict[str, Any]]:
        """The rows best first (done trials by ``best_<monitor>``), then the others."""
        return _results.ranked(self.rows, self.monitor, self.mode)

    @property
    def monitor_name(self) -> str:
        return _results.monitor_of(self.rows, self.monitor)

    @property
    def best(self) -> dict[str, Any] | None:
        """The best done trial's row (config and metrics), or None before one is done."""
        first = self.ranking()[0] if self.trials else None
        if first is None or not _results.rankable(first, self.monitor_name, self.mode):
            return None
        return first

    @property
    def why_no_best(self) -> str | None:
        """Why no trial is :attr:`best` (none done yet; a ``monitor`` no done trial logged, and the
        logs they did; no finite value), or None when one is."""
        return None if self.best is not None else _results.why_no_best(self.rows, self.monitor_name, self.mode)

    @property
    def best_schedule(self) -> Any:
        """The best trial's schedule as it ran (its shape started at its rate), for
        ``fit(..., schedule=sweep.best_schedule)``; None when it kept a constant rate or none is best."""
        best = self.best
        return None if best is None else self.trials[best["trial"]].scaled_schedule()

    def to_csv(self, path: str | Path) -> None:
        """:attr:`results` as CSV."""
        self.results.to_csv(path, index=False)

    def __repr__(self) -> str:
        counts = {s: 0 for s in STATUSES}
        for s in self.statuses.values():
            counts[s] += 1
        return f"<Sweep {len(self.trials)} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + ">"
