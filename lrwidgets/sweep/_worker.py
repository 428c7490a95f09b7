"""What runs on a Dask worker: one trial as a headless ``TrainingSession``, streamed and cancellable.

Progress goes out with ``Worker.log_event`` (fire-and-forget; the client receives it through
``Client.subscribe_topic``), at most one message per ``interval`` a trial, with the per-step loss
of that interval decimated to at most ``max_points`` chunk means. Cancelling sets a flag on the
``Worker`` object (through ``Client.run``), which the task's thread polls every few
milliseconds while the fit runs in the session's thread, and turns into ``session.stop()``:
the fit ends at the next batch boundary.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
from distributed import get_worker

from lrwidgets.sweep.grid import Trial
from lrwidgets.sweep.results import lower_is_better
from lrwidgets.training import Snapshot, TrainingSession, _step_logs
from lrwidgets.training.trial import EpochSeeder, build_trial_model, keras_config, optimizer_name, other_backend

FLAGS = "_lrwidgets_sweep_cancel"
POLL = 0.002  # seconds between two looks at the cancel flags
#: Held by the trial that runs in this process: Keras's seeds are process-wide (a trial sets them,
#: then builds and shuffles from them), so a worker with several threads runs its trials one at a time.
ONE_AT_A_TIME = threading.Lock()


def cancel_flags(worker: Any) -> set[str]:
    """The cancel flags of this worker process: trial keys and whole-sweep keys (kept on the Worker)."""
    flags = getattr(worker, FLAGS, None)
    if flags is None:
        flags = set()
        setattr(worker, FLAGS, flags)
    return flags


def set_flags(keys: list[str], dask_worker: Any = None) -> None:
    """Run by ``Client.run`` on every worker."""
    cancel_flags(dask_worker).update(keys)


def clear_flags(keys: list[str], dask_worker: Any = None) -> None:
    cancel_flags(dask_worker).difference_update(keys)


def decimate(steps: np.ndarray, values: np.ndarray, max_points: int) -> tuple[list[int], list[float]]:
    """At most ``max_points`` means of consecutive chunks (each at its chunk's last step)."""
    n = len(values)
    if n == 0:
        return [], []
    chunks = np.array_split(np.arange(n), min(n, max_points))
    return [int(steps[c[-1]]) for c in chunks], [float(np.mean(values[c])) for c in chunks]


class Streamer:
    """A session listener sending one trial's progress to the client, throttled on the worker."""

    def __init__(self, send: Callable[[dict[str, Any]], None], trial: int, interval: float, max_points: int) -> None:
        self.send, self.trial, self.interval, self.max_points = send, trial, interval, max_points
        self.attempt = uuid.uuid4().hex  # this run of the trial (Dask may run its task again)
        self.last = -math.inf
        self.pending: list[Snapshot] = []
        self.messages = 0

    def __call__(self, snapshot: Snapshot) -> None:
        self.pending.append(snapshot)
        if time.monotonic() - self.last >= self.interval:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        snaps, self.pending = self.pending, []
        loss = np.concatenate([s.loss for s in snaps])
        lr = np.concatenate([s.learning_rate for s in snaps])
        steps = np.arange(snaps[0].first_step, snaps[0].first_step + len(loss))
        at, loss_points = decimate(steps, loss, self.max_points)
        _, lr_points = decimate(steps, lr, self.max_points)
        p = snaps[-1].progress
        epochs = [{k: float(v) for k, v in e.items() if isinstance(v, (int, float))} for s in snaps for e in s.epochs]
        self.last = time.monotonic()
        self.messages += 1
        self.send(
            {
                "trial": self.trial,
                "attempt": self.attempt,
                "sent": time.time(),
                "steps": at,
                "loss": loss_points,
                "learning_rate": lr_points,
                "epochs": epochs,
                "epoch": p.epoch,
                "num_epochs": p.epochs,
                "global_step": p.global_step,
            }
        )


def summarize(session: TrainingSession, directions: dict[str, str] | None = None) -> dict[str, Any]:
    """``best_<key>`` and ``final_<key>`` of every epoch log (final: in the last epoch that logged
    it, as with ``validation_freq`` > 1; best: the min where lower is better, else
    the max: as ``directions`` says, ``{name: "min" | "max"}`` for a name without its ``val_``
    prefix; else as Keras marks the model's metrics; else by the name) and ``maximized``: the
    keys whose best is the max, space-separated."""
    known = _step_logs.metric_directions(session.model)
    told = directions or {}
    out: dict[str, Any] = {}
    maximized = []
    epochs = list(session.history.epochs)
    for key, values in session.history.epoch_logs.items():
        if key == "learning_rate":
            continue
        name = key.removeprefix("val_")
        lower = told[name] == "min" if name in told else known.get(name, lower_is_better(key))
        if not lower:
            maximized.append(key)
        finite = [v for v in values if math.isfinite(v)]
        logged = [float(e[key]) for e in epochs if key in e]  # an epoch that did not validate has no val_ log
        out[f"final_{key}"] = logged[-1] if logged else math.nan
        out[f"best_{key}"] = (min(finite) if lower else max(finite)) if finite else math.nan
    out["maximized"] = " ".join(maximized)
    return out


#: The key of a row whose worker refused the trial (Keras on another backend than the sweep's): the
#: sweep sends no more trials to that worker, and runs this one again on another.
REFUSED = "refused_by_worker"


def train_trial(
    trial: Trial,
    build_model: Callable[[], Any],
    data: dict[str, Any],
    fit_kwargs: dict[str, Any],
    *,
    send: Callable[[dict[str, Any]], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    interval: float = 0.1,
    max_points: int = 32,
    directions: dict[str, str] | None = None,
    keras_settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One trial, start to end, in this process, with the Keras global settings ``keras_settings``
    (``training.trial.current_keras_config()`` of the notebook; None: this process's), this
    process's put back after it; returns its result row (what a worker returns).

    ``data``: ``{"x": ..., "y": ..., "validation_data": ...}``; ``send`` gets the progress
    messages; ``cancelled`` is polled every few milliseconds while the fit runs; ``directions``:
    ``{name: "min" | "max"}``, the logs whose best is taken that way (:func:`summarize`).
    """
    mismatch = other_backend(keras_settings)
    if mismatch:  # a worker that joined after the sweep's check: cancelled (a sweep runs it elsewhere)
        return {**trial.config(), "status": "cancelled", "reason": mismatch, "time": 0.0, REFUSED: True}
    with keras_config(keras_settings):
        start = time.perf_counter()
        row: dict[str, Any] = {**trial.config(), "status": "done", "reason": ""}

        def finish(status: str, reason: str = "", session: TrainingSession | None = None) -> dict[str, Any]:
            row.update(status=status, reason=reason, time=time.perf_counter() - start)
            if session is not None:
                row.update(
                    steps=session.history.num_steps,
                    epochs=len(session.history.epochs),
                    **summarize(session, directions),
                )
            return row

        if cancelled():
            return finish("cancelled", "cancelled before it started")
        try:
            model = build_trial_model(build_model, trial.optimizer, trial.learning_rate, trial.seed)
            if trial.optimizer is None:  # the model's own: which one, for `apply_best` to check
                row["optimizer_class"] = optimizer_name(model)
            session = TrainingSession(model, update_interval=interval, on_nan="stop")
            schedule = trial.scaled_schedule()
            streamer = Streamer(send or (lambda msg: None), trial.trial, interval, max_points)
            session.subscribe(streamer)
            callbacks = [*(fit_kwargs.get("callbacks") or []), EpochSeeder(trial.seed)]
            run = session.fit(**data, **{**fit_kwargs, "callbacks": callbacks}, schedule=schedule)
        except BaseException as e:
            # No signal reaches a Dask task's thread: a SystemExit or KeyboardInterrupt there is raised by
            # the trial's own code, and fails the trial (raised on, it would end the worker's process).
            # In the main thread (a serial run), an interrupt is the user's: it goes through.
            if not isinstance(e, Exception) and threading.current_thread() is threading.main_thread():
                raise
            return finish("failed", f"{type(e).__name__}: {e}")
        stopped = False
        while not run.done:
            if not stopped and cancelled():
                session.stop()
                stopped = True
            time.sleep(POLL)
        streamer.flush()
        error = run.exception
        if error is not None:
            return finish("failed", f"{type(error).__name__}: {error}", session)
        nan = [e for e in session.history.events if e.kind == "nan"]
        if nan:
            return finish("failed", f"diverged: {nan[0].message}", session)
        if stopped:
            return finish("cancelled", "cancelled", session)
        return finish("done", "", session)


def run_trial(
    trial: Trial,
    build_model: Callable[[], Any],
    data: dict[str, Any],
    fit_kwargs: dict[str, Any],
    topic: str,
    sweep_key: str,
    interval: float,
    max_points: int,
    directions: dict[str, str] | None = None,
    keras_settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """:func:`train_trial` as a Dask task: streamed to ``topic``, cancelled by the worker's flags, or
    when Dask no longer wants its result (the task ``cancelled`` on the worker: the process that
    ran the sweep died, a kernel restarted; its trials ran to their end, and the next sweep's
    waited behind them)."""
    worker = get_worker()
    flags = cancel_flags(worker)
    trial_key = f"{sweep_key}/{trial.trial}"
    task = worker.state.tasks.get(worker.get_current_task())

    def cancelled() -> bool:
        return trial_key in flags or sweep_key in flags or (task is not None and task.state == "cancelled")

    locked = False
    try:
        while not locked and not cancelled():  # cancelled while it waits: train_trial says so at once
            locked = ONE_AT_A_TIME.acquire(timeout=0.05)
        row = train_trial(
            trial,
            build_model,
            data,
            fit_kwargs,
            send=lambda msg: worker.log_event(topic, msg),
            cancelled=cancelled,
            interval=interval,
            max_points=max_points,
            directions=directions,
            keras_settings=keras_settings,
        )
    finally:
        if locked:
            ONE_AT_A_TIME.release()
        flags.discard(trial_key)
    return {**row, "worker": worker.address}
