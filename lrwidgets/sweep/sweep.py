"""``Sweep``: a grid of learning rates x optimizers x schedules x seeds, trained on a Dask cluster."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster

from lrwidgets.core.checks import check_float, check_int, received
from lrwidgets.sweep import results as _results
from lrwidgets.sweep._worker import clear_flags
from lrwidgets.sweep.cluster import ClusterConnection, check_cluster
from lrwidgets.sweep.dispatch import STOP_WAIT, TrialTask, check_run_kwargs, check_sendable, run_trials
from lrwidgets.sweep.grid import Trial, grid_config, make_grid
from lrwidgets.sweep.preflight import CodeCheck, check_workers, wait_for_workers
from lrwidgets.sweep.readout import SweepResults
from lrwidgets.sweep.run import SweepRun
from lrwidgets.sweep.settings import SweepSettings
from lrwidgets.sweep.trial_table import STATUSES, TrialCurve, TrialTable, check_trial
from lrwidgets.training.trial import apply_trial_rate, check_trial_data, current_keras_config

__all__ = ["STATUSES", "Sweep", "SweepRun", "TrialCurve"]


class Sweep(SweepResults, SweepSettings):
    """Train one model per combination of learning rate, optimizer, schedule and seed, in parallel on Dask.

    Each trial is a headless :class:`~lrwidgets.TrainingSession` on a Dask worker; its progress
    streams back live (:meth:`subscribe`, :attr:`curves`), its result lands in :attr:`results`.
    :class:`lrwidgets.LRSweep` is the widget that shows a ``Sweep``; this class needs no widget.

    How ``build_model`` and ``optimizers`` combine: ``build_model()`` is called on the worker,
    after ``keras.utils.set_random_seed(seed)``, and returns a *compiled* model (what you would
    train yourself). Its loss, metrics and other compile arguments are kept; for each name in
    ``optimizers`` the model is compiled again with a fresh optimizer of that name (Keras
    defaults) at the trial's learning rate. With ``optimizers=None`` the optimizer you compiled
    with is kept, with its own settings, and only its learning rate is set.

    Args:
        build_model: a function of no arguments returning a fresh compiled ``keras.Model``. It
            runs on the workers: define it at the top level of the notebook or a module.
        learning_rates: the rates to try (each > 0).
        optimizers: Keras optimizer names (``["adam", "sgd"]``), or None (see above).
        schedules: None (each rate held constant), or callables ``step -> rate`` such as
            ``lrwidgets.schedules`` objects (None in the list for a constant rate): each one's shape
            is started at the trial's rate, ``rate(step) = learning_rate * s(step) / s(0)``.
        seeds: seeds of the weights and the shuffling (default ``[0]``).
        epochs: epochs of each trial.
        monitor: the epoch log that ranks trials (better in the direction Keras's callbacks take
            for the model's metrics; else lower for a loss, an error or a count of errors, higher
            otherwise); default ``val_loss`` when the trials have one, else ``loss``. It only
            ranks: every row keeps each epoch log, and ``sweep.monitor = "val_accuracy"`` after a
            run ranks the same trials by another one.
        n_workers: worker processes of the embedded cluster (default: one per core).
        path: optional JSON file that receives the results after every trial, so that a sweep
            survives a kernel restart: ``Sweep.load(path, build_model)``, then ``run`` again.
        update_interval: seconds between two progress messages of a trial (at least 0.1: at
            most 10 messages a second a trial).
        max_points: at most this many points (chunk means) of a trial's per-step loss in each
            progress message (1 to 10,000).

    ``monitor``, ``mode``, ``n_workers``, ``path``, ``update_interval`` and ``max_points`` may be
    set after construction (checked as here); ``epochs`` is read-only.

    Example:
        >>> import keras, numpy as np
        >>> from lrwidgets.sweep import Sweep
        >>> def build_model():
        ...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        ...     model.compile(optimizer="sgd", loss="mse")
        ...     return model
        >>> sweep = Sweep(build_model, learning_rates=[1e-3, 1e-2], optimizers=["sgd", "adam"])
        >>> len(sweep.trials), sweep.trials[1].config()
        (4, {'trial': 1, 'learning_rate': 0.01, 'optimizer': 'sgd', 'schedule': 'constant', 'seed': 0})

        ``sweep.run(x, y, batch_size=32)`` starts it (an embedded cluster on the first run) and
        returns a :class:`SweepRun` at once; ``sweep.close()`` shuts the embedded cluster down.
    """

    def __init__(
        self,
        build_model: Callable[[], Any],
        learning_rates: Any,
        optimizers: Any = None,
        schedules: Any = None,
        seeds: Any = (0,),
        epochs: int = 1,
        *,
        monitor: str | None = None,
        mode: str = "auto",
        n_workers: int | None = None,
        path: str | Path | None = None,
        update_interval: float = 0.1,
        max_points: int = 32,
    ) -> None:
        self.build_model = build_model  # checked: callable
        self._trials = tuple(make_grid(learning_rates, optimizers, schedules, seeds))
        self._epochs = check_int("epochs", epochs, ge=1, le=1_000_000)
        self.monitor = monitor
        self.mode = mode
        self.n_workers = n_workers
        self.path = path  # checked: a str or os.PathLike, kept as a Path
        self.update_interval = update_interval
        self.max_points = max_points
        self._table = TrialTable(self.trials)
        self._connection = ClusterConnection()
        self._run: SweepRun | None = None
        self._run_key = ""
        self._loaded = False
        self._closed = False  # closed since the last run started
        self._fit: dict[str, Any] | None = None  # the `fit` arguments of the last run (`results.fit_config`)
        self._own_path: Path | None = None  # the file this object was loaded from or wrote: it may rewrite it
        self.latencies: deque[float] = deque(maxlen=100_000)  # seconds from a worker's send to its handling here

    @property
    def running(self) -> bool:
        return self._run is not None and not self._run.done

    @property
    def client(self) -> Client | None:
        """The Dask client of the last run (an embedded cluster's is closed by :meth:`close`)."""
        return self._connection.client

    @property
    def _cluster(self) -> LocalCluster | None:
        """The embedded cluster, while it runs."""
        return self._connection.cluster

    @property
    def cancel_times(self) -> dict[int, float]:
        """Trial -> ``time.time()`` of its cancel request (by :meth:`cancel` or :meth:`stop`)."""
        return self._table.cancel_times

    # ---- listeners -------------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[set[int]], None]) -> Callable[[], None]:
        """Call ``listener(trials)`` with the ids of the trials that changed (status, curve or result).

        Called from Dask's client thread or the sweep's own thread: keep it cheap.
        Returns a function that unsubscribes it.
        """
        return self._table.subscribe(listener)

    def _notify(self, trials: set[int]) -> None:
        self._table.notify(trials)

    # ---- running ---------------------------------------------------------------------------------
    def run(
        self, x: Any, y: Any = None, *, cluster: Any = None, resume: bool | None = None, **fit_kwargs: Any
    ) -> SweepRun:
        """Start every trial (``model.fit(x, y, epochs=..., **fit_kwargs)`` each); returns a :class:`SweepRun` at once.

        Args:
            x: the training data (arrays, a PyDataset: picklable, so no generator), sent once a worker.
            y: the targets, when ``x`` does not hold them (sent as ``x`` is).
            cluster: None: an embedded ``LocalCluster`` (one single-threaded process a core,
                started on the first run, closed by :meth:`close`); a scheduler address
                (``"tcp://host:8786"``) or a ``distributed.Client``: that cluster, as it is.
            resume: skip the trials already done or failed (in this object, in :attr:`path`'s
                file, or in the file this sweep was loaded from). Default: True after
                :meth:`load`, else False (every trial runs again); a ``path`` that holds the
                results of another sweep object is refused without ``resume`` given (not
                rewritten by default).
            fit_kwargs: other arguments of ``model.fit`` (``batch_size``, ``validation_split``,
                ``validation_data``, ...).

        The Keras global settings of the calling thread (the global dtype policy, ``floatx``,
        ``epsilon``, ``image_data_format``) go with the trials: each is built and trained under
        them, the worker's own put back after it.
        """
        if self.running:
            raise RuntimeError("This sweep is already running; wait for it (`run.wait()`) or stop it (`sweep.stop()`).")
        check_run_kwargs(fit_kwargs)  # here, not on every worker
        check_sendable(self.build_model, fit_kwargs, x, y, (t.schedule for t in self.trials))
        check_trial_data(x, y, fit_kwargs, self.epochs)  # what would fail every trial on the workers
        cluster = check_cluster(cluster)  # the clear error now, not in the background
        if resume is None and self.path is not None and self.path != self._own_path:
            _results.refuse_overwrite(self.path)  # another sweep's results: not rewritten unless told
        resume = self._loaded if resume is None else resume
        if not isinstance(resume, bool):
            raise TypeError(f"Argument `resume` must be a bool. {received('resume', resume)}")
        fit = _results.fit_config(fit_kwargs)
        with self._table.lock:
            if resume and self.path is not None and self.path.exists() and not self._table.ended:
                doc = _results.read_json(self.path)
                grid = {**self._grid(), "fit": fit}
                _results.check_resumable(self.path, doc["grid"], grid, self._table.unmatched(doc["results"]))
                _results.check_same_direction(doc["results"], self.monitor, self.mode)
                self._table.restore(doc["results"])
            elif resume and self._table.ended:  # this object's trials (run or loaded): the same fit only
                _results.check_same_fit(self._fit, fit)
                _results.check_same_direction(list(self._table.ended.values()), self.monitor, self.mode)
            self._fit = fit
            self._table.start(resume)
            self._loaded = False
            self._own_path = self.path
            self._run_key = f"lrwidgets-sweep-{uuid.uuid4().hex[:12]}"
            run = self._run = SweepRun(self)
            self._closed = False
        data: dict[str, Any] = {"x": x, "y": y}
        if "validation_data" in fit_kwargs:  # sent to every worker once, with the training data
            data["validation_data"] = fit_kwargs.pop("validation_data")
        fit_kwargs = {**fit_kwargs, "epochs": self.epochs}
        thread = threading.Thread(
            target=self._drive,
            args=(run, cluster, data, fit_kwargs, current_keras_config()),
            name="lrwidgets-sweep",
            daemon=True,
        )
        try:
            thread.start()
        except BaseException as e:  # no thread (the process's limit): no trial started, each can run again
            self._abandon(run, e)
            run._done.set()
            raise
        self._notify({t.trial for t in self.trials})
        return run

    def _drive(
        self, run: SweepRun, cluster: Any, data: dict[str, Any], fit_kwargs: dict[str, Any], settings: dict[str, Any]
    ) -> None:
        key = self._run_key
        client: Client | None = None
        try:
            with self._connection.using():  # its embedded cluster is not closed for another sweep's meanwhile
                client = self._connection.connect(cluster, self.n_workers)
                check, checked = None, set()
                if self._connection.cluster is None:  # a cluster the user started: what it runs checked first
                    if not wait_for_workers(client, lambda: self._table.stopping or not self._table.queue):
                        return  # stopped (or each trial cancelled) before a worker came: all ended already
                    check = CodeCheck(client, self.build_model)  # also of a worker that joins later
                    checked = check_workers(check, settings["backend"])
                self._connection.listen(client, key, lambda event, key=key: self._on_message(key, event[1]))
                directions = _results.directions(self.monitor, self.mode)
                task = TrialTask(
                    self.build_model, fit_kwargs, self.update_interval, self.max_points, directions, settings
                )
                run_trials(client, self._table, key, data, task, self._finish, check, checked)
        except BaseException as e:
            self._abandon(run, e)  # the trials it did not end: cancelled, and a resume runs them
        finally:
            if client is not None and client.status == "running":
                # A worker gone by now took its flags with it.
                with contextlib.suppress(Exception):
                    client.run(clear_flags, [key, *(f"{key}/{t.trial}" for t in self.trials)])
            if self._closed:  # closed while it connected: what it connected to is closed now
                self._connection.close()
            run._done.set()
            self._notify(set())

    def _abandon(self, run: SweepRun, error: BaseException) -> None:
        """The run ended by ``error``: each trial not ended is ``cancelled`` (not its own failure: a
        resume runs it)."""
        run.error = error
        reason = f"the sweep stopped: {type(error).__name__}: {error}"
        for t in self._table.abandon():
            self._finish(t, {**t.config(), "status": "cancelled", "reason": reason})

    def _finish(self, trial: Trial, row: dict[str, Any]) -> None:
        with self._table.lock:
            self._table.end(trial, row)
            if self.path is not None:
                try:
                    self._save(self.path)
                except OSError as e:  # the results stay in memory: `save` them elsewhere
                    warnings.warn(f"the sweep's results could not be saved to {self.path}: {e}", stacklevel=2)
        self._notify({trial.trial})

    def _on_message(self, key: str, msg: dict[str, Any]) -> None:
        if key != self._run_key:
            return  # a message of an earlier run
        self.latencies.append(time.time() - msg["sent"])
        self._notify({self._table.add_progress(msg)})

    # ---- control ---------------------------------------------------------------------------------
    def cancel(self, trial: int) -> None:
        """Cancel one trial: a queued one never starts, a running one stops at its next batch."""
        t = check_trial(trial, len(self.trials))
        if not self.running:
            raise RuntimeError(
                "This sweep is not running: there is no trial to cancel. Start it with `sweep.run(...)`."
            )
        with self._table.lock:
            if not self._table.unfinished(t):
                return
            queued = self._table.cancel(t, time.time())
        if queued is not None:
            self._finish(queued, {**queued.config(), "status": "cancelled", "reason": "cancelled before it started"})
        else:
            self._connection.set_flags([f"{self._run_key}/{t}"])

    def stop(self) -> None:
        """Stop the whole sweep: queued trials never start, running ones stop at their next batch."""
        with self._table.lock:
            if not self.running:
                return
            left = self._table.stop(time.time())
        for t in left:
            self._finish(t, {**t.config(), "status": "cancelled", "reason": "sweep stopped before it started"})
        self._connection.set_flags([self._run_key])

    def wait(self, timeout: float | None = None) -> Any:
        """:meth:`SweepRun.wait` of the last run."""
        if self._run is None:
            raise RuntimeError("This sweep has not run yet: call `sweep.run(x, y, ...)` first.")
        return self._run.wait(timeout)

    def close(self, timeout: float = STOP_WAIT) -> None:
        """Stop the sweep and shut its embedded cluster down (a cluster you passed is left running).

        Running trials stop at their next batch; one that has not reached a batch in ``timeout``
        seconds (a ``build_model`` that hangs) is left behind, with a warning: the embedded
        cluster's shutdown ends it, and the run's trials not ended are ``cancelled``. While the run
        still connects to an address, it returns at once: the run's thread closes the client when
        Dask's connect ends (its ``distributed.comm.timeouts.connect``, 30 s by default).
        """
        timeout = check_float("timeout", timeout, ge=0)
        if self.running:
            self.stop()
            assert self._run is not None
            # Still connecting (Dask's connect, up to its 30 s, cannot be cut short): not waited for;
            # the run's thread closes what it connects to when it ends (`_closed`).
            connecting = self._connection.client is None
            if not connecting and not self._run._done.wait(timeout):
                warnings.warn(
                    f"The sweep's running trials did not stop within {timeout:g} s; closing anyway.", stacklevel=2
                )
        self._closed = True
        self._connection.close()

    def __enter__(self) -> Sweep:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- using the results -----------------------------------------------------------------------
    def apply_best(self, target: Any) -> dict[str, Any]:
        """Put the best trial's learning rate into ``target``; returns the best row.

        ``target``: a ``TrainingSession``, a ``TrainingDashboard`` (its session), or a compiled
        model (its optimizer's rate, set at once when idle; during a fit, at the next batch). The
        target's optimizer must be the best trial's (a rate is only best for its optimizer; with
        ``optimizers=None``, of the class its model's had: the row's ``optimizer_class``). A
        scheduled trial's rate is where its schedule started: give the fit :attr:`best_schedule`.
        """
        best = self.best
        if best is None:
            raise ValueError(f"{self.why_no_best}: nothing to apply.")
        apply_trial_rate(target, best["learning_rate"], best["optimizer"], optimizer_class=best.get("optimizer_class"))
        return best

    def _grid(self) -> dict[str, Any]:
        """The grid as the sweep file keeps it, with the monitor's ``mode`` and the last run's ``fit`` arguments."""
        return {**grid_config(self.trials, self.epochs, self.monitor), "mode": self.mode, "fit": self._fit}

    def _save(self, path: str | Path) -> None:
        _results.write_json(path, self._grid(), list(self._table.ended.values()))

    def to_json(self, path: str | Path) -> None:
        """The grid and every ended trial's row, in a file :meth:`load` resumes from."""
        target = _results.check_path(path, optional=False)
        assert target is not None
        with self._table.lock:
            self._save(target)

    @classmethod
    def load(cls, path: str | Path, build_model: Callable[[], Any], *, schedules: Any = None, **kwargs: Any) -> Sweep:
        """The sweep saved in ``path`` (by :meth:`to_json` or ``path=``), its ended trials restored;
        its next :meth:`run` skips the done and failed ones. ``schedules``: the same schedule
        objects as before when the sweep had any (a file keeps only their names); ``monitor`` and
        ``mode``: default the file's."""
        doc, args = _results.saved_grid(path, schedules, kwargs)
        saved = {"monitor": doc["grid"]["monitor"], "mode": doc["grid"].get("mode", "auto")}
        sweep = cls(build_model, *args, **{**saved, "path": path, **kwargs})
        names = doc["grid"]["schedules"]
        if [t for t in dict.fromkeys(t.schedule_name for t in sweep.trials)] != names:
            raise ValueError(f"Argument `schedules` must be the schedules of the saved sweep, {names}.")
        sweep._table.restore(doc["results"])
        sweep._fit = doc["grid"].get("fit")
        sweep._loaded = True
        sweep._own_path = Path(path)
        return sweep
