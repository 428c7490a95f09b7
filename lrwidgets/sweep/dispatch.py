"""A sweep's trials as Dask tasks: the data sent to every worker once, at most as many trials in
flight as the cluster has threads (the queue stays on the client), each finished future turned into
its trial's row and released."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from distributed import Client, KilledWorker, as_completed

from lrwidgets.sweep._worker import run_trial
from lrwidgets.sweep.grid import Trial
from lrwidgets.sweep.trial_table import TrialTable


@dataclass(frozen=True)
class TrialTask:
    """What every trial's task takes besides its trial and the data."""

    build_model: Callable[[], Any]
    fit_kwargs: dict[str, Any]
    update_interval: float
    max_points: int


def run_trials(
    client: Client,
    table: TrialTable,
    key: str,
    data: dict[str, Any],
    task: TrialTask,
    finish: Callable[[Trial, dict[str, Any]], None],
) -> None:
    """Run ``table``'s queued trials on ``client`` until none is left (or it stops submitting);
    ``finish(trial, row)`` as each ends. ``key`` names the tasks, the progress topic and the cancel flags."""
    futures: dict[Any, Trial] = {}
    [payload] = client.scatter([data], broadcast=True, hash=False)
    capacity = max(1, sum(client.nthreads().values()))
    pending = as_completed()

    def submit_next() -> None:
        trial = table.next_queued()
        if trial is None:
            return
        f = client.submit(
            run_trial,
            trial,
            task.build_model,
            payload,
            task.fit_kwargs,
            key,
            key,
            task.update_interval,
            task.max_points,
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
        finish(trial, row_of(f, trial))
        f.release()
        submit_next()
    payload.release()


def row_of(future: Any, trial: Trial) -> dict[str, Any]:
    """The row of a trial whose future has ended: its result, or why it has none."""
    base = {**trial.config(), "status": "failed"}
    if future.status == "finished":
        return dict(future.result())
    if future.status == "cancelled":
        return {**base, "status": "cancelled", "reason": "cancelled"}
    error = future.exception()
    if isinstance(error, KilledWorker):
        return {**base, "reason": f"worker lost: {error}"}
    return {**base, "reason": f"{type(error).__name__}: {error}"}
