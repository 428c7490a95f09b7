"""A sweep's trials as Dask tasks: the data sent to every worker once, at most as many trials in
flight as the cluster has workers (the queue stays on the client; a worker that joins takes
trials from the next one's end), each finished future turned into its trial's row and
released. On a cluster the user named, a worker that joins is checked before it gets a trial (it
can load the trials' code); a worker that fails that, or refuses a trial (it joined on another
Keras backend), gets no more: a refused trial runs again on another."""

from __future__ import annotations

import contextlib
import itertools
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import cloudpickle
from distributed import Client, KilledWorker, as_completed

from lrwidgets.core.checks import received
from lrwidgets.sweep._worker import REFUSED, run_trial, set_flags
from lrwidgets.sweep.grid import Trial
from lrwidgets.sweep.preflight import WorkerGone, gone_warning, said
from lrwidgets.sweep.trial_table import TrialTable
from lrwidgets.training.fit_args import check_fit_kwargs_early

#: How many times a run sends its data to the workers again after losing it with a worker (the
#: trials Dask cancelled then are queued again); after that, they end `cancelled` (resume runs them).
MAX_DATA_LOSSES = 2
#: How long a run ended by an error waits for its running trials to stop at their next batch (s).
STOP_WAIT = 60.0
#: On a cluster the user named: how often (s) a run with no trial ended looks for workers that
#: joined (to check them) or left (to send their waiting trials to others).
POLL = 0.2
#: Workers that may leave the cluster while they load the trials' code before a run stops: a nanny
#: restarts a worker that an import ended, and the new one would end the same way, on and on.
MAX_LOST_IN_CHECKS = 3


@dataclass(frozen=True)
class TrialTask:
    """What every trial's task takes besides its trial and the data."""

    build_model: Callable[[], Any]
    fit_kwargs: dict[str, Any]
    update_interval: float
    max_points: int
    directions: dict[str, str] = field(default_factory=dict)  # the monitor's direction when `mode` gives it
    keras_settings: dict[str, Any] | None = None  # the notebook's Keras global settings at `run()`


def check_sendable(
    build_model: Callable[[], Any],
    fit_kwargs: dict[str, Any],
    x: Any = None,
    y: Any = None,
    schedules: Iterable[Any] = (),
) -> None:
    """A TypeError naming what of a trial's task Dask cannot pickle (a closure over a lock, an open
    file; ``build_model``, a fit argument, one of ``schedules``), before anything runs: each trial
    would fail with Dask's own words, the data left on the workers (a schedule: the run stopped at
    the first trial that has it, the trials running then cancelled). The data (``x``, ``y``,
    ``validation_data``) are not copied here to check them: only the kinds that cannot be sent are
    refused: an iterator (each worker's trials share one copy of the data, so the first would use it
    up) and a ``tf.data.Dataset``."""
    for name, data in (("x", x), ("y", y), ("validation_data", fit_kwargs.get("validation_data"))):
        if isinstance(data, Iterator) or any(
            c.__module__.startswith("tensorflow") and "Dataset" in c.__name__ for c in type(data).__mro__
        ):
            raise TypeError(
                f"Argument `{name}` must be data a sweep can send to Dask's worker processes: arrays (or"
                " a dict or tuple of them) or a `keras.utils.PyDataset`; an iterator would be used up by a"
                " worker's first trial, and a generator or a `tf.data.Dataset` cannot be pickled."
                f" Received: {name}={data!r}"
            )
    shapes = {id(s): s for s in schedules if s is not None}.values()  # each schedule object once
    for name, value in (("build_model", build_model), *fit_kwargs.items(), *(("schedules", s) for s in shapes)):
        if name == "validation_data":
            continue
        try:  # as Dask sends it (cloudpickle, its fallback): arrays out of band, not copied here
            cloudpickle.dumps(value, protocol=5, buffer_callback=lambda buffer: None)
        except Exception as e:
            raise TypeError(
                f"Argument `{name}` must be picklable: a sweep sends it to Dask's worker processes"
                f" ({type(e).__name__}: {e}). Define it at a module's top level, or let it hold no lock,"
                f" open file or connection. Received: {name}={value!r}"
            ) from e


def run_trials(
    client: Client,
    table: TrialTable,
    key: str,
    data: dict[str, Any],
    task: TrialTask,
    finish: Callable[[Trial, dict[str, Any]], None],
    check: Callable[[str], str | None] | None = None,
    checked: Iterable[str] = (),
) -> None:
    """Run ``table``'s queued trials on ``client`` until none is left (or it stops submitting);
    ``finish(trial, row)`` as each ends. ``key`` names the tasks, the progress topic and the cancel flags.

    ``check``: given (a cluster the user named), each worker not in ``checked`` (those checked
    before the run) is asked first, as it is seen, what keeps it from running a trial (None:
    nothing; those seen at one look in one call when ``check`` has ``many``, as
    :class:`~lrwidgets.sweep.preflight.CodeCheck` has); one that names something is sent no trial
    (a warning says why), nor one that leaves while it is asked (``preflight.WorkerGone``: a
    warning; ``MAX_LOST_IN_CHECKS`` of those stop the run). Every trial is then sent to the workers
    that passed, as strict restrictions (with loose ones Dask's work stealing
    gave a waiting trial to any idle worker, and a refused one died of it); the run looks every
    ``POLL`` s for workers that joined, and sends a trial whose named workers all left again."""
    futures: dict[Any, tuple[Trial, Any]] = {}  # each trial's future -> the trial, the data it was given
    [payload] = client.scatter([data], broadcast=True, hash=False)
    losses = 0
    refused: dict[str, str] = {}  # worker address -> why it gets no trial (its code; another backend)
    passed = set(checked)
    left_in_check: list[str] = []  # workers that left the cluster while they loaded the trials' code
    strict = check is not None
    named_for: dict[Any, set[str]] = {}  # strict: each waiting or running future's workers
    moved: set[Any] = set()  # strict: futures cancelled to be sent again (their workers all left)
    attempts = itertools.count()
    pending = as_completed(loop=client.loop)  # this client's: Dask may have no default client

    def fresh_payload() -> Any:
        """The data on the workers: sent again when it was lost (at most ``MAX_DATA_LOSSES`` times)."""
        nonlocal payload, losses
        if payload.status != "finished" and losses < MAX_DATA_LOSSES:
            losses += 1
            # No worker to send it to (yet): the trials given the lost data are cancelled.
            with contextlib.suppress(Exception):
                [payload] = client.scatter([data], broadcast=True, hash=False)
        return payload

    def top_up(refusing: bool = False) -> None:
        """One trial in flight a worker (a process runs one at a time: `_worker.ONE_AT_A_TIME`),
        counted again each time: workers may join or leave while the sweep runs. A worker that
        joined gets the data first (Dask sends a task only where its data is). Every worker there
        refused: an error, at the run's start, after a refusal (``refusing``) or without ``check``;
        else (strict: a look between trials' ends, a worker just died) the run waits for one to join."""
        if client.status != "running":  # closed under the run (Dask's own error: 'NoneType' ... 'ncores')
            raise RuntimeError(f"The sweep's Dask client was closed while the sweep ran (its status: {client.status}).")
        present = set(client.nthreads())
        if check is not None:  # joined since the last look: checked before it gets a trial
            joined = sorted(present - passed - set(refused))
            # All asked in one call where the check can (dask-jobqueue starts workers by the dozen;
            # ones the scheduler cannot reach wait out Dask's connect timeout together).
            many = getattr(check, "many", None)
            answers = many(joined) if many is not None and joined else {}
            for worker in joined:
                try:
                    why = said(answers[worker]) if worker in answers else check(worker)
                except WorkerGone as e:  # neither passed nor refused: checked again should it come back
                    present.discard(worker)
                    left_in_check.append(worker)
                    if len(left_in_check) >= MAX_LOST_IN_CHECKS:
                        raise RuntimeError(
                            f"Workers left the cluster {len(left_in_check)} times while they loaded the sweep's"
                            f" trials' code ({', '.join(left_in_check)}): an import that ends its process (a"
                            " crash, `os._exit`, memory) would end each as Dask unpickles a trial. The sweep stops."
                        ) from e
                    warnings.warn(gone_warning(worker, e), RuntimeWarning, stacklevel=1)
                    continue
                if why is None:
                    passed.add(worker)
                else:
                    refuse(worker, why, given_one=False)
                    refusing = True
        workers = (present & passed if strict else present) - set(refused)  # (a passed one may refuse a trial)
        if present and not workers and (refusing or not strict):  # (none there: waited for, as without)
            raise RuntimeError(
                "No worker of the cluster can run the sweep's trials: "
                + "; ".join(f"{address}: {why}" for address, why in sorted(refused.items()))
            )
        if strict:  # a trial whose workers all left waits for them forever: sent again to others
            for f, named in named_for.items():
                if f not in moved and f.status == "pending" and not named & workers:
                    moved.add(f)
                    f.cancel()
        if len(workers) > 1 and payload.status == "finished":
            with contextlib.suppress(Exception):  # one left meanwhile: asked again at the next trial's end
                missing = workers - set(client.who_has([payload]).get(payload.key, ()))
                if missing:  # (a paused worker is skipped by Dask: asked again too)
                    client.replicate([payload], workers=sorted(missing))
        # (Strict: none to a cluster with no worker that passed; without: one, placed when one comes.)
        while len(futures) - len(moved) < (len(workers) if strict else max(1, len(workers))) and submit_next(workers):
            pass

    def refuse(worker: str, why: str, given_one: bool = True) -> None:
        if worker not in refused:
            refused[worker] = why
            more = "no more trials" if given_one else "no trial"
            warnings.warn(f"The sweep sends {more} to the worker {worker}: {why}", RuntimeWarning, stacklevel=1)

    def submit_next(workers: set[str]) -> bool:
        trial = table.next_queued()
        if trial is None:
            return False
        given = fresh_payload()
        # Strict: only to workers that passed. Without a check (the embedded cluster): not to a
        # worker refused, any should all those named leave (loose); none there: any.
        named = sorted(workers) if (refused or strict) and workers else None
        f = client.submit(
            run_trial,
            trial,
            task.build_model,
            given,
            task.fit_kwargs,
            key,
            key,
            task.update_interval,
            task.max_points,
            task.directions,
            task.keras_settings,
            key=f"{key}-trial-{trial.trial}-{next(attempts)}",  # a trial queued again: a new task
            pure=False,
            retries=0,
            workers=named,
            allow_other_workers=named is not None and not strict,
        )
        futures[f] = (trial, given)
        if strict:
            named_for[f] = set(workers)
        pending.add(f)
        return True

    def next_ended() -> Any | None:
        """The next future that ended, or None when none is left to wait for. Strict: polled, the
        workers looked at between (a worker that joined is checked; none may come for a while)."""
        if not strict:
            return next(pending, None)
        while not pending.has_ready():
            if pending.is_empty() and not (table.queue and not table.stopping):
                return None
            time.sleep(POLL)
            top_up()
        return next(pending)

    try:
        top_up(refusing=True)
        while (f := next_ended()) is not None:
            trial, given = futures[f]  # taken out once handled: until then the end releases it
            named_for.pop(f, None)
            refusing = False
            if f in moved:  # its workers all left: sent again to the others (or to the next that passes)
                moved.discard(f)
                if table.requeue(trial):
                    table.notify({trial.trial})
                else:
                    finish(trial, row_of(f, trial, trial.trial in table.cancel_times))
                del futures[f]
                f.release()
                top_up()
                continue
            # Cancelled by Dask: the data sent to the workers was lost with the one(s) holding it (a
            # one-worker cluster whose worker died; a trial running on a dead worker of the embedded
            # cluster fails with KilledWorker instead, and is not run again). Queued again, on the
            # data sent again, while it can be sent again.
            lost = f.status == "cancelled" and given.status != "finished"
            row = row_of(f, trial, trial.trial in table.cancel_times, lost)
            if row.pop(REFUSED, False):
                refuse(row["worker"], row["reason"])
                refusing = True
                if table.requeue(trial):  # run on another worker
                    table.notify({trial.trial})
                else:
                    finish(trial, row)
            elif lost and (given is not payload or losses < MAX_DATA_LOSSES) and table.requeue(trial):
                table.notify({trial.trial})
            else:
                finish(trial, row)
            del futures[f]
            f.release()
            top_up(refusing)
    except BaseException:
        # Dask cannot stop a task that runs: the run's flag stops its trials at their next batch.
        if futures:
            with contextlib.suppress(Exception):
                client.run(set_flags, [key])
                wait_ended(list(futures), STOP_WAIT)
        raise
    finally:  # however the run ends, the data and the trials' results are released on the cluster
        for f in futures:
            f.release()
        payload.release()


def wait_ended(futures: list[Any], timeout: float) -> None:
    """Wait for ``futures`` to end (done, failed or cancelled), ``timeout`` seconds at most in all;
    through their own client (``distributed.wait`` needs Dask's default client, which the sweep's
    is not)."""
    deadline = time.monotonic() + timeout
    for f in futures:
        with contextlib.suppress(Exception):  # its error, or the time is up
            f.result(timeout=max(0.0, deadline - time.monotonic()))


def row_of(future: Any, trial: Trial, asked_to_cancel: bool = False, data_lost: bool = False) -> dict[str, Any]:
    """The row of a trial whose future has ended: its result, or why it has none."""
    base = {**trial.config(), "status": "failed"}
    if future.status == "finished":
        return dict(future.result())
    if future.status == "cancelled":  # by Dask: lrwidgets cancels trials through flags, not futures
        if asked_to_cancel:
            return {**base, "status": "cancelled", "reason": "cancelled"}
        # A fault of the cluster, not of the trial: cancelled, so that `run(resume=True)` runs it again.
        lost = ": a worker was lost with the data sent to it" if data_lost else ""
        return {**base, "status": "cancelled", "reason": f"cancelled by Dask{lost}"}
    error = future.exception()
    if isinstance(error, KilledWorker):
        return {**base, "reason": f"worker lost: {error}"}
    return {**base, "reason": f"{type(error).__name__}: {error}"}


# What `run()` refuses: names the Sweep gives every trial itself (where each comes from).
_SWEEP_ARGUMENTS = {
    "x": "`run(x, y)`",
    "y": "`run(x, y)`",
    "epochs": "`Sweep(..., epochs=...)`",
    **dict.fromkeys(("learning_rate", "learning_rates", "lr"), "`Sweep(build_model, learning_rates=[...])`"),
    **dict.fromkeys(("optimizer", "optimizers"), "`Sweep(..., optimizers=[...])`"),
    **dict.fromkeys(("schedule", "schedules"), "`Sweep(..., schedules=[...])`"),
    **dict.fromkeys(("seed", "seeds"), "`Sweep(..., seeds=[...])`"),
    "monitor": "`Sweep(..., monitor=...)`",
}


def check_run_kwargs(fit_kwargs: dict[str, Any]) -> None:
    """Refuse in `Sweep.run` what would fail every trial on the workers: an argument the Sweep gives
    each trial itself (`learning_rate=`), a misspelt `model.fit` argument, a bad count."""
    for name in fit_kwargs:
        if name in _SWEEP_ARGUMENTS:
            raise TypeError(
                f"Argument `{name}` is not a `run` argument: the sweep's come from the Sweep itself "
                f"({_SWEEP_ARGUMENTS[name]}). {received(name, fit_kwargs[name])}"
            )
    check_fit_kwargs_early(fit_kwargs, "Sweep.run")
