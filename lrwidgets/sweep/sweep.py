"""``Sweep``: a grid of learning rates x optimizers x schedules x seeds, trained on a Dask cluster."""

from __future__ import annotations

import contextlib
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distributed import Client, KilledWorker, LocalCluster, as_completed

from lrwidgets.core.checks import check_float, check_int, received
from lrwidgets.sweep import results as _results
from lrwidgets.sweep._worker import clear_flags, run_trial, set_flags
from lrwidgets.sweep.cluster import close_local_cluster, connect, start_local_cluster
from lrwidgets.sweep.grid import Trial, make_grid
from lrwidgets.training import TrainingSession
from lrwidgets.training.run import wait_or_stop
from lrwidgets.training.trial import apply_learning_rate, optimizer_name, same_optimizer

STATUSES = ("queued", "running", "done", "failed", "cancelled")


@dataclass
class TrialCurve:
    """What a trial has streamed so far: per-step loss and rate (chunk means), per-epoch logs."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    epochs: list[dict[str, float]] = field(default_factory=list)
    epoch: int = 0
    num_epochs: int = 0


class SweepRun:
    """Handle on a running sweep, returned at once by :meth:`Sweep.run`."""

    def __init__(self, sweep: Sweep) -> None:
        self._sweep = sweep
        self._done = threading.Event()
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def stop(self) -> None:
        self._sweep.stop()

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for every trial to end; return ``sweep.results`` (or re-raise what kept the sweep from running)."""
        wait_or_stop(self._done, timeout, self._sweep.stop, "The sweep")
        if self.error is not None:
            raise self.error
        return self._sweep.results


class Sweep:
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
        monitor: the epoch log that ranks trials (lower is better for a loss or an error, else
            higher); default ``val_loss`` when the trials have one, else ``loss``.
        n_workers: worker processes of the embedded cluster (default: one per core).
        path: optional JSON file that receives the results after every trial, so that a sweep
            survives a kernel restart: ``Sweep.load(path, build_model)``, then ``run`` again.
        update_interval: seconds between two progress messages of a trial (at least 0.1: at
            most 10 messages a second a trial).

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
        n_workers: int | None = None,
        path: str | Path | None = None,
        update_interval: float = 0.1,
        max_points: int = 32,
    ) -> None:
        if not callable(build_model):
            raise TypeError(f"Argument `build_model` must be callable. {received('build_model', build_model)}")
        self.build_model = build_model
        self.trials: list[Trial] = make_grid(learning_rates, optimizers, schedules, seeds)
        self.epochs = check_int("epochs", epochs, ge=1, le=1_000_000)
        if monitor is not None and (not isinstance(monitor, str) or not monitor):
            raise TypeError(
                f"Argument `monitor` must be an epoch log name such as 'val_loss'. {received('monitor', monitor)}"
            )
        self.monitor = monitor
        self.n_workers = None if n_workers is None else check_int("n_workers", n_workers, ge=1, le=1024)
        self.path = None if path is None else Path(path)
        self.update_interval = check_float("update_interval", update_interval, ge=0.1, le=60)
        self.max_points = check_int("max_points", max_points, ge=1, le=10_000)
        self._lock = threading.RLock()
        self._status: dict[int, str] = {t.trial: "queued" for t in self.trials}
        self._rows: dict[int, dict[str, Any]] = {}
        self._curves: dict[int, TrialCurve] = {t.trial: TrialCurve() for t in self.trials}
        self._queue: deque[Trial] = deque()
        self._listeners: list[Callable[[set[int]], None]] = []
        self._run: SweepRun | None = None
        self._run_key = ""
        self._stopping = False
        self._client: Client | None = None
        self._cluster: LocalCluster | None = None
        self._own_client = False
        self._topic: str | None = None
        self._loaded = False
        self.latencies: deque[float] = deque(maxlen=100_000)  # seconds from a worker's send to its handling here
        self.cancel_times: dict[int, float] = {}  # trial -> time.time() of its cancel request

    # ---- reading ---------------------------------------------------------------------------------
    def status(self, trial: int) -> str:
        """``queued``, ``running``, ``done``, ``failed`` or ``cancelled``."""
        return self._status[self._check_trial(trial)]

    @property
    def statuses(self) -> dict[int, str]:
        with self._lock:
            return dict(self._status)

    def curve(self, trial: int) -> TrialCurve:
        """What trial ``trial`` has streamed so far (a copy)."""
        with self._lock:
            c = self._curves[self._check_trial(trial)]
            return TrialCurve(list(c.steps), list(c.loss), list(c.learning_rate), list(c.epochs), c.epoch, c.num_epochs)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One dict a trial: its config and status; metrics, time and worker once it has ended."""
        with self._lock:
            return [
                self._rows.get(t.trial) or {**t.config(), "status": self._status[t.trial], "reason": ""}
                for t in self.trials
            ]

    @property
    def results(self) -> Any:
        """A ``pandas.DataFrame``, one row a trial: config, status and reason, ``best_<log>`` and
        ``final_<log>`` of every epoch log (loss, val_loss, metrics), epochs, steps, time (s), worker."""
        return _results.to_dataframe(self.rows)

    def ranking(self) -> list[dict[str, Any]]:
        """The rows best first (done trials by ``best_<monitor>``), then the others."""
        return _results.ranked(self.rows, self.monitor)

    @property
    def monitor_name(self) -> str:
        return _results.monitor_of(self.rows, self.monitor)

    @property
    def best(self) -> dict[str, Any] | None:
        """The best done trial's row (config and metrics), or None before one is done."""
        first = self.ranking()[0] if self.trials else None
        if (
            first is None
            or first["status"] != "done"
            or not math.isfinite(first.get(f"best_{self.monitor_name}", math.nan))
        ):
            return None
        return first

    @property
    def running(self) -> bool:
        return self._run is not None and not self._run.done

    @property
    def client(self) -> Client | None:
        """The Dask client of the last run (an embedded cluster's is closed by :meth:`close`)."""
        return self._client

    # ---- listeners -------------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[set[int]], None]) -> Callable[[], None]:
        """Call ``listener(trials)`` with the ids of the trials that changed (status, curve or result).

        Called from Dask's client thread or the sweep's own thread: keep it cheap.
        Returns a function that unsubscribes it.
        """
        if not callable(listener):
            raise TypeError(f"Argument `listener` must be callable. {received('listener', listener)}")
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _notify(self, trials: set[int]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(trials)

    # ---- running ---------------------------------------------------------------------------------
    def run(
        self, x: Any, y: Any = None, *, cluster: Any = None, resume: bool | None = None, **fit_kwargs: Any
    ) -> SweepRun:
        """Start every trial (``model.fit(x, y, epochs=..., **fit_kwargs)`` each); returns a :class:`SweepRun` at once.

        Args:
            x, y: the training data (arrays, or anything picklable ``model.fit`` takes). It is
                sent to every worker once, not with each trial.
            cluster: None: an embedded ``LocalCluster`` (one single-threaded process a core,
                started on the first run, closed by :meth:`close`); a scheduler address
                (``"tcp://host:8786"``) or a ``distributed.Client``: that cluster, as it is.
            resume: skip the trials already done or failed (in this object, in :attr:`path`'s
                file, or in the file this sweep was loaded from). Default: True after
                :meth:`load`, else False (every trial runs again).
            fit_kwargs: other arguments of ``model.fit`` (``batch_size``, ``validation_split``,
                ``validation_data``, ...).
        """
        if self.running:
            raise RuntimeError("This sweep is already running; wait for it (`run.wait()`) or stop it (`sweep.stop()`).")
        for name in fit_kwargs:
            if name in ("x", "y", "epochs", "schedule"):
                raise TypeError(f"Argument `{name}` is not a `run` argument: give it to the Sweep itself (or as x, y).")
        if cluster is not None and not isinstance(cluster, (str, Client)):
            connect(cluster)  # raises the clear error now, not in the background
        resume = self._loaded if resume is None else resume
        if not isinstance(resume, bool):
            raise TypeError(f"Argument `resume` must be a bool. {received('resume', resume)}")
        with self._lock:
            if resume and self.path is not None and self.path.exists() and not self._rows:
                self._restore(_results.read_json(self.path))
            if not resume:
                self._rows.clear()
            keep = {t for t, r in self._rows.items() if r["status"] in _results.FINISHED}
            self._rows = {t: self._rows[t] for t in keep}
            self._queue = deque(t for t in self.trials if t.trial not in keep)
            for t in self.trials:
                if t.trial not in keep:
                    self._status[t.trial] = "queued"
                    self._curves[t.trial] = TrialCurve()
            self._stopping = False
            self._loaded = False
            self._run_key = f"lrwidgets-sweep-{uuid.uuid4().hex[:12]}"
            run = self._run = SweepRun(self)
        data = {
            "x": x,
            "y": y,
            **({"validation_data": fit_kwargs.pop("validation_data")} if "validation_data" in fit_kwargs else {}),
        }
        fit_kwargs = {**fit_kwargs, "epochs": self.epochs}
        thread = threading.Thread(
            target=self._drive, args=(run, cluster, data, fit_kwargs), name="lrwidgets-sweep", daemon=True
        )
        thread.start()
        self._notify({t.trial for t in self.trials})
        return run

    def _connect(self, cluster: Any) -> Client:
        if cluster is None:
            if self._cluster is None or self._client is None or self._client.status != "running":
                self._client, self._cluster = start_local_cluster(self.n_workers)
                self._own_client = True
            return self._client
        if self._own_client:
            self._close_client()
        if isinstance(cluster, Client):
            self._client, self._own_client = cluster, False
        else:
            self._client, self._own_client = connect(cluster), True
        return self._client

    def _drive(self, run: SweepRun, cluster: Any, data: dict[str, Any], fit_kwargs: dict[str, Any]) -> None:
        key = self._run_key
        futures: dict[Any, Trial] = {}
        client: Client | None = None
        try:
            client = self._connect(cluster)
            if self._topic is not None:
                client.unsubscribe_topic(self._topic)
            self._topic = key
            client.subscribe_topic(key, lambda event, key=key: self._on_message(key, event[1]))
            [payload] = client.scatter([data], broadcast=True, hash=False)
            capacity = max(1, sum(client.nthreads().values()))
            pending = as_completed()

            def submit_next() -> None:
                with self._lock:
                    if self._stopping or not self._queue:
                        return
                    trial = self._queue.popleft()
                f = client.submit(
                    run_trial,
                    trial,
                    self.build_model,
                    payload,
                    fit_kwargs,
                    key,
                    key,
                    self.update_interval,
                    self.max_points,
                    key=f"{key}-trial-{trial.trial}",
                    pure=False,
                    retries=0,
                )
                futures[f] = trial
                pending.add(f)

            for _ in range(capacity):
                submit_next()
            for f in pending:
                trial = futures.pop(f)
                self._finish(trial, self._row_of(f, trial))
                f.release()
                submit_next()
            payload.release()
        except BaseException as e:
            run.error = e
            with self._lock:
                left = [t for t in self.trials if self._status[t.trial] in ("queued", "running")]
                self._queue.clear()
            for t in left:
                self._finish(
                    t, {**t.config(), "status": "failed", "reason": f"the sweep stopped: {type(e).__name__}: {e}"}
                )
        finally:
            if client is not None and client.status == "running":
                # A worker gone by now took its flags with it.
                with contextlib.suppress(Exception):
                    client.run(clear_flags, [key, *(f"{key}/{t.trial}" for t in self.trials)])
            run._done.set()
            self._notify(set())

    def _row_of(self, future: Any, trial: Trial) -> dict[str, Any]:
        base = {**trial.config(), "status": "failed"}
        if future.status == "finished":
            return dict(future.result())
        if future.status == "cancelled":
            return {**base, "status": "cancelled", "reason": "cancelled"}
        error = future.exception()
        if isinstance(error, KilledWorker):
            return {**base, "reason": f"worker lost: {error}"}
        return {**base, "reason": f"{type(error).__name__}: {error}"}

    def _finish(self, trial: Trial, row: dict[str, Any]) -> None:
        with self._lock:
            self._rows[trial.trial] = row
            self._status[trial.trial] = row["status"]
            if self.path is not None:
                self._save(self.path)
        self._notify({trial.trial})

    def _on_message(self, key: str, msg: dict[str, Any]) -> None:
        if key != self._run_key:
            return  # a message of an earlier run
        self.latencies.append(time.time() - msg["sent"])
        t = msg["trial"]
        with self._lock:
            c = self._curves[t]
            c.steps += msg["steps"]
            c.loss += msg["loss"]
            c.learning_rate += msg["learning_rate"]
            c.epochs += msg["epochs"]
            c.epoch, c.num_epochs = msg["epoch"], msg["num_epochs"]
            if self._status[t] == "queued":
                self._status[t] = "running"
        self._notify({t})

    # ---- control ---------------------------------------------------------------------------------
    def _check_trial(self, trial: Any) -> int:
        t = check_int("trial", trial, ge=0)
        if t >= len(self.trials):
            raise ValueError(
                f"Argument `trial` must be < {len(self.trials)} (the sweep's trials). {received('trial', trial)}"
            )
        return t

    def cancel(self, trial: int) -> None:
        """Cancel one trial: a queued one never starts, a running one stops at its next batch."""
        t = self._check_trial(trial)
        if not self.running:
            raise RuntimeError(
                "This sweep is not running: there is no trial to cancel. Start it with `sweep.run(...)`."
            )
        with self._lock:
            if self._status[t] not in ("queued", "running"):
                return
            self.cancel_times[t] = time.time()
            queued = next((q for q in self._queue if q.trial == t), None)
            if queued is not None:
                self._queue.remove(queued)
        if queued is not None:
            self._finish(queued, {**queued.config(), "status": "cancelled", "reason": "cancelled before it started"})
        elif self._client is not None:
            self._client.run(set_flags, [f"{self._run_key}/{t}"])

    def stop(self) -> None:
        """Stop the whole sweep: queued trials never start, running ones stop at their next batch."""
        with self._lock:
            if not self.running:
                return
            self._stopping = True
            now = time.time()
            left, self._queue = list(self._queue), deque()
            for t in self.trials:
                if self._status[t.trial] in ("queued", "running"):
                    self.cancel_times.setdefault(t.trial, now)
        for t in left:
            self._finish(t, {**t.config(), "status": "cancelled", "reason": "sweep stopped before it started"})
        if self._client is not None:
            self._client.run(set_flags, [self._run_key])

    def wait(self, timeout: float | None = None) -> Any:
        if self._run is None:
            raise RuntimeError("This sweep has not run yet: call `sweep.run(x, y, ...)` first.")
        return self._run.wait(timeout)

    def _close_client(self) -> None:
        client, cluster = self._client, self._cluster
        self._client, self._cluster, self._own_client, self._topic = None, None, False, None
        if client is not None and cluster is not None:
            close_local_cluster(client, cluster)  # the embedded cluster, and its compilation cache
        elif client is not None:
            client.close()

    def close(self) -> None:
        """Stop the sweep and shut its embedded cluster down (a cluster you passed is left running)."""
        if self.running:
            self.stop()
            assert self._run is not None
            self._run._done.wait()
        if self._own_client:
            self._close_client()
        elif self._client is not None and self._topic is not None:
            self._client.unsubscribe_topic(self._topic)
            self._client, self._topic = None, None

    def __enter__(self) -> Sweep:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- using the results -----------------------------------------------------------------------
    def apply_best(self, target: Any) -> dict[str, Any]:
        """Put the best trial's learning rate into ``target``; returns the best row.

        ``target``: a ``TrainingSession``, a ``TrainingDashboard`` (its session), or a compiled
        model (its optimizer's rate, set at once when idle; during a fit, at the next batch). The
        target's optimizer must be the best trial's (a rate is only best for its optimizer).
        """
        best = self.best
        if best is None:
            raise ValueError("The sweep has no done trial yet: nothing to apply.")
        session = getattr(target, "session", target)
        model = session.model if isinstance(session, TrainingSession) else target
        if best["optimizer"] and not same_optimizer(model, best["optimizer"]):
            raise ValueError(
                f"The best trial used the optimizer {best['optimizer']!r}, and `target` is compiled with"
                f" {optimizer_name(model)!r}: its best rate would not carry over. Compile the model with"
                f" {best['optimizer']!r} first. Received: target={type(target).__name__}"
            )
        if isinstance(session, TrainingSession):
            session.set_learning_rate(best["learning_rate"], source="sweep")
        else:
            apply_learning_rate(model, best["learning_rate"])
        return best

    def _grid(self) -> dict[str, Any]:
        return {
            "learning_rates": list(dict.fromkeys(t.learning_rate for t in self.trials)),
            "optimizers": list(dict.fromkeys(t.optimizer for t in self.trials)),
            "schedules": list(dict.fromkeys(t.schedule_name for t in self.trials)),
            "seeds": list(dict.fromkeys(t.seed for t in self.trials)),
            "epochs": self.epochs,
            "monitor": self.monitor,
        }

    def _save(self, path: str | Path) -> None:
        _results.write_json(path, self._grid(), [r for r in self._rows.values()])

    def to_json(self, path: str | Path) -> None:
        """The grid and every ended trial's row, in a file :meth:`load` resumes from."""
        with self._lock:
            self._save(path)

    def to_csv(self, path: str | Path) -> None:
        """:attr:`results` as CSV."""
        self.results.to_csv(path, index=False)

    def _restore(self, doc: dict[str, Any]) -> None:
        by_key = {t.key: t for t in self.trials}
        for row in doc["results"]:
            t = by_key.get((row["learning_rate"], row["optimizer"], row["schedule"], row["seed"]))
            if t is not None:
                self._rows[t.trial] = {**row, "trial": t.trial}
                self._status[t.trial] = row["status"]

    @classmethod
    def load(cls, path: str | Path, build_model: Callable[[], Any], *, schedules: Any = None, **kwargs: Any) -> Sweep:
        """The sweep saved in ``path`` (by :meth:`to_json` or ``path=``), its ended trials restored;
        its next :meth:`run` skips the done and failed ones. ``schedules``: the same schedule
        objects as before when the sweep had any (a file keeps only their names)."""
        doc = _results.read_json(path)
        grid = doc["grid"]
        names = grid["schedules"]
        if schedules is None and names != ["constant"]:
            raise ValueError(f"The sweep in {str(path)!r} used the schedules {names}: pass them as `schedules=`.")
        optimizers = None if grid["optimizers"] == [None] else grid["optimizers"]
        kwargs.setdefault("path", path)
        sweep = cls(
            build_model,
            grid["learning_rates"],
            optimizers,
            schedules,
            grid["seeds"],
            grid["epochs"],
            monitor=grid["monitor"],
            **kwargs,
        )
        if [t for t in dict.fromkeys(t.schedule_name for t in sweep.trials)] != names:
            raise ValueError(f"Argument `schedules` must be the schedules of the saved sweep, {names}.")
        sweep._restore(doc)
        sweep._loaded = True
        return sweep

    def __repr__(self) -> str:
        counts = {s: 0 for s in STATUSES}
        for s in self.statuses.values():
            counts[s] += 1
        return f"<Sweep {len(self.trials)} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + ">"
