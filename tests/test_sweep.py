"""LR sweeps on Dask (`lrwidgets.sweep`): trials on a 2-process local cluster and on an external one.

Marked `slow` and `sweep`, not `keras`: they start worker processes, so they run in the jax stage
and in the stages at the dependency floors and at the newest releases (the sweep extra), not again
on tensorflow and torch.
Every process a test starts is shut down by it (fixtures close their clusters; the external
scheduler and workers are terminated in a `finally`).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.sweep]
ROOT = Path(__file__).resolve().parent.parent


def data(n: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    return x, np.tanh(x @ rng.normal(size=(8, 1))).astype("float32")


def build_model() -> Any:
    """A tiny MLP, compiled (the sweep keeps its loss and metrics, replaces its optimizer)."""
    import keras

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    return model


def not_a_model() -> Any:
    return "model"


def build_model_that_exits() -> Any:
    """A `build_model` whose code ends its process the way a script would (`sys.exit`), on seeds 1
    and 2, and interrupts itself on seeds 0 and 3 (a task's thread gets no signal: such a raise is
    the code's): NumPy's global generator, just seeded with the trial's seed, decides."""
    if np.random.random() < 0.5:  # noqa: NPY002 (the global generator is the point)
        raise SystemExit("no data here")
    raise KeyboardInterrupt("given up")


def uncompiled() -> Any:
    import keras

    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])


class Fails:
    """A schedule that raises once a fit looks at step 3 or later."""

    def __call__(self, step: Any) -> Any:
        if np.any(np.asarray(step) >= 3):
            raise RuntimeError("this schedule broke")
        return np.ones_like(np.asarray(step), dtype="float64")


class KillsWorker:
    """A schedule that ends its worker's process once a fit looks at step 3 or later."""

    def __call__(self, step: Any) -> Any:
        if np.any(np.asarray(step) >= 3):
            os._exit(3)
        return np.ones_like(np.asarray(step), dtype="float64")


def slow_batches() -> Any:
    """A callback slowing each batch by 2 ms, so that a long trial is surely running when cancelled."""
    import keras

    class Slow(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            time.sleep(0.002)

    return Slow()


def wait_for(condition: Any, timeout: float = 120.0) -> None:
    from tests.helpers import wait_for as wait  # here: the workers import this module

    wait(condition, timeout)


def serial_rows(sweep: Any, x: np.ndarray, y: np.ndarray, **fit_kwargs: Any) -> list[dict[str, Any]]:
    from lrwidgets.sweep import train_trial

    kwargs = {**fit_kwargs, "epochs": sweep.epochs}
    return [train_trial(t, sweep.build_model, {"x": x, "y": y}, kwargs) for t in sweep.trials]


def assert_same_results(rows: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [r["status"] for r in rows] == ["done"] * len(expected)
    for r, e in zip(rows, expected, strict=True):
        assert (r["learning_rate"], r["optimizer"], r["seed"]) == (e["learning_rate"], e["optimizer"], e["seed"])
        for key in ("final_loss", "final_val_loss", "best_val_mae"):
            np.testing.assert_allclose(r[key], e[key], rtol=1e-4, err_msg=f"trial {r['trial']} {key}")


def draws_numpy() -> Any:
    """A callback drawing from NumPy's global generator, as other code in a worker process may."""
    import keras

    class Draws(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            np.random.rand(3)  # noqa: NPY002  (the legacy global generator is the point)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            np.random.rand(5)  # noqa: NPY002

    return Draws()


def build_model_after_other_draws() -> Any:
    """`build_model` while other code of the process draws from Python's `random` (a worker's loop did)."""
    import random

    random.random()
    return build_model()


def draws_python() -> Any:
    """A callback drawing from Python's global `random`, as a worker's event loop does."""
    import random

    import keras

    class Draws(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            random.random()

    return Draws()


def batches(x: np.ndarray, y: np.ndarray, size: int = 32) -> Any:
    """A `PyDataset` of `x`, `y` (Keras shuffles its batch order with Python's `random.shuffle`)."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __len__(self) -> int:
            return len(x) // size

        def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
            return x[i * size : (i + 1) * size], y[i * size : (i + 1) * size]

    return Batches()


def test_a_pydataset_trial_depends_on_its_seed_alone(client: Any) -> None:
    """A PyDataset's batch order comes from Python's `random`, which only NumPy's was seeded like
    at each epoch: other draws (a worker's event loop) changed a trial, two runs differed."""
    from lrwidgets.sweep import Sweep, train_trial

    x, y = data(256)
    sweep = Sweep(build_model, [1e-2, 3e-2], optimizers=["sgd"], seeds=[0, 1], epochs=3)
    fit = {"epochs": 3}
    serial = [train_trial(t, build_model, {"x": batches(x, y), "y": None}, fit)["final_loss"] for t in sweep.trials]
    disturbed = [
        train_trial(t, build_model, {"x": batches(x, y), "y": None}, {**fit, "callbacks": [draws_python()]})
        for t in sweep.trials
    ]
    assert [r["final_loss"] for r in disturbed] == serial
    for _ in range(2):
        rows = sweep.run(batches(x, y), cluster=client).wait(600)
        np.testing.assert_allclose(list(rows["final_loss"]), serial, rtol=1e-6)


def test_a_trial_depends_on_its_seed_alone() -> None:
    """Keras seeds its initializers from Python's global `random` and shuffles from NumPy's global
    generator: other draws from either (other threads of a worker) must not change a trial."""
    from lrwidgets.sweep import Sweep, train_trial

    x, y = data(128)
    trial = Sweep(build_model, [3e-2], optimizers=["sgd"]).trials[0]
    fit = {"batch_size": 32, "epochs": 3}
    alone = train_trial(trial, build_model, {"x": x, "y": y}, fit)
    disturbed = train_trial(trial, build_model, {"x": x, "y": y}, {**fit, "callbacks": [draws_numpy()]})
    assert alone["status"] == disturbed["status"] == "done"
    assert alone["final_loss"] == disturbed["final_loss"]
    other_draws = train_trial(trial, build_model_after_other_draws, {"x": x, "y": y}, fit)
    assert alone["final_loss"] == other_draws["final_loss"]
    # Each run of a trial names itself in its progress messages (the client tells a run again by it).
    runs: list[set[str]] = []
    for _ in range(2):
        sent: list[dict[str, Any]] = []
        train_trial(trial, build_model, {"x": x, "y": y}, fit, send=sent.append)
        runs.append({m["attempt"] for m in sent})
        assert sent and len(runs[-1]) == 1
    assert runs[0] != runs[1]


def test_final_logs_come_from_the_last_epoch_that_logged_them() -> None:
    """With `validation_freq=2` over 3 epochs, `final_val_loss` was NaN: the last epoch did not validate."""
    from lrwidgets.sweep import Sweep, train_trial

    x, y = data(128)
    trial = Sweep(build_model, [1e-2], optimizers=["sgd"]).trials[0]
    fit = {"batch_size": 32, "epochs": 3, "validation_split": 0.25, "validation_freq": 2}
    row = train_trial(trial, build_model, {"x": x, "y": y}, fit)
    assert row["status"] == "done" and row["epochs"] == 3
    assert np.isfinite(row["final_val_loss"]) and np.isfinite(row["final_val_mae"])
    assert row["final_val_loss"] == row["best_val_loss"]  # the one epoch that validated (the 2nd)
    assert np.isfinite(row["final_loss"])


@pytest.fixture(scope="module")
def client() -> Any:
    from lrwidgets.sweep.cluster import close_local_cluster, start_local_cluster

    c, cluster = start_local_cluster(2)
    yield c
    close_local_cluster(c, cluster)


def test_the_notebooks_keras_settings_reach_the_trials_and_the_workers_own_come_back(client: Any) -> None:
    """With `keras.config.set_dtype_policy("mixed_float16")` in the notebook, a worker's model was float32:
    its trial was not the serial run (which builds in the notebook's process, under its policy)."""
    import keras
    from keras.src.backend.common import global_state

    from lrwidgets.sweep import Sweep, train_trial
    from lrwidgets.training.trial import current_keras_config, keras_config

    before = global_state.get_global_attribute("dtype_policy", None)
    settings = {**current_keras_config(), "dtype_policy": "mixed_bfloat16", "epsilon": 1e-5}
    with keras_config(settings):
        assert (keras.config.dtype_policy().name, keras.config.epsilon()) == ("mixed_bfloat16", 1e-5)
    assert global_state.get_global_attribute("dtype_policy", None) is before and keras.config.epsilon() == 1e-7
    x, y = data(128)
    sweep = Sweep(build_model, [1e-2], optimizers=["adam"], epochs=2)
    fit = {"batch_size": 32, "epochs": 2}
    plain = train_trial(sweep.trials[0], build_model, {"x": x, "y": y}, fit)["final_loss"]
    keras.config.set_dtype_policy("mixed_float16")
    try:
        mixed = train_trial(sweep.trials[0], build_model, {"x": x, "y": y}, fit)["final_loss"]
        swept = sweep.run(x, y, batch_size=32, cluster=client).wait(600)["final_loss"][0]
    finally:
        global_state.set_global_attribute("dtype_policy", before)
    assert np.isfinite(mixed) and mixed != plain
    np.testing.assert_allclose(swept, mixed, rtol=1e-5)
    # The settings are the run's: a later run without them trains as the workers' own settings do.
    again = sweep.run(x, y, batch_size=32, cluster=client).wait(600)["final_loss"][0]
    np.testing.assert_allclose(again, plain, rtol=1e-5)


def test_starting_the_embedded_cluster_puts_back_only_what_dask_wrote(monkeypatch: Any) -> None:
    """The cluster starts in the sweep's thread: a variable the user's thread sets meanwhile stays."""
    from lrwidgets.sweep import cluster as cluster_module

    real = cluster_module.LocalCluster

    def local_cluster(*args: Any, **kwargs: Any) -> Any:
        os.environ["LRWIDGETS_TEST_USER_VAR"] = "set meanwhile"  # as the user's thread would
        return real(*args, **kwargs)

    monkeypatch.setattr(cluster_module, "LocalCluster", local_cluster)
    monkeypatch.delenv("LRWIDGETS_TEST_USER_VAR", raising=False)
    omp = os.environ.get("OMP_NUM_THREADS")
    client, cluster = cluster_module.start_local_cluster(1)
    try:
        assert os.environ.get("LRWIDGETS_TEST_USER_VAR") == "set meanwhile"
        assert os.environ.get("OMP_NUM_THREADS") == omp  # Dask's own write undone
    finally:
        cluster_module.close_local_cluster(client, cluster)
        os.environ.pop("LRWIDGETS_TEST_USER_VAR", None)


def test_a_worker_replaced_after_its_death_leaves_the_environment() -> None:
    """Dask's nanny writes `OMP_NUM_THREADS`, `PYTHONHASHSEED` & co. into this process's environment
    at every spawn: a worker that died and was replaced left them there, after `close()` too."""
    import signal

    from lrwidgets.sweep import cluster as cluster_module

    before = dict(os.environ)
    client, cluster = cluster_module.start_local_cluster(1)
    try:
        (old,) = client.run(os.getpid).values()
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 120
        pids: set[Any] = {old}
        while pids in ({old}, set()):  # until its nanny has started another
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.2)
            with contextlib.suppress(Exception):  # (no worker for a moment)
                pids = set(client.run(os.getpid).values())
        while dict(os.environ) != before and time.monotonic() < deadline:
            time.sleep(0.05)  # the worker registers just before its nanny's spawn returns
        assert dict(os.environ) == before
    finally:
        cluster_module.close_local_cluster(client, cluster)
    assert dict(os.environ) == before


def test_embedded_cluster_equals_serial_runs_per_seed_and_leaves_the_environment() -> None:
    from lrwidgets.sweep import Sweep

    x, y = data()
    before = dict(os.environ)
    sweep = Sweep(build_model, [3e-2, 1e-1], optimizers=["sgd"], seeds=[0, 1], epochs=2, n_workers=2)
    try:
        run = sweep.run(x, y, batch_size=32, validation_split=0.25)
        results = run.wait(600)
        assert dict(os.environ) == before  # LocalCluster's OMP_NUM_THREADS & co. undone
        cluster = sweep._cluster
        assert cluster is not None and len(sweep.client.nthreads()) == 2
        assert set(sweep.client.nthreads().values()) == {1}
        # The workers share jax's compilation cache: four trials of one model on two workers
        # compiled its steps there (and the results below, from cached programs on a worker's
        # later trials, equal serial runs compiled without it).
        caches = set(sweep.client.run(lambda: os.environ.get("JAX_COMPILATION_CACHE_DIR")).values())
        assert len(caches) == 1 and None not in caches
        cache = Path(caches.pop())
        assert cache.name.startswith("lrwidgets-jax-cache-")
        if os.environ.get("KERAS_BACKEND", "jax") == "jax":
            assert list(cache.iterdir())
    finally:
        sweep.close()
    assert cluster.status.name == "closed" and sweep.client is None
    assert not cache.exists()  # removed with the cluster
    rows = results.to_dict("records")
    assert_same_results(rows, serial_rows(sweep, x, y, batch_size=32, validation_split=0.25))
    # Different seeds, different runs; each trial streamed its curve and its epochs.
    assert rows[0]["final_loss"] != rows[1]["final_loss"]
    for t in sweep.trials:
        curve = sweep.curve(t.trial)
        assert curve.steps[-1] == 2 * 6 - 1 and len(curve.epochs) == 2
        assert np.allclose(curve.learning_rate, t.learning_rate)
    assert sweep.best is not None and sweep.best["trial"] == min(rows, key=lambda r: r["best_val_loss"])["trial"]


def test_a_trial_that_raises_or_diverges_fails_with_its_reason_and_the_others_finish(client: Any) -> None:
    from lrwidgets.sweep import Sweep

    x, y = data()
    sweep = Sweep(build_model, [1e-2, 1e6], optimizers=["sgd"], schedules=[None, Fails()], epochs=1)
    results = sweep.run(x, y, batch_size=32, cluster=client).wait(600)
    by = {(r["learning_rate"], r["schedule"]): r for r in results.to_dict("records")}
    assert by[(1e-2, "constant")]["status"] == "done"
    assert by[(1e6, "constant")]["status"] == "failed"
    assert by[(1e6, "constant")]["reason"].startswith("diverged")
    row = by[(1e-2, "Fails")]
    assert row["status"] == "failed" and "this schedule broke" in row["reason"], row
    assert by[(1e6, "Fails")]["status"] == "failed"  # whichever comes first: the NaN or the error
    assert sweep.best is not None and sweep.best["learning_rate"] == 1e-2
    # Failed trials are not retried: each ran once, on one worker.
    assert all(isinstance(r["worker"], str) for r in by.values())


def test_a_listener_that_raises_is_warned_about_and_the_sweep_finishes(client: Any) -> None:
    from lrwidgets.sweep import Sweep

    sweep = Sweep(build_model, [1e-2, 3e-2], optimizers=["sgd"], epochs=1)

    def broken(trials: set[int]) -> None:
        if "done" in sweep.statuses.values():
            raise RuntimeError("view broke")

    sweep.subscribe(broken)
    with pytest.warns(RuntimeWarning, match="a sweep listener failed: RuntimeError: view broke"):
        results = sweep.run(*data(), batch_size=32, cluster=client).wait(600)
    assert list(results["status"]) == ["done", "done"] and not sweep.running


@pytest.mark.parametrize("call", ["cancel", "stop"])
def test_a_listener_may_cancel_and_stop(client: Any, call: str) -> None:
    """Listeners run on Dask's event loop, where the client's calls are coroutines: the flags are
    still raised there, and the running trials stop."""
    from lrwidgets.sweep import Sweep

    sweep = Sweep(build_model, [1e-3, 2e-3], optimizers=["sgd"], epochs=10**6)  # run until stopped
    asked: list[int] = []

    def stop_on_first_curve(trials: set[int]) -> None:
        running = [t for t in trials if sweep.statuses[t] == "running" and len(sweep.curve(t).steps) > 0]
        if running and not asked:
            asked.append(running[0])
            sweep.cancel(running[0]) if call == "cancel" else sweep.stop()

    sweep.subscribe(stop_on_first_curve)
    x, y = data(64)
    run = sweep.run(x, y, batch_size=32, cluster=client, callbacks=[slow_batches()])
    wait_for(lambda: asked and sweep.statuses[asked[0]] == "cancelled")
    if call == "cancel":
        sweep.stop()
    run.wait(120)
    assert set(sweep.statuses.values()) == {"cancelled"}
    assert sweep.rows[asked[0]]["reason"] == "cancelled" and sweep.rows[asked[0]]["steps"] > 0


class FlakyClient:
    """A stand-in for a Dask client: ``status`` as given; ``run`` records its calls, or raises
    ``error`` while ``fail`` (calls to fail) is above 0."""

    def __init__(self, status: str, fail: int = 0) -> None:
        self.status, self.fail, self.sent, self.calls = status, fail, [], 0
        self.error: Exception = OSError("connection reset")

    def run(self, fn: Any, keys: list[str]) -> None:
        self.calls += 1
        if self.fail > 0:
            self.fail -= 1
            raise self.error
        self.sent.append(keys)


@pytest.mark.parametrize("trouble", ["reconnecting", "a connection error"])
def test_cancel_flags_the_client_could_not_send_are_sent_again(monkeypatch: Any, trouble: str) -> None:
    """A cancel made while the client cannot reach the cluster is not lost: it is sent again."""
    from lrwidgets.sweep import cluster

    monkeypatch.setattr(cluster, "RESEND", 0.02)
    connection = cluster.ClusterConnection()
    reconnecting = trouble == "reconnecting"
    client = connection.client = FlakyClient("connecting") if reconnecting else FlakyClient("running", 10**6)
    connection.set_flags(["run/0"])
    connection.set_flags(["run/1"])
    wait_for(lambda: client.calls >= 4 or reconnecting, timeout=10)  # tried again, not sent
    assert client.sent == []
    client.status, client.fail = "running", 0
    wait_for(lambda: client.sent, timeout=10)
    time.sleep(0.1)
    assert client.sent == [["run/0", "run/1"]] and connection._retry is None  # once, together; no timer left

    # One that never gets through is warned about once its time is up, then dropped.
    monkeypatch.setattr(cluster, "RESEND_FOR", 0.1)
    client.fail = 10**6
    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always")
        connection.set_flags(["run/2"])
        wait_for(lambda: not connection._unsent and connection._retry is None, timeout=10)
    assert [str(w.message) for w in told] == [
        "the sweep's cancel could not reach the workers: OSError: connection reset"
    ]

    # Another error than a connection's is the caller's, at once; nothing is kept.
    client.error = TypeError("a bug")
    with pytest.raises(TypeError, match="a bug"):
        connection.set_flags(["run/3"])
    assert not connection._unsent and connection._retry is None

    # Closing the connection drops what is left to send.
    monkeypatch.setattr(cluster, "RESEND", 60.0)
    client.status = "closing"
    connection.set_flags(["run/4"])
    assert connection._unsent.keys() == {"run/4"}
    connection.topic = None
    connection.close()
    time.sleep(0.1)
    assert client.sent == [["run/0", "run/1"]] and connection._retry is None and not connection._unsent


def test_cancel_one_trial_and_stop_all_from_the_widget(client: Any) -> None:
    import lrwidgets as lrw

    x, y = data(64)
    # Trials that run until cancelled: however slowly a busy machine starts them, none ends first.
    widget = lrw.LRSweep(build_model, [1e-3, 2e-3, 3e-3, 4e-3], optimizers=["sgd"], epochs=10**6, refresh_interval=0.05)
    sweep = widget.sweep
    run = widget.run(x, y, batch_size=32, cluster=client, callbacks=[slow_batches()])
    wait_for(lambda: sweep.statuses[0] == "running" and len(sweep.curve(0).steps) > 0)
    widget.refresh()
    widget._choice.value = 0
    widget._cancel.click()
    wait_for(lambda: sweep.statuses[0] == "cancelled")
    assert widget._error.value == ""
    # the others go on (a trial shows "running" once its first progress message has come)
    assert all(sweep.statuses[i] in ("queued", "running") for i in (1, 2, 3)), sweep.statuses
    row0 = sweep.rows[0]
    assert row0["steps"] > 0 and row0["reason"] == "cancelled"
    wait_for(lambda: sum(s == "running" for s in sweep.statuses.values()) == 2)
    widget.refresh()
    assert widget._loss_mark.y.shape[0] >= 2  # the overlay holds the trials that streamed
    assert not widget._stop.disabled
    widget._stop.click()
    run.wait(120)
    statuses = sweep.statuses
    assert set(statuses.values()) == {"cancelled"}, statuses
    rows = sweep.rows
    assert [r["reason"] for r in rows[1:]].count("cancelled") == 2  # the two running ones
    assert "sweep stopped before it started" in [r["reason"] for r in rows]  # the queued one
    with pytest.raises(ValueError, match="`trial` must be < 4"):
        sweep.cancel(4)
    widget.refresh()
    assert "4 cancelled" in widget._summary.value and widget._stop.disabled
    widget.close()


def test_resume_skips_the_finished_trials(client: Any, tmp_path: Path) -> None:
    from lrwidgets.sweep import Sweep

    x, y = data(128)
    path = tmp_path / "sweep.json"
    sweep = Sweep(build_model, [1e-2, 3e-2], optimizers=["sgd", "adam"], epochs=1, path=path)
    run = sweep.run(x, y, batch_size=32, cluster=client)
    sweep.cancel(3)  # still queued (2 workers): never runs
    first = run.wait(600).to_dict("records")
    assert [r["status"] for r in first] == ["done", "done", "done", "cancelled"]

    loaded = Sweep.load(path, build_model)
    assert loaded.statuses == {0: "done", 1: "done", 2: "done", 3: "cancelled"}
    second = loaded.run(x, y, batch_size=32, cluster=client).wait(600).to_dict("records")
    assert [r["status"] for r in second] == ["done"] * 4
    for a, b in zip(first[:3], second[:3], strict=True):
        assert (a["time"], a["worker"], a["final_loss"]) == (b["time"], b["worker"], b["final_loss"])  # not re-run
    assert [t.config() for t in loaded.trials] == [t.config() for t in sweep.trials]
    # The CSV and the JSON hold every trial.
    loaded.to_csv(tmp_path / "r.csv")
    import pandas as pd

    assert list(pd.read_csv(tmp_path / "r.csv")["status"]) == ["done"] * 4
    # The object that wrote the file may run again over it; not over another sweep's file.
    other = tmp_path / "other.json"
    other.write_bytes(path.read_bytes())
    for done in (sweep, loaded):  # the one that wrote it, the one loaded from it
        done.path = other
        with pytest.raises(FileExistsError, match=r"other\.json"):
            done.run(x, y, batch_size=32, cluster=client)
        done.path = path
    # A new object over the same file is not let to rewrite it unless told how.
    again = Sweep(build_model, [1e-2, 3e-2], optimizers=["sgd", "adam"], epochs=1, path=path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=r"Argument `path`: .* `resume=True` .* `resume=False`"):
        again.run(x, y, batch_size=32, cluster=client)
    assert path.read_bytes() == before and not again.running
    assert set(again.statuses.values()) == {"queued"}
    # And run(resume=True) on it does what the loaded one did.
    third = again.run(x, y, batch_size=32, cluster=client, resume=True).wait(600).to_dict("records")
    assert [r["time"] for r in third] == [r["time"] for r in second]
    # Not resumed from the results of another grid: other epochs, or trials it would drop from the file.
    before = path.read_bytes()
    longer = Sweep(build_model, [1e-2, 3e-2], optimizers=["sgd", "adam"], epochs=2, path=path)
    with pytest.raises(ValueError, match=r"Argument `resume`: .* another sweep \(epochs=1 there, 2 here\)"):
        longer.run(x, y, batch_size=32, cluster=client, resume=True)
    fewer = Sweep(build_model, [1e-2], optimizers=["sgd", "adam"], epochs=1, path=path)
    with pytest.raises(ValueError, match=r"2 trial\(s\) there that this grid has not: \(learning_rate=0.03, "):
        fewer.run(x, y, batch_size=32, cluster=client, resume=True)
    assert path.read_bytes() == before and not longer.running and not fewer.running
    assert set(longer.statuses.values()) == set(fewer.statuses.values()) == {"queued"}
    # Nor with other `fit` arguments (batch_size 16 after 32 was taken, its results mixed with the others).
    smaller = Sweep(build_model, [1e-2, 3e-2], optimizers=["sgd", "adam"], epochs=1, path=path)
    with pytest.raises(ValueError, match=r"another sweep \(batch_size=Keras's default there, 16 here\)"):
        smaller.run(x, y, batch_size=16, cluster=client, resume=True)
    with pytest.raises(
        ValueError,
        match=r"other `fit` arguments \(batch_size=Keras's default there, 16 here; shuffle=Keras's default there, Fal",
    ):
        loaded.run(x, y, batch_size=16, shuffle=False, cluster=client, resume=True)  # its own trials, in memory
    assert path.read_bytes() == before and not smaller.running and not loaded.running
    # A grid that adds trials resumes: only the new ones run. Another monitor does too: it only ranks.
    more = Sweep(build_model, [1e-2, 3e-2, 1e-1], optimizers=["sgd", "adam"], epochs=1, path=path, monitor="mae")
    fourth = more.run(x, y, batch_size=32, cluster=client, resume=True).wait(600).to_dict("records")
    assert [r["status"] for r in fourth] == ["done"] * 6
    old = {(r["learning_rate"], r["optimizer"]): r["time"] for r in second}
    assert all(r["time"] == old[(r["learning_rate"], r["optimizer"])] for r in fourth if r["learning_rate"] != 1e-1)
    with pytest.raises(TypeError, match=r"`learning_rates` cannot be given\. Received: learning_rates=\[0\.1\]"):
        Sweep.load(path, build_model, learning_rates=[0.1])
    # A hand-edited status (it was loaded as it was, its trial neither ranked nor run again).
    import json

    doc = json.loads(path.read_text())
    doc["results"][0]["status"] = "weird"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"has a trial of status 'weird': a saved trial is done, failed or cancelled"):
        Sweep.load(path, build_model)
    path.write_text('{"format": ')  # a file cut short
    with pytest.raises(
        ValueError, match=r"Argument `path` must name a file written by `Sweep.to_json`; .* is not JSON"
    ):
        Sweep.load(path, build_model)
    with pytest.raises(TypeError, match=r"Argument `path` must be a file path .* Received: path=123"):
        Sweep.load(123, build_model)  # a bare TypeError from pathlib before


def test_why_there_is_no_best() -> None:
    from lrwidgets.sweep.results import why_no_best

    done = {"status": "done", "best_loss": 0.5, "best_val_loss": float("nan")}
    assert why_no_best([], "val_loss") == "The sweep has no done trial yet"
    assert why_no_best([{"status": "running"}], "val_loss") == "The sweep has no done trial yet"
    assert why_no_best([done], "val_loss") == "No done trial has a finite `val_loss` (every value was NaN or infinite)"
    assert why_no_best([done], "val_acc").startswith("No done trial logged `val_acc`")


@pytest.mark.parametrize(
    ("metric", "lower"),
    [
        *[(m, True) for m in ("val_loss", "mean_squared_error", "val_kl_divergence", "hinge", "mae")],
        *[(m, True) for m in ("val_false_negatives", "false_positives")],  # counts of errors
        *[(m, False) for m in ("accuracy", "val_auc", "precision", "true_positives", "r2_score")],
        *[(m, False) for m in ("val_top_k_categorical_accuracy", "error_code_accuracy")],  # the name's end says
    ],
)
def test_trials_are_ranked_as_keras_ranks_a_metric(metric: str, lower: bool) -> None:
    """`val_false_negatives` was ranked higher-is-better: the trial with 34 before the one with 10,
    and each trial's best was its worst epoch. `error_code_accuracy` (an output's accuracy) was
    ranked lower-is-better for the word `error` in it."""
    from lrwidgets.sweep.results import lower_is_better, ranked

    assert lower_is_better(metric) is lower
    rows = [{"trial": i, "status": "done", f"best_{metric}": v} for i, v in enumerate([34.0, 10.0, 20.0])]
    assert [r["trial"] for r in ranked(rows, metric)] == ([1, 2, 0] if lower else [0, 2, 1])


def build_error_code_model() -> Any:
    import keras

    inputs = keras.Input((8,))
    hidden = keras.layers.Dense(8)(inputs)
    outputs = {
        "error_code": keras.layers.Dense(2, activation="softmax", name="error_code")(hidden),
        "aux": keras.layers.Dense(1, name="aux")(hidden),
    }
    model = keras.Model(inputs, outputs)
    losses = {"error_code": "sparse_categorical_crossentropy", "aux": "mse"}
    accuracy = {"error_code": ["accuracy"]}
    model.compile(optimizer="sgd", loss=losses, metrics=accuracy, weighted_metrics=accuracy)  # 2nd: `weighted_`
    return model


def test_a_metric_is_ranked_by_the_direction_keras_gives_it_not_by_its_outputs_name() -> None:
    """An output named `error_code`: its accuracy was taken for a count of errors (the name has
    "error"), its best was its lowest epoch and the trials were ranked worst first."""
    from lrwidgets.sweep import Sweep, train_trial
    from lrwidgets.sweep.results import ranked

    x, y = data(128)
    labels = {"error_code": (y[:, 0] > np.median(y[:, 0])).astype("int32"), "aux": y}
    sweep = Sweep(build_error_code_model, [1e-4, 0.3], optimizers=["sgd"], monitor="val_error_code_accuracy")
    fit = {"batch_size": 16, "epochs": 3, "validation_split": 0.25}
    rows = [train_trial(t, sweep.build_model, {"x": x, "y": labels}, fit) for t in sweep.trials]
    assert [r["status"] for r in rows] == ["done", "done"]
    for r in rows:
        accuracies = {"error_code_accuracy", "error_code_weighted_accuracy"}
        assert set(r["maximized"].split()) == accuracies | {f"val_{name}" for name in accuracies}
        assert r["best_val_error_code_accuracy"] == max(
            r["best_val_error_code_accuracy"], r["final_val_error_code_accuracy"]
        )
    assert rows[1]["best_val_error_code_accuracy"] > rows[0]["best_val_error_code_accuracy"]
    assert [r["trial"] for r in ranked(rows, "val_error_code_accuracy")] == [1, 0]
    assert [r["trial"] for r in ranked(rows, "val_loss")] == [1, 0]


def spread(y_true: Any, y_pred: Any) -> Any:
    """A custom metric Keras gives no direction, lower better (a mean squared error by another name)."""
    import keras

    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


def build_spread_model() -> Any:
    model = build_model()
    model.compile(optimizer="sgd", loss="mse", metrics=[spread])
    return model


def test_a_resume_compares_what_the_fit_arguments_mean() -> None:
    """Keras's defaults given or left out compared unequal (`shuffle=True`, `batch_size=32`), and so
    did `0.2` and `np.float32(0.2)`; a `class_weight` or `validation_data` was only "given", so
    other weights or another validation set resumed, their val_ logs ranked together."""
    from lrwidgets.sweep.results import fit_config, fit_differences

    def differ(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
        return fit_differences(fit_config(a), fit_config(b))

    x = np.ones((8, 2), "float32")
    assert not differ({"batch_size": 32, "shuffle": True, "initial_epoch": 0, "validation_freq": 1}, {})
    assert not differ({"validation_split": np.float32(0.2)}, {"validation_split": 0.2})
    assert not differ({"class_weight": {np.int64(1): 1.0}}, {"class_weight": {1: 1}})
    assert not differ({"validation_data": (x, x)}, {"validation_data": (x.copy(), x.copy())})
    assert differ({"class_weight": {1: 1}}, {"class_weight": {1: 50}}) == [
        f"class_weight={fit_config({'class_weight': {1: 1}})['class_weight']!r} there,"
        f" {fit_config({'class_weight': {1: 50}})['class_weight']!r} here"
    ]
    assert differ({"validation_data": (x, x)}, {"validation_data": (x, 2 * x)})
    assert differ({"batch_size": 16}, {}) == ["batch_size=16 there, Keras's default here"]


def test_mode_gives_the_monitor_a_direction_keras_does_not(client: Any, tmp_path: Path) -> None:
    """A custom metric was ranked higher-is-better unless its name said otherwise: `best_val_spread`
    was each trial's worst epoch and `sweep.best` the worst trial, with no way to say otherwise."""
    from lrwidgets.sweep import Sweep
    from lrwidgets.sweep.results import check_resumable, check_same_direction, lower_is_better

    assert lower_is_better("val_nll") and lower_is_better("perplexity") and lower_is_better("val_rmse")
    x, y = data(128)
    sweep = Sweep(build_spread_model, [1e-4, 0.1], optimizers=["sgd"], epochs=3, monitor="val_spread", mode="min")
    rows = sweep.run(x, y, batch_size=16, validation_split=0.25, cluster=client).wait(600)
    assert list(rows["status"]) == ["done", "done"]
    for r in sweep.rows:
        assert "val_spread" not in r["maximized"].split() and "spread" not in r["maximized"].split()
        assert r["best_val_spread"] <= r["final_val_spread"]
    assert sweep.best is not None and sweep.best["trial"] == 1  # the rate that learnt
    assert sweep.best["best_val_spread"] == min(r["best_val_spread"] for r in sweep.rows)
    # Set as `monitor` is: checked, and the trials that took the best the other way are not ranked.
    for bad in ("x", None, 3):
        with pytest.raises(
            ValueError, match=r"Argument `mode` must be one of \('auto', 'min', 'max'\)\. Received: mode="
        ):
            sweep.mode = bad
        assert sweep.mode == "min"
    with pytest.raises(
        ValueError, match=r"Argument `mode` must be one of \('auto', 'min', 'max'\)\. Received: mode='up'"
    ):
        Sweep(build_model, [1e-3], mode="up")
    changed: list[set[int]] = []
    sweep.subscribe(changed.append)
    sweep.mode = "max"
    assert changed == [{0, 1}]  # the views rank again
    assert sweep.best is None and "ran with another `mode`" in str(sweep.why_no_best)
    sweep.mode = "min"
    # Kept in the sweep file; a resume in another direction than the trials took is refused, from
    # the file or on the same object (the ended trials could not be ranked beside the new ones).
    path = tmp_path / "sweep.json"
    sweep.to_json(path)
    loaded = Sweep.load(path, build_spread_model)
    assert loaded.mode == "min" and loaded.best is not None and loaded.best["trial"] == 1
    check_resumable(path, loaded._grid(), {**loaded._grid(), "mode": "max"}, [])  # the grid alone is the same
    for resumed in (loaded, sweep):
        resumed.mode = "max"
        with pytest.raises(ValueError, match=r"the ended trials \[0, 1\] took their best `val_spread` the other"):
            resumed.run(x, y, batch_size=16, validation_split=0.25, cluster=client, resume=True)
        assert not resumed.running and resumed.statuses == {0: "done", 1: "done"}
    check_same_direction(sweep.rows, "val_spread", "auto")  # "auto" ranks by what each trial took
    check_same_direction(sweep.rows, "val_spread", "min")
    # Trials that never logged the monitor took no best either way: not refused for it.
    check_same_direction(sweep.rows, "val_other", "max")
    check_same_direction([{**r, "best_val_spread": math.nan} for r in sweep.rows], "val_spread", "max")


def test_a_monitor_no_trial_logged_is_named_when_there_is_no_best(client: Any) -> None:
    """A misspelt `monitor` said "no done trial yet" when every trial was done."""
    import lrwidgets as lrw
    from lrwidgets.sweep import Sweep

    sweep = Sweep(build_model, [1e-2], epochs=1, monitor="val_acc")
    sweep.run(*data(64), batch_size=32, cluster=client)
    with pytest.warns(UserWarning, match=r"No done trial logged `val_acc` .*: no trial is best") as said:
        sweep.wait(600)  # said when the run ends, not only when the best is asked for
    assert [w.filename for w in said] == [__file__]  # at the caller's line (pyproject: lrwidgets' would raise)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sweep.wait(600)  # once
    assert sweep.statuses == {0: "done"} and sweep.best is None
    with pytest.raises(
        ValueError, match=r"No done trial logged `val_acc` .*logged \['loss', 'mae'\]: set `sweep.monitor`"
    ):
        sweep.apply_best(build_model())
    # The view says it as soon as a trial is done (the warning waits for the run's end).
    widget = lrw.LRSweep(sweep=sweep)
    assert "1 done · No done trial logged `val_acc`" in widget._summary.value
    # The monitor only ranks: set to a logged name, the same trials rank, none runs again.
    for bad in (3, ""):
        with pytest.raises(TypeError, match=r"Argument `monitor` must be an epoch log name"):
            sweep.monitor = bad
        assert sweep.monitor == "val_acc"
    sweep.monitor = "mae"
    assert sweep.best is not None and sweep.best["best_mae"] > 0 and sweep.why_no_best is None
    wait_for(lambda: widget._summary.value == "1 done" and "best mae" in widget._table.value)  # the view follows


def test_apply_best_sets_the_rate_of_a_session_or_a_model(client: Any) -> None:
    import lrwidgets as lrw
    from lrwidgets.sweep import Sweep

    x, y = data(128)
    from lrwidgets.schedules import ExponentialDecay

    halving = ExponentialDecay(1.0, decay_steps=4, decay_rate=0.5)
    sweep = Sweep(build_model, [1e-3, 3e-2], optimizers=["sgd"], schedules=[None, halving], epochs=2)
    with pytest.raises(ValueError, match="no done trial"):
        sweep.apply_best(build_model())
    assert sweep.best_schedule is None
    sweep.run(x, y, batch_size=32, cluster=client).wait(600)
    best = sweep.best
    assert best is not None
    # The best trial's schedule as it ran: its shape from its rate (None for a constant trial).
    scheduled = best["schedule"] != "constant"
    assert (sweep.best_schedule is not None) == scheduled
    if scheduled:
        assert [sweep.best_schedule(s) for s in (0, 4)] == pytest.approx(
            [best["learning_rate"], best["learning_rate"] / 2]
        )
    later = Sweep(build_model, [3e-2], schedules=[halving]).trials[0].scaled_schedule()
    assert [later(s) for s in (0, 8)] == pytest.approx([3e-2, 3e-2 / 4])
    model = build_model()
    sweep.apply_best(model)
    assert float(model.optimizer.learning_rate) == pytest.approx(best["learning_rate"])
    session = lrw.TrainingSession(build_model())
    sweep.apply_best(session)
    assert session.learning_rate == pytest.approx(best["learning_rate"])
    import keras

    adam = build_model()
    adam.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    with pytest.raises(ValueError, match="optimizer 'sgd'"):
        sweep.apply_best(adam)
    assert float(adam.optimizer.learning_rate) == pytest.approx(1e-3)  # refused: unchanged
    # Through wrappers: SGD's rule, per-layer or under mixed precision's loss scaling, is SGD's.
    wrapped = build_model()
    wrapped.compile(
        optimizer=keras.optimizers.LossScaleOptimizer(lrw.LayerwiseOptimizer(keras.optimizers.SGD(1e-3))), loss="mse"
    )
    sweep.apply_best(wrapped)
    assert float(wrapped.optimizer.inner_optimizer.learning_rate) == pytest.approx(best["learning_rate"])
    wrapped.compile(optimizer=lrw.LayerwiseOptimizer(keras.optimizers.Adam(1e-3)), loss="mse")
    with pytest.raises(ValueError, match="optimizer 'sgd', and `target` is compiled with 'adam'"):
        sweep.apply_best(wrapped)
    # Keras's "sgd" has no momentum: a best rate put into SGD(momentum=0.9, nesterov=True), a step
    # ~10x the trials', was taken silently.
    nesterov = build_model()
    nesterov.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9, nesterov=True), loss="mse")
    apart = r"other settings: momentum=0\.9 \(the trials': 0\.0\), nesterov=True \(the trials': False\)"
    with pytest.raises(ValueError, match=apart):
        sweep.apply_best(nesterov)
    assert float(nesterov.optimizer.learning_rate) == pytest.approx(1e-3)
    with pytest.raises(TypeError, match=r"Argument `target` must be a keras\.Model\. Received: target=str"):
        sweep.apply_best("model")


def test_apply_best_checks_the_models_own_optimizer_when_the_sweep_kept_it() -> None:
    """With `optimizers=None`, an Adam trial's rate was put into an SGD model, unchecked."""
    import keras

    from lrwidgets.sweep import Sweep, train_trial

    def build_adam() -> Any:
        model = build_model()
        model.compile(optimizer=keras.optimizers.Adam(0.5), loss="mse")
        return model

    x, y = data(64)
    sweep = Sweep(build_adam, [1e-3], epochs=1)
    row = train_trial(sweep.trials[0], build_adam, {"x": x, "y": y}, {"batch_size": 32, "epochs": 1})
    assert row["status"] == "done" and row["optimizer"] == "" and row["optimizer_class"] == "adam"
    sweep._table.end(sweep.trials[0], row)
    sgd = build_model()
    with pytest.raises(ValueError, match=r"kept its model's optimizer, 'adam', and `target` is compiled with 'sgd'"):
        sweep.apply_best(sgd)
    assert float(sgd.optimizer.learning_rate) == pytest.approx(0.01)  # refused: unchanged (SGD's default)
    adam = build_adam()
    sweep.apply_best(adam)
    assert float(adam.optimizer.learning_rate) == pytest.approx(1e-3)


def test_bad_arguments() -> None:
    import keras

    from lrwidgets.sweep import Sweep
    from lrwidgets.training.trial import build_trial_model

    with pytest.raises(ValueError, match="`learning_rates` must not be empty"):
        Sweep(build_model, [])
    with pytest.raises(ValueError, match="`seeds` must not be empty"):
        Sweep(build_model, [1e-3], seeds=[])
    with pytest.raises(ValueError, match="`learning_rates` must be a positive finite number"):
        Sweep(build_model, [1e-3, 0.0])
    with pytest.raises(ValueError, match="`learning_rates` must be a positive finite number"):
        Sweep(build_model, [-1e-3])
    with pytest.raises(TypeError, match="`learning_rates` must be a list"):
        Sweep(build_model, 1e-3)
    with pytest.raises(ValueError, match="`optimizers` holds a name Keras knows no optimizer by"):
        Sweep(build_model, [1e-3], optimizers=["adamm"])
    with pytest.raises(ValueError, match="must not repeat"):
        Sweep(build_model, [1e-3, 1e-3])
    for same in (1.00000001e-3, np.float32(1e-3)):  # one float32: two trials of one rate
        with pytest.raises(ValueError, match=r"`learning_rates` must not repeat a value \(as the float32"):
            Sweep(build_model, [1e-3, same])
    with pytest.raises(
        ValueError, match=r"`optimizers` must not repeat a value. Received: optimizers=\['adam', 'Adam'\]"
    ):
        Sweep(build_model, [1e-3], optimizers=["adam", "Adam"])  # one optimizer to Keras: each trial twice
    # Schedules: a warm-up from 0 cannot start at a trial's rate; one that raises is named.
    with pytest.raises(ValueError, match=r"rate at step 0 is > 0: .*<lambda> gives 0.0 at step 0 \(a warm-up"):
        Sweep(build_model, [1e-3], schedules=[lambda step: 0.0 + step])
    with pytest.raises(ValueError, match=r"`schedules`: <lambda> raised at step 0 \(ZeroDivisionError"):
        Sweep(build_model, [1e-3], schedules=[lambda step: 1 / step])
    # Two different functions of one name are two schedules; one given twice is refused.
    halves, thirds = (lambda step: 0.5), (lambda step: 1 / 3)
    assert [t.schedule_name for t in Sweep(build_model, [1e-3], schedules=[halves, thirds]).trials] == [
        "<lambda>",
        "<lambda> #2",
    ]
    with pytest.raises(ValueError, match="`schedules` must not repeat a value"):
        Sweep(build_model, [1e-3], schedules=[halves, halves])
    with pytest.raises(TypeError, match="`build_model` must be callable"):
        Sweep("model", [1e-3])
    with pytest.raises(ValueError, match="`epochs` must be >= 1"):
        Sweep(build_model, [1e-3], epochs=0)
    with pytest.raises(ValueError, match=r"`seeds` must be <= 4,294,967,295"):
        Sweep(build_model, [1e-3], seeds=[2**32])  # Keras's seeds are 32-bit: every trial would fail
    sweep = Sweep(build_model, [1e-3])
    with pytest.raises(TypeError, match="`cluster` must be None"):
        sweep.run(*data(), cluster=8786)
    with pytest.raises(ValueError, match=r"`cluster` must be None .* Received: cluster=''"):
        sweep.run(*data(), cluster="")  # refused here, not failed in the background
    with pytest.raises(TypeError, match="`epochs` is not a `run` argument"):
        sweep.run(*data(), epochs=3)
    # The sweep's own axes, given to `run` as a fit argument, failed every trial on the workers.
    for name, source in (("learning_rate", "learning_rates="), ("optimizer", "optimizers="), ("seed", "seeds=")):
        with pytest.raises(TypeError, match=rf"`{name}` is not a `run` argument: .*`Sweep\(.*{source}"):
            sweep.run(*data(), **{name: 1e-3})
    assert not sweep.running
    # Checked in the caller's thread, before any trial starts (each worker would fail on its own).
    with pytest.raises(
        TypeError, match=r"Sweep\.run\(\): `model.fit` takes no argument `batch_sise`: did you mean `batch_size`"
    ):
        sweep.run(*data(), batch_sise=32)
    with pytest.raises(ValueError, match="`batch_size` must be >= 1"):
        sweep.run(*data(), batch_size=0)
    with pytest.raises(ValueError, match="`validation_split` must be < 1"):
        sweep.run(*data(), validation_split=1.5)
    lock = threading.Lock()
    with pytest.raises(TypeError, match=r"Argument `build_model` must be picklable: .*_thread.lock"):
        Sweep(lambda: (lock, build_model())[1], [1e-3]).run(*data())  # checked before a cluster starts
    with pytest.raises(TypeError, match=r"Argument `callbacks` must be picklable"):
        sweep.run(*data(), callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda *a: lock)])
    assert not sweep.running and set(sweep.statuses.values()) == {"queued"}

    # A schedule was sent with its first trial: the run stopped there, healthy trials cancelled.
    class Locked:
        def __init__(self) -> None:
            self.lock = threading.Lock()

        def __call__(self, step: Any) -> Any:
            return 0.1 + 0 * np.asarray(step)

    scheduled = Sweep(build_model, [1e-3], schedules=[None, Locked()], epochs=1)
    with pytest.raises(TypeError, match=r"Argument `schedules` must be picklable: .*lock"):
        scheduled.run(*data())
    assert not scheduled.running and set(scheduled.statuses.values()) == {"queued"}
    with pytest.raises(TypeError, match=r"`build_model` must return a compiled keras\.Model"):
        build_trial_model(not_a_model, "sgd", 1e-3, 0)
    with pytest.raises(ValueError, match=r"must return a compiled keras\.Model"):
        build_trial_model(uncompiled, "sgd", 1e-3, 0)


def test_wait_to_json_and_optimizers_refuse_bad_arguments_by_name(tmp_path: Path) -> None:
    """`wait('x')` raised a raw TypeError, `wait(nan)` waited forever, `wait(-1)` timed out;
    `to_json(3)` raised a raw TypeError, `to_json` into a missing folder named a temporary file;
    `optimizers=['LossScaleOptimizer']` raised KeyError: 'inner_optimizer'."""
    from lrwidgets.sweep import Sweep, SweepRun

    sweep = Sweep(build_model, [1e-3])
    run = SweepRun(sweep)  # a run that has not ended: a bad timeout must not wait
    for bad, error, said in (
        ("x", TypeError, "must be a float"),
        (True, TypeError, "must be a float"),
        (float("nan"), ValueError, "must be finite"),
        (-1, ValueError, "must be >= 0"),
    ):
        with pytest.raises(error, match=rf"Argument `timeout` {said}\. Received: timeout="):
            run.wait(bad)
    assert not run.done
    for bad in (3, None):
        with pytest.raises(TypeError, match=r"Argument `path` must be a str or a path \(os.PathLike\)"):
            sweep.to_json(bad)
    missing = tmp_path / "gone" / "sweep.json"
    with pytest.raises(FileNotFoundError, match=r"No such folder to write the sweep file in: '.*gone/sweep\.json'"):
        sweep.to_json(missing)
    assert not missing.parent.exists()
    with pytest.raises(ValueError, match=r"`optimizers` holds a name Keras cannot build .*LossScaleOptimizer"):
        Sweep(build_model, [1e-3], optimizers=["LossScaleOptimizer"])


def test_the_sweeps_settings_are_checked_when_set_and_epochs_is_read_only(tmp_path: Path) -> None:
    """`sweep.epochs = 0`, `n_workers = 'two'`, `update_interval = -1`, `max_points = 0`, `path = 3`,
    `build_model = 3` were taken unchecked (each trial then failed on its worker, or the save
    raised); `sweep.trials = []` left the trial table on the grid's trials."""
    from lrwidgets.sweep import Sweep

    sweep = Sweep(build_model, [1e-3], epochs=2)
    trials = sweep.trials
    for read_only, bad in (("epochs", 0), ("trials", [])):
        with pytest.raises(AttributeError):
            setattr(sweep, read_only, bad)
    assert sweep.epochs == 2 and sweep.trials is trials and isinstance(trials, tuple)
    with pytest.raises(TypeError, match=r"Argument `build_model` must be callable\. Received: build_model=3"):
        sweep.build_model = 3  # type: ignore[assignment]
    assert sweep.build_model is build_model
    sweep.build_model = build_spread_model
    assert sweep.build_model is build_spread_model
    for name, bad, error, said in (
        ("n_workers", "two", TypeError, "must be an integer"),
        ("n_workers", 0, ValueError, "must be >= 1"),
        ("update_interval", -1, ValueError, "must be >= 0.1"),
        ("max_points", 0, ValueError, "must be >= 1"),
        ("path", 3, TypeError, "must be a str or a path"),
        ("path", tmp_path, ValueError, "must name a file"),
    ):
        before = getattr(sweep, name)
        with pytest.raises(error, match=rf"Argument `{name}` {said}.* Received: {name}="):
            setattr(sweep, name, bad)
        assert getattr(sweep, name) == before
    sweep.n_workers, sweep.update_interval, sweep.max_points = 3, 0.5, 64
    sweep.path = str(tmp_path / "sweep.json")
    assert (sweep.n_workers, sweep.update_interval, sweep.max_points) == (3, 0.5, 64)
    assert sweep.path == tmp_path / "sweep.json"


def test_run_refuses_data_and_callbacks_every_trial_would_fail_on() -> None:
    """`x=None`, `x='abc'`, `x=3`, `callbacks=3`, `callbacks=[3]`, a `sample_weight` of another
    length, `validation_data=3` and `(x_val, y_val[:5])` started the sweep and failed every trial
    on the workers (the last after an epoch);
    `initial_epoch=5` with `epochs=1` ran no epoch and called each trial done."""
    from lrwidgets.sweep import Sweep

    x, y = data(64)
    sweep = Sweep(build_model, [1e-3], epochs=1)
    for args, kwargs, error, said in (
        ((None, y), {}, ValueError, r"Argument `x` must be arrays .* Received: x=None"),
        (("abc", y), {}, TypeError, r"Argument `x` must be arrays .* Received: x='abc'"),
        ((3, y), {}, TypeError, r"Argument `x` must be arrays .* Received: x=3"),
        ((x, "abc"), {}, TypeError, r"Argument `y` must be arrays .* Received: y='abc'"),
        ((x, y), {"callbacks": 3}, TypeError, r"`callbacks` must be a list of `keras.callbacks.Callback` .*=3"),
        ((x, y), {"callbacks": [3]}, TypeError, r"`callbacks` must be a list of .* Received: callbacks=\[3\]"),
        ((x, y), {"sample_weight": np.ones(3)}, ValueError, r"`sample_weight` must have the same number of samples"),
        ((x, y[:10]), {}, ValueError, r"Arguments `x`, `y` must have the same number of samples: `x` has 64"),
        ((x, y), {"validation_data": 3}, TypeError, r"`validation_data` must be a tuple `\(x_val, y_val\)`.*=3"),
        ((x, y), {"validation_data": (x, "abc")}, TypeError, r"`validation_data` must be arrays"),
        (
            (x, y),
            {"validation_data": (x, y[:5])},
            ValueError,
            r"Arguments `x_val`, `y_val` of `validation_data` must have the same number of samples: `x_val` has 64,"
            r" `y_val` has 5",
        ),
        (
            (x, y),
            {"initial_epoch": 5},
            ValueError,
            r"Argument `initial_epoch` must be < `epochs` .* Received: initial_epoch=5, epochs=1",
        ),
    ):
        with pytest.raises(error, match=said):
            sweep.run(*args, **kwargs)
        assert not sweep.running and sweep.client is None and set(sweep.statuses.values()) == {"queued"}
    # What Keras takes passes the checks (refused here only by the cluster argument, checked after them).
    for args, kwargs in (
        ((batches(x, y),), {}),
        (({"a": x}, y), {"validation_data": (x, y), "sample_weight": np.ones(64), "callbacks": [slow_batches()]}),
    ):
        with pytest.raises(TypeError, match="`cluster` must be None"):
            sweep.run(*args, cluster=8786, **kwargs)


def test_data_that_cannot_be_sent_to_the_workers_is_refused_before_anything_starts() -> None:
    """Dask's own error came at `wait()`, after the cluster had started."""
    from lrwidgets.sweep import Sweep

    x, y = data()
    sweep = Sweep(build_model, [1e-3], optimizers=["sgd"])
    with pytest.raises(TypeError, match=r"Argument `x` must be data a sweep can send .* Received: x=<generator"):
        sweep.run(b for b in [(x, y)])

    class Batches:  # a picklable iterator: a worker's trials would share one copy, the first using it up
        def __iter__(self) -> Batches:
            return self

        def __next__(self) -> tuple[np.ndarray, np.ndarray]:
            return x, y

    with pytest.raises(TypeError, match=r"Argument `x` must be data .* used up by a worker's first trial"):
        sweep.run(Batches())
    tf = pytest.importorskip("tensorflow")  # a tf.data.Dataset is built on any backend
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    with pytest.raises(TypeError, match=r"Argument `validation_data` must be data .*`tf.data.Dataset`"):
        sweep.run(x, y, validation_data=batches)
    assert not sweep.running and sweep.client is None


def test_a_sweep_whose_thread_cannot_start_is_not_left_running(monkeypatch) -> None:
    from lrwidgets.sweep import Sweep
    from tests.helpers import no_thread_named

    sweep = Sweep(build_model, [1e-3, 1e-2])
    no_thread_named(monkeypatch, "lrwidgets-sweep")
    with pytest.raises(RuntimeError, match="can't start new thread"):
        sweep.run(*data())
    assert not sweep.running
    assert set(sweep.statuses.values()) == {"cancelled"}  # not failed: `run(resume=True)` runs them
    assert all("can't start new thread" in row["reason"] for row in sweep.rows)


def test_a_run_ended_by_an_error_leaves_nothing_on_the_cluster(client: Any, monkeypatch) -> None:
    """However the run ends, its running trials stop (Dask cannot stop a task that runs: the run's
    flag does) and the data sent to every worker is released."""
    import lrwidgets.sweep.dispatch as dispatch
    from lrwidgets.sweep import Sweep

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a broken result")

    monkeypatch.setattr(dispatch, "row_of", broken)
    # The failing trial's end raises while the other runs (until stopped: a million epochs).
    sweep = Sweep(build_model, [1e-2], optimizers=["sgd"], schedules=[None, Fails()], epochs=10**6)
    run = sweep.run(*data(64), batch_size=32, cluster=client, callbacks=[slow_batches()])
    with pytest.raises(RuntimeError, match="a broken result"):
        run.wait(600)
    assert sum(client.run(lambda dask_worker: len(dask_worker.state.executing)).values()) == 0
    wait_for(lambda: not client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks)))
    assert sum(client.run(lambda dask_worker: len(dask_worker.data)).values()) == 0


def test_build_model_returning_no_model_fails_its_trials(client: Any) -> None:
    from lrwidgets.sweep import Sweep

    results = Sweep(not_a_model, [1e-3], seeds=[0, 1]).run(*data(), cluster=client).wait(600)
    assert list(results["status"]) == ["failed", "failed"]
    assert all("must return a compiled keras.Model" in r for r in results["reason"])


def test_build_model_raising_systemexit_or_keyboardinterrupt_fails_its_trial_not_its_worker(client: Any) -> None:
    """Raised in a Dask task's thread by the trial's own code: its trial fails, with its reason, and
    the worker lives on. Serially, in the main thread, an interrupt is the user's: it goes through."""
    from lrwidgets.sweep import Sweep, train_trial

    sweep = Sweep(build_model_that_exits, [1e-3], seeds=[0, 1, 2, 3])
    results = sweep.run(*data(), cluster=client).wait(600)
    assert list(results["status"]) == ["failed"] * 4
    exit_, interrupt = "SystemExit: no data here", "KeyboardInterrupt: given up"
    assert list(results["reason"]) == [interrupt, exit_, exit_, interrupt]  # none "worker lost"
    x, y = data()
    with pytest.raises((SystemExit, KeyboardInterrupt)):
        train_trial(sweep.trials[0], build_model_that_exits, {"x": x, "y": y}, {})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_external_scheduler_by_address_gives_the_local_results(tmp_path: Path) -> None:
    """`dask scheduler` and two `dask worker`s on 127.0.0.1, as a user starts them on a cluster."""
    from distributed import Client

    from lrwidgets.sweep import Sweep

    dask = str(Path(sys.executable).parent / "dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    # The scheduler and the workers unpickle this module's build_model: they must import it, as
    # pytest does (from tests/ on the path).
    path = os.pathsep.join([str(ROOT), str(ROOT / "tests")])
    env = {**os.environ, "PYTHONPATH": path, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax")}
    logs = [open(tmp_path / f"{name}.log", "w") for name in ("scheduler", "worker0", "worker1")]  # noqa: SIM115
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]]
    commands += [[dask, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard"]] * 2
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for command, log in zip(commands, logs, strict=True):
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
            if command[1] == "scheduler":
                time.sleep(1.0)
        with Client(address, timeout=60) as probe:
            probe.wait_for_workers(2, timeout=180)
        x, y = data()
        sweep = Sweep(build_model, [3e-2], optimizers=["sgd", "adam"], seeds=[0, 1], epochs=2)
        rows = sweep.run(x, y, batch_size=32, validation_split=0.25, cluster=address).wait(600).to_dict("records")
        sweep.close()
        assert {r.get("worker") for r in rows} <= _workers(address), [r["reason"] for r in rows]
        assert_same_results(rows, serial_rows(sweep, x, y, batch_size=32, validation_split=0.25))
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(30)
        for log in logs:
            log.close()
    assert all(p.poll() is not None for p in procs)


def _workers(address: str) -> set[str]:
    from distributed import Client

    with Client(address, timeout=60) as c:
        return set(c.nthreads())


def test_the_trials_after_a_lost_one_worker_run_on_the_data_sent_again() -> None:
    """With one worker, the data sent to it dies with it: the trials after the one that was running
    there were cancelled by Dask ("cancelled", as if asked). The data is now sent again."""
    from lrwidgets.sweep import Sweep
    from lrwidgets.sweep.cluster import close_local_cluster, start_local_cluster

    x, y = data(128)
    c, cluster = start_local_cluster(1)
    try:
        sweep = Sweep(build_model, [1e-2], optimizers=["sgd"], schedules=[KillsWorker(), None], epochs=1)
        results = sweep.run(x, y, batch_size=32, cluster=c).wait(600).to_dict("records")
    finally:
        close_local_cluster(c, cluster)
    assert [r["status"] for r in results] == ["failed", "done"], results
    assert results[0]["reason"].startswith("worker lost"), results[0]


def test_a_trial_whose_worker_dies_fails_and_is_not_retried(client: Any) -> None:
    """Last in the module: it kills a worker of the shared cluster (its nanny starts a new one). Run once the
    cluster's workers are idle: a trial an earlier test cancelled runs on to its next batch, and a worker busy
    with it would leave Dask both trials to place on the other, the one that dies (both failed then)."""
    from lrwidgets.sweep import Sweep

    deadline = time.monotonic() + 120
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    x, y = data(128)
    sweep = Sweep(build_model, [1e-2], optimizers=["sgd"], schedules=[None, KillsWorker()], epochs=1)
    results = sweep.run(x, y, batch_size=32, cluster=client).wait(600).to_dict("records")
    assert [r["status"] for r in results] == ["done", "failed"]
    assert results[1]["reason"].startswith("worker lost"), results[1]


def test_a_resumed_trial_is_not_taken_as_cancelled_and_dask_cancels_are_resumable() -> None:
    """A stop's cancel requests are the last run's: a trial run again after it is queued again
    when its data is lost. A trial Dask cancelled is a fault of the cluster: `cancelled`, not
    `failed`, so that `run(resume=True)` runs it again."""
    from types import SimpleNamespace

    from lrwidgets.sweep.dispatch import row_of
    from lrwidgets.sweep.grid import make_grid
    from lrwidgets.sweep.trial_table import TrialTable

    table = TrialTable(make_grid([1e-3, 1e-2], None, [None], [0]))
    table.start(False)
    first = table.next_queued()
    assert first is not None
    table.stop(1.0)  # both asked to cancel in this run
    assert not table.requeue(first)
    table.start(True)
    again = table.next_queued()
    assert again is not None and table.requeue(again) and table.status[again.trial] == "queued"
    cancelled = SimpleNamespace(status="cancelled")
    row = row_of(cancelled, again, asked_to_cancel=False, data_lost=True)
    assert row["status"] == "cancelled" and "a worker was lost with the data sent to it" in row["reason"]
    assert row_of(cancelled, again, asked_to_cancel=True)["reason"] == "cancelled"


def test_a_trial_run_again_shows_the_new_runs_curve_only() -> None:
    """Dask runs a task again when its worker is lost, on a cluster that allows it (its default
    `allowed-failures` is 3; the embedded cluster's is 0), and a trial whose data was lost is queued
    again: the new run's points were added after the old run's, and a late message of the old run
    after the new one's."""
    from lrwidgets.sweep.grid import make_grid
    from lrwidgets.sweep.trial_table import TrialTable

    table = TrialTable(make_grid([1e-3], None, [None], [0]))
    table.start(False)
    trial = table.next_queued()
    assert trial is not None

    def message(attempt: str, steps: list[int], loss: list[float]) -> dict[str, Any]:
        rates = [1e-3] * len(steps)
        return {"trial": 0, "attempt": attempt, "steps": steps, "loss": loss, "learning_rate": rates}

    def sent(*msg: Any) -> tuple[list[int], list[float]]:
        table.add_progress({**message(*msg), "epochs": [], "epoch": 0, "num_epochs": 2})
        return table.curves[0].steps, table.curves[0].loss

    assert sent("a", [0, 10], [2.0, 1.5]) == ([0, 10], [2.0, 1.5])
    assert sent("a", [20], [1.2]) == ([0, 10, 20], [2.0, 1.5, 1.2])
    assert sent("b", [0], [2.1]) == ([0], [2.1])  # run again by Dask on another worker
    assert sent("a", [30], [1.1]) == ([0], [2.1])  # the lost run's last message, late
    assert sent("b", [10], [1.6]) == ([0, 10], [2.1, 1.6])
    assert table.status[0] == "running"
    assert table.requeue(trial)  # queued again by the sweep: its data was lost
    assert sent("b", [20], [1.3]) == ([], [])
    assert table.status[0] == "queued"  # a message of the run given up does not make it run
    assert sent("c", [0], [2.2]) == ([0], [2.2])
    assert table.status[0] == "running"


def test_one_sweep_moves_between_clusters_and_keeps_dasks_default_client(client: Any) -> None:
    """Run on one Client, then another, then the first again: the progress topic of the last
    client was unsubscribed on the new one (Dask: "No event handler known for topic") and every
    later trial failed; and the embedded cluster's client became Dask's default."""
    from distributed import Client, default_client

    from lrwidgets.sweep import Sweep

    x, y = data(64)
    other = Client(client.scheduler.address, set_as_default=False)
    sweep = Sweep(build_model, [1e-2], optimizers=["sgd"], epochs=1)
    try:
        used = []
        for target in (client, other, client, client.scheduler.address, None):
            results = sweep.run(x, y, batch_size=32, cluster=target).wait(600)
            assert list(results["status"]) == ["done"], (target, results.to_dict("records"))
            assert sweep.client is target or not isinstance(target, Client)
            used.append(sweep.client)
        assert used[3] not in (client, other) and used[3].status == "closed"  # the address's: closed on the move
        with pytest.raises(ValueError, match="No clients found"):
            default_client()  # the embedded cluster's client is the sweep's alone
    finally:
        sweep.close()
        other.close()
    assert client.status == "running"  # a Client given is never closed


def test_trials_a_sweep_could_not_run_are_cancelled_and_resumed(client: Any, tmp_path: Path) -> None:
    import dask

    from lrwidgets.sweep import Sweep

    x, y = data(64)
    path = tmp_path / "sweep.json"
    sweep = Sweep(build_model, [1e-2, 3e-2], optimizers=["sgd"], epochs=1, path=path)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        run = sweep.run(x, y, batch_size=32, cluster=dead)
        with pytest.raises(OSError, match=re.escape(dead)):
            run.wait(120)
    assert sweep.statuses == {0: "cancelled", 1: "cancelled"}
    assert all("the sweep stopped" in r for r in sweep.results["reason"])
    loaded = Sweep.load(path, build_model)
    assert list(loaded.run(x, y, batch_size=32, cluster=client).wait(600)["status"]) == ["done", "done"]


GATE, AT_GATE = threading.Event(), threading.Event()


def build_model_after_the_gate() -> Any:
    """`build_model` that says it started and waits for the test to open the gate (an in-process
    worker runs it)."""
    AT_GATE.set()
    assert GATE.wait(120)
    return build_model()


def test_a_worker_with_threads_runs_its_trials_as_serial_runs_and_a_joining_worker_takes_trials() -> None:
    """Keras's seeds are per process: two trials in two threads of one worker set and drew them
    at once, so their results were not their serial runs'. And the number of trials in flight was
    fixed when the run started: a worker that joined later was never used."""
    from distributed import Client, LocalCluster

    from lrwidgets.sweep import Sweep

    x, y = data(128)
    GATE.clear()
    AT_GATE.clear()
    with (
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        sweep = Sweep(build_model_after_the_gate, [3e-2, 1e-1], optimizers=["sgd"], seeds=[0, 1], epochs=2)
        run = sweep.run(x, y, batch_size=32, validation_split=0.25, cluster=client)
        assert AT_GATE.wait(120)  # the first trial runs: the run counted one worker
        cluster.scale(2)
        client.wait_for_workers(2, timeout=120)
        GATE.set()
        rows = run.wait(600).to_dict("records")
        # Two trials given to one worker at once (Dask's placement may do it) still run one at a time.
        from lrwidgets.sweep._worker import run_trial

        fit = {"batch_size": 32, "validation_split": 0.25, "epochs": 2}
        one = [sorted(client.nthreads())[0]]
        futures = [
            client.submit(run_trial, t, build_model, {"x": x, "y": y}, fit, "t", "k", 0.1, 8, workers=one, pure=False)
            for t in sweep.trials[:2]
        ]
        together = client.gather(futures)
    expected = serial_rows(sweep, x, y, batch_size=32, validation_split=0.25)
    assert_same_results(rows, expected)
    assert len({r["worker"] for r in rows}) == 2
    assert_same_results(together, expected[:2])


def build_model_that_hangs() -> Any:
    """A `build_model` that never returns (in time): its trial never reaches a batch."""
    time.sleep(600)
    return build_model()


def test_close_does_not_wait_forever_on_a_trial_that_never_reaches_a_batch() -> None:
    """`close()` waited with no timeout for running trials to stop at their next batch: a trial
    stuck in `build_model` hung it, and the kernel with it."""
    from lrwidgets.sweep import Sweep

    sweep = Sweep(build_model_that_hangs, [1e-2], epochs=1, n_workers=1)
    run = sweep.run(*data(64), batch_size=32)
    deadline = time.monotonic() + 120
    while not (sweep.client is not None and any(sweep.client.processing().values())):
        assert time.monotonic() < deadline, "the trial never started"
        time.sleep(0.05)
    with pytest.warns(UserWarning, match="did not stop within 1 s; closing anyway"):
        sweep.close(timeout=1)
    assert sweep.client is None
    with contextlib.suppress(Exception):  # the run ends by the cluster's shutdown
        run.wait(120)
    assert not sweep.running and sweep.statuses == {0: "cancelled"}
    with pytest.raises(ValueError, match="`timeout` must be >= 0"):
        sweep.close(timeout=-1)


def test_a_cluster_that_cannot_run_the_trials_is_refused_before_any_is_sent(
    client: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    """Workers without lrwidgets or `build_model`'s module were shut down by Dask as they unpickled
    a trial (the user's `dask worker` processes exited) and the trials were reported lost with
    their data; workers on another Keras backend trained silently, their trials ranked with the
    others. The scheduler and the workers of a cluster the user names are checked first, by loading
    the trials' code there as Dask will."""
    import importlib

    import cloudpickle
    import keras

    import lrwidgets.sweep.sweep as sweep_module
    from lrwidgets.sweep import Sweep, train_trial
    from lrwidgets.sweep.preflight import CodeCheck, check_workers
    from lrwidgets.training.trial import current_keras_config, keras_config

    backend = keras.backend.backend()
    assert check_workers(CodeCheck(client, build_model), backend) == set(client.nthreads())  # this cluster can
    # A module this process imports and the worker processes cannot (the scheduler, in this
    # process, can): refused, each worker named.
    (tmp_path / "models_here_only.py").write_text(
        "import keras\n\ndef build():\n    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])\n"
        "    m.compile(optimizer='sgd', loss='mse')\n    return m\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    here_only = importlib.import_module("models_here_only")
    with pytest.raises(RuntimeError, match=r"the worker tcp://\S+ cannot load the trials' code \(ModuleNotFound") as e:
        check_workers(CodeCheck(client, here_only.build), backend)
    assert str(e.value).count("cannot load the trials' code") == 2 and "the scheduler cannot" not in str(e.value)
    cloudpickle.register_pickle_by_value(here_only)  # Dask's way for code the cluster lacks: it travels
    try:
        check_workers(CodeCheck(client, here_only.build), backend)
    finally:
        cloudpickle.unregister_pickle_by_value(here_only)
    with pytest.raises(RuntimeError, match=f"runs Keras on {backend}, this process on tensorflow_or_so"):
        check_workers(CodeCheck(client, build_model), "tensorflow_or_so")
    # A sweep on it: refused before any trial is sent, each trial cancelled (a resume runs it).
    other = {**current_keras_config(), "backend": "other"}
    monkeypatch.setattr(sweep_module, "current_keras_config", lambda: other)
    x, y = data(64)
    sweep = Sweep(build_model, [1e-2, 3e-2], optimizers=["sgd"], epochs=1)
    with pytest.raises(RuntimeError, match="No trial was sent"):
        sweep.run(x, y, batch_size=32, cluster=client).wait(300)
    assert sweep.statuses == {0: "cancelled", 1: "cancelled"}
    # A worker that joins later meets the trial's own check: cancelled (a resume runs it), saying why.
    row = train_trial(sweep.trials[0], build_model, {"x": x, "y": y}, {"epochs": 1}, keras_settings=other)
    said = f"This worker runs Keras on {backend}, the sweep's trials on other"
    assert row["status"] == "cancelled" and said in row["reason"]
    refused = pytest.raises(RuntimeError, match=said)
    with refused, keras_config(other):
        pass


def test_a_scheduler_address_dask_cannot_parse_is_refused_naming_cluster(tmp_path: Path) -> None:
    """`http://...`, a port that is no number, `tcp//host:8786` started a run that failed in Dask's
    words (or after 30 s), and wrote the sweep's file with every trial cancelled."""
    from lrwidgets.sweep import Sweep
    from lrwidgets.sweep.cluster import check_cluster

    x, y = data(64)
    path = tmp_path / "sweep.json"
    sweep = Sweep(build_model, [1e-2], optimizers=["sgd"], epochs=1, path=path)
    for address in ("http://127.0.0.1:8786", "tcp://127.0.0.1:port", "tcp//host:8786", "tcp://127.0.0.1"):
        with pytest.raises(ValueError, match=r"Argument `cluster` must be a Dask scheduler's address.*Received"):
            sweep.run(x, y, batch_size=32, cluster=address)
    assert not path.exists() and not sweep.running
    assert check_cluster("  tcp://127.0.0.1:8786 ") == "tcp://127.0.0.1:8786"  # blanks around it: dropped
    assert check_cluster("127.0.0.1:8786") == "127.0.0.1:8786"  # Dask's default scheme, tcp


def test_a_sweep_waits_for_the_clusters_first_worker_and_a_stop_ends_the_wait() -> None:
    """A scheduler whose workers come later (dask-jobqueue, Kubernetes) failed the whole sweep after
    Dask's 30 s ("No valid workers found"), and a stop while waiting still waited for that error."""
    from distributed import Client, LocalCluster

    from lrwidgets.sweep import Sweep

    x, y = data(64)
    with (
        LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        sweep = Sweep(build_model, [1e-2, 3e-2], optimizers=["sgd"], epochs=1)
        run = sweep.run(x, y, batch_size=32, cluster=client)
        time.sleep(1.5)
        assert sweep.running and set(sweep.statuses.values()) == {"queued"}
        sweep.stop()
        assert set(run.wait(120)["status"]) == {"cancelled"} and run.error is None  # no Dask error after it
        run = sweep.run(x, y, batch_size=32, cluster=client)
        time.sleep(1.5)
        cluster.scale(1)  # the first worker, a while after the run started
        assert list(run.wait(600)["status"]) == ["done", "done"]


def test_a_trial_whose_result_dask_no_longer_wants_stops_at_its_next_batch() -> None:
    """When the process that ran a sweep died (a kernel restart), the scheduler forgot its tasks,
    but each trial ran on to its last epoch on the worker: nothing could cancel it, and the next
    sweep's trials waited behind it. A trial now stops once its task is cancelled on the worker."""
    from distributed import Client, LocalCluster

    from lrwidgets.sweep import Sweep
    from lrwidgets.sweep._worker import run_trial

    x, y = data(256)
    trial = Sweep(build_model, [1e-3], optimizers=["sgd"], epochs=1).trials[0]
    fit = {"batch_size": 8, "epochs": 50_000}  # ~5 minutes of training here, uncancelled
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        future = client.submit(run_trial, trial, build_model, {"x": x, "y": y}, fit, "t", "k", 0.1, 8, pure=False)
        [worker] = cluster.workers.values()
        deadline = time.monotonic() + 120
        while not worker.state.executing and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # into its epochs
        assert worker.state.executing
        client.cancel(future)  # as the scheduler forgets a dead client's tasks
        deadline = time.monotonic() + 60
        while worker.state.executing and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not worker.state.executing


def test_an_idle_sweeps_embedded_cluster_is_closed_when_another_starts_one() -> None:
    """A notebook cell that makes and runs a sweep, run again, left one more embedded cluster's
    worker processes up each time (3, 5, 7 processes). Starting one now closes an idle sweep's; that
    sweep starts one again at its next run."""
    from lrwidgets.sweep import Sweep

    x, y = data(64)
    first = Sweep(build_model, [1e-2], optimizers=["sgd"], epochs=1, n_workers=1)
    second = Sweep(build_model, [1e-2], optimizers=["sgd"], epochs=1, n_workers=1)
    try:
        assert list(first.run(x, y, batch_size=32).wait(600)["status"]) == ["done"]
        cluster = first._cluster
        assert cluster is not None and cluster.status.name == "running"
        assert list(second.run(x, y, batch_size=32).wait(600)["status"]) == ["done"]
        assert cluster.status.name == "closed" and first.client is None  # the idle one's: closed
        assert second._cluster is not None and second._cluster.status.name == "running"
        assert list(first.run(x, y, batch_size=32).wait(600)["status"]) == ["done"]  # started again
        assert second.client is None
    finally:
        first.close()
        second.close()


def test_a_client_closed_under_a_running_sweep_ends_it_saying_so() -> None:
    """A sweep running on another sweep's client, closed under it, ended with Dask's
    `AttributeError: 'NoneType' object has no attribute 'ncores'`."""
    from distributed import Client, LocalCluster

    from lrwidgets.sweep import Sweep

    x, y = data(64)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        client = Client(cluster, set_as_default=False)
        sweep = Sweep(build_model, [1e-2, 3e-2], optimizers=["sgd"], epochs=300)
        run = sweep.run(x, y, batch_size=8, cluster=client)
        deadline = time.monotonic() + 120
        while "running" not in sweep.statuses.values():
            assert time.monotonic() < deadline, "no trial started"
            time.sleep(0.05)
        client.close()
        with pytest.raises(RuntimeError, match=r"The sweep's Dask client was closed while the sweep ran"):
            run.wait(120)
        assert set(sweep.statuses.values()) == {"cancelled"}


def test_close_while_connecting_returns_and_the_run_closes_what_it_connects_to() -> None:
    """`close()` while the sweep was connecting to an address blocked the kernel until Dask's connect
    timed out (30 s)."""
    import dask

    from lrwidgets.sweep import Sweep

    x, y = data(64)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    sweep = Sweep(build_model, [1e-2], optimizers=["sgd"], epochs=1)
    with dask.config.set({"distributed.comm.timeouts.connect": "20s"}):
        run = sweep.run(x, y, batch_size=32, cluster=dead)
        sweep.close()
        assert sweep.running  # returned while the run still connects
        with pytest.raises(OSError, match=re.escape(dead)):
            run.wait(120)
    assert sweep.client is None and sweep.statuses == {0: "cancelled"}


def test_a_running_sweeps_embedded_cluster_is_left_up_when_another_starts_one(monkeypatch: Any) -> None:
    """``using()`` marks a connection busy for a run's block (an error inside it too); another
    connection's ``connect(None)`` closes only the idle ones' embedded clusters."""
    from lrwidgets.sweep import cluster as cluster_module

    started: list[Any] = []

    def fake_start(n_workers: Any) -> tuple[Any, Any]:
        client, local = type("FakeClient", (), {"status": "running"})(), object()
        started.append((client, local))
        return client, local

    monkeypatch.setattr(cluster_module, "start_local_cluster", fake_start)
    running, idle, third = (cluster_module.ClusterConnection() for _ in range(3))
    closed: list[Any] = []
    for conn in (running, idle):
        monkeypatch.setattr(conn, "close_client", lambda conn=conn: closed.append(conn))
    with running.using():
        running.connect(None, 1)
        idle.connect(None, 1)
        assert running.busy and not idle.busy and not closed
        third.connect(None, 1)
    assert closed == [idle]  # the running one's cluster stayed up
    assert not running.busy
    with pytest.raises(RuntimeError, match="inside"), running.using():
        raise RuntimeError("inside")
    assert not running.busy  # the block's error ends the run's use too
    for conn in (running, idle, third):
        cluster_module._embedded.discard(conn)


def _claim_backend(name: str | None) -> None:
    """In a worker: make lrwidgets read Keras's backend as ``name`` (None: the real one again)."""
    import keras

    real = keras.backend.__dict__.setdefault("_real_backend", keras.backend.backend)
    keras.backend.backend = real if name is None else (lambda: name)


def _trial_restrictions(dask_scheduler: Any) -> dict[str, tuple[list[str], bool]]:
    """On the scheduler: each sweep trial task's workers, and whether they are loose restrictions."""
    return {
        key: (sorted(ts.worker_restrictions or ()), bool(ts.loose_restrictions))
        for key, ts in dask_scheduler.tasks.items()
        if isinstance(key, str) and "-trial-" in key
    }


def run_without(sweep: Any, x: Any, y: Any, client: Any, worker: str, why: str) -> Any:
    """Run ``sweep`` on ``client``: its table, every trial done, once the run warned that ``worker``
    gets no trial (``why``: a regular expression of the reason)."""
    with pytest.warns(RuntimeWarning, match=rf"The sweep sends no trial to the worker {worker}: {why}"):
        table = sweep.run(x, y, batch_size=32, cluster=client).wait(600)
    assert list(table["status"]) == ["done"] * len(sweep.trials)
    return table


def _on_path(folder: str, on: bool) -> None:
    """In a worker: put ``folder`` on its module path (``on``), or take it off."""
    if on:
        sys.path.insert(0, folder)
    else:
        sys.path.remove(folder)


def test_a_worker_that_joins_unable_to_load_the_trials_code_gets_none(
    client: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    """A worker that joined after the sweep's check and could not import `build_model`'s module
    was shut down by Dask as it unpickled a trial (the user's `dask worker` process exited), and
    the trial failed. Each worker is now checked as the sweep first sees it: that one gets no
    trial (a warning names it and why), the trials run on the others, and it stays up. The trials
    are sent to the workers that passed as strict restrictions: with loose ones Dask's work
    stealing gave a waiting trial to any idle worker, a refused one too, which then died of it."""
    import importlib

    import lrwidgets.sweep.sweep as sweep_module
    from lrwidgets.sweep import Sweep

    (tmp_path / "models_joined_late.py").write_text(
        "import keras\n\ndef build():\n    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])\n"
        "    m.compile(optimizer='sgd', loss='mse')\n    return m\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    late = importlib.import_module("models_joined_late")
    monkeypatch.setattr(sweep_module, "check_workers", lambda *args: set())  # as if both joined later
    workers = sorted(client.nthreads())
    client.run(_on_path, str(tmp_path), True, workers=workers[1:])  # the module is there only
    x, y = data(64)
    restrictions: list[dict[str, tuple[list[str], bool]]] = []
    finish = Sweep._finish

    def spied(self: Any, trial: Any, row: dict[str, Any]) -> None:  # the trial's task still on the scheduler
        restrictions.append(client.run_on_scheduler(_trial_restrictions))
        finish(self, trial, row)

    monkeypatch.setattr(Sweep, "_finish", spied)
    try:
        sweep = Sweep(late.build, [1e-2, 2e-2, 3e-2], optimizers=["sgd"], epochs=1)
        said = r"it cannot load the trials' code \(ModuleNotFoundError"
        table = run_without(sweep, x, y, client, workers[0], said)
        assert set(table["worker"]) == {workers[1]}
        assert sorted(client.nthreads()) == workers  # no worker was shut down
        tasks = {key: named for seen in restrictions for key, named in seen.items()}
        assert len(tasks) == 3 and all(named == (workers[1:], False) for named in tasks.values()), tasks  # strict
    finally:
        client.run(_on_path, str(tmp_path), False, workers=workers[1:])


def test_a_trial_whose_workers_all_left_is_sent_to_the_one_that_joins(monkeypatch: Any) -> None:
    """Trials go to the workers that passed the sweep's check, as strict restrictions, and a run on
    a cluster the user named looks at its workers every `POLL` s. The worker running the trial
    dies (a user's cluster allows 3 failures): the trial ends done on the worker that joins (the
    nanny's new process, at a new address, checked), not on the refused one, and the run does not
    end for want of a worker while only the refused one is there. (The dispatch before ended the
    run there: "No worker of the cluster can run the sweep's trials".)"""
    import dask
    from distributed import Client, LocalCluster

    import lrwidgets.sweep.sweep as sweep_module
    from lrwidgets.sweep import Sweep

    with dask.config.set({"distributed.scheduler.allowed-failures": 3}):  # Dask's default
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster, set_as_default=False)
    try:
        refused, first = sorted(client.nthreads())
        monkeypatch.setattr(sweep_module, "check_workers", lambda *args: set())  # each one checked as it joins
        refuse = lambda *args: lambda w: "refused here" if w == refused else None  # noqa: E731
        monkeypatch.setattr(sweep_module, "CodeCheck", refuse)
        x, y = data(64)
        sweep = Sweep(build_model, [1e-2], optimizers=["sgd"], epochs=300)  # ~5 s at 2 ms a batch
        with warnings.catch_warnings(record=True) as said:  # (from the run's thread)
            warnings.simplefilter("always")
            run = sweep.run(x, y, batch_size=32, cluster=client, callbacks=[slow_batches()])
            wait_for(lambda: sweep.statuses[0] == "running" and len(sweep.curve(0).steps) > 20)
            with contextlib.suppress(Exception):  # the worker's end cuts the call short
                client.run(os._exit, 1, workers=[first])
            table = run.wait(120)
        assert any(f"no trial to the worker {refused}: refused here" in str(w.message) for w in said)
        assert list(table["status"]) == ["done"], table.to_dict("records")
        assert table["worker"][0] not in (first, refused) and table["worker"][0] in client.nthreads()
    finally:
        client.close()
        cluster.close()


def test_a_worker_whose_import_of_the_trials_code_raises_is_refused_and_stays_up(
    client: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    """The check counted a missing module or name only: a module whose import raised anything else
    on a worker (a RuntimeError: no licence on that host) was warned of ("could not check") and the
    worker counted as passed, and Dask shut it down as it unpickled its first trial. Any error of
    the load there refuses it now, before any trial is sent, and it stays up."""
    import importlib

    import keras

    from lrwidgets.sweep.preflight import CodeCheck, check_workers

    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    (here / "models_raising.py").write_text(
        "import keras\n\ndef build():\n    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])\n"
        "    m.compile(optimizer='sgd', loss='mse')\n    return m\n"
    )
    (there / "models_raising.py").write_text("raise RuntimeError('no licence on this host')\n")
    monkeypatch.syspath_prepend(str(here))
    module = importlib.import_module("models_raising")
    workers = sorted(client.nthreads())
    client.run(_on_path, str(there), True, workers=workers[:1])
    client.run(_on_path, str(here), True, workers=workers[1:])
    try:
        check = CodeCheck(client, module.build)
        assert check(workers[0]) == "it cannot load the trials' code (RuntimeError: no licence on this host)"
        assert check(workers[1]) is None
        with pytest.raises(
            RuntimeError, match=rf"the worker {workers[0]} cannot load the trials' code \(RuntimeError: no licence"
        ) as e:
            check_workers(check, keras.backend.backend())
        assert workers[1] not in str(e.value) and "No trial was sent" in str(e.value)
        assert sorted(client.nthreads()) == workers  # no worker was shut down
    finally:
        client.run(_on_path, str(there), False, workers=workers[:1])
        client.run(_on_path, str(here), False, workers=workers[1:])


class Raises:
    """Pickled, it raises ``error`` as it loads (a module whose import raises)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __reduce__(self) -> Any:
        return (_raise, (self.error,))


def _raise(error: BaseException) -> None:
    raise error


def test_a_worker_that_leaves_or_fails_its_check_is_told_apart_from_a_dropped_connection() -> None:
    """A worker that left while the sweep checked it (an import may have ended it) was warned of
    ("could not check") and counted as passed; so was one whose check failed for another reason
    than a missing module. Now: an error on a worker still there counts once it comes twice (a
    connection dropped once is retried); a worker gone meanwhile raises `WorkerGone`, which the
    run's check before any trial warns of, the others passing; a backend query left unanswered by
    a worker still there is a problem."""
    import cloudpickle
    import keras

    from lrwidgets.sweep.preflight import CodeCheck, WorkerGone, check_workers

    class FakeClient:  # what the check asks of Dask's client
        def __init__(self) -> None:
            self.workers = {"tcp://a:1": 1, "tcp://b:2": 1, "tcp://c:3": 1, "tcp://d:4": 1}
            self.asked: list[str] = []

        def nthreads(self) -> dict[str, int]:
            return dict(self.workers)

        def run_on_scheduler(self, function: Any, *args: Any) -> Any:
            return function(*args)

        def run(self, function: Any, *args: Any, workers: list[str], on_error: str = "raise") -> dict[str, Any]:
            if function is eval:  # the backend query
                return {w: OSError("no answer") if w == "tcp://d:4" else function(*args) for w in workers}
            # The load: Dask returns its own errors (a connection) as values with on_error="return";
            # the load's errors are the loading function's answer.
            answers = {}
            for worker in workers:
                self.asked.append(worker)
                try:
                    answers[worker] = function(*self.load(worker, *args))
                except OSError as e:
                    if on_error != "return":
                        raise
                    answers[worker] = e
            return answers

        def load(self, worker: str, blob: bytes) -> tuple[bytes]:
            """What `worker` is sent to load (a blob that raises as it loads), or the connection's error."""
            if worker == "tcp://b:2":  # its import ended it
                del self.workers[worker]
                raise OSError(f"Timed out trying to connect to {worker} after 30 s")
            if worker == "tcp://c:3" and self.asked.count(worker) == 1:
                raise OSError("Connection reset by peer")  # once
            if worker == "tcp://d:4" and self.asked.count(worker) <= 2:
                return (cloudpickle.dumps(Raises(RuntimeError("no licence on this host"))),)
            if worker == "tcp://f:6":  # its import opens a connection that times out: the code's, not its address
                timed_out = OSError("Timed out trying to connect to tcp://10.9.9.9:8786 after 30 s")
                return (cloudpickle.dumps(Raises(timed_out)),)
            if worker == "tcp://e:5":  # listed, but behind a network address translation
                raise OSError(f"Timed out trying to connect to {worker} after 30 s")
            return (blob,)

    client = FakeClient()
    check = CodeCheck(client, build_model)  # type: ignore[arg-type]
    client.workers["tcp://f:6"] = 1
    assert check("tcp://f:6") == (
        "it cannot load the trials' code (OSError: Timed out trying to connect to tcp://10.9.9.9:8786 after 30 s)"
    )  # asked twice, as any error of the load; not said to be out of reach
    assert client.asked.count("tcp://f:6") == 2
    del client.workers["tcp://f:6"]
    assert check("tcp://a:1") is None
    assert check("tcp://c:3") is None and client.asked.count("tcp://c:3") == 2  # asked again
    assert check("tcp://d:4") == "it cannot load the trials' code (RuntimeError: no licence on this host)"
    with pytest.raises(WorkerGone, match="OSError: Timed out") as gone:
        check("tcp://b:2")
    assert isinstance(gone.value.__cause__, OSError)  # Dask's own error, kept
    client.workers["tcp://b:2"] = 1
    with (
        pytest.raises(RuntimeError) as e,
        pytest.warns(RuntimeWarning, match=r"The worker tcp://b:2 left the cluster while it loaded .* \(OSError"),
    ):
        check_workers(check, keras.backend.backend())
    said = str(e.value)
    assert "the worker tcp://d:4 did not say its Keras backend (OSError: no answer)" in said  # 3rd ask: loads
    assert "tcp://a:1" not in said and "tcp://b:2" not in said and "tcp://c:3" not in said
    del client.workers["tcp://d:4"]
    client.workers["tcp://b:2"] = 1
    with pytest.warns(RuntimeWarning, match="tcp://b:2 left the cluster"):
        assert check_workers(check, keras.backend.backend()) == {"tcp://a:1", "tcp://c:3"}  # not a problem
    # A worker the scheduler cannot connect to: asked once (Dask tried for its whole connect
    # timeout), said to be out of reach, not short of code; the remedy is its address.
    client.workers["tcp://e:5"] = 1
    assert check("tcp://e:5").startswith("the scheduler cannot connect to it (OSError: Timed out trying to connect")
    assert client.asked.count("tcp://e:5") == 1
    with pytest.raises(RuntimeError) as e:
        check_workers(check, keras.backend.backend())
    said = str(e.value)
    assert "the scheduler cannot connect to the worker tcp://e:5" in said and "--contact-address" in said
    assert "cannot load" not in said and "Install lrwidgets" not in said and client.asked.count("tcp://e:5") == 2


def test_a_worker_the_scheduler_cannot_connect_to_is_said_to_be_out_of_reach_after_one_wait() -> None:
    """A worker listed but out of the scheduler's reach (it registered from behind a network address
    translation, or gave an address it does not listen on) runs tasks whose results cannot be
    fetched. Its check waited for Dask's connect timeout twice, then said it "cannot load the trials'
    code" and told the user to install lrwidgets there. Now all workers are asked at once, that one
    once, and the refusal names its address as the thing to mend. A real scheduler, its connect
    timeout set to 3 s; the worker's contact address a port nothing listens on."""
    import dask
    import keras
    from distributed import Client, LocalCluster, Worker

    from lrwidgets.sweep import preflight
    from lrwidgets.sweep.preflight import CodeCheck, check_workers

    with socket.socket() as sock:  # a port free now, that no one listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    away = f"tcp://127.0.0.1:{port}"
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "3s"}),
        LocalCluster(n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):

        async def join() -> Any:
            return await Worker(cluster.scheduler_address, contact_address=away, nthreads=1)

        worker = client.sync(join)
        try:
            assert away in client.nthreads()
            loads = []
            run = client.run

            def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
                loads.extend(kwargs["workers"] if function is preflight._loaded else [])
                return run(function, *args, **kwargs)

            client.run = counted  # type: ignore[method-assign]
            check = CodeCheck(client, build_model)
            with pytest.raises(RuntimeError) as e:
                check_workers(check, keras.backend.backend())
            said = str(e.value)
            assert f"the scheduler cannot connect to the worker {away} (OSError: Timed out trying to connect" in said
            assert "--contact-address" in said and "cannot load" not in said and "Install lrwidgets" not in said
            assert sorted(loads) == sorted(client.nthreads())  # each asked once, all in one call
            assert check(away).startswith("the scheduler cannot connect to it (OSError")  # a worker that joins later
            assert loads.count(away) == 2
        finally:
            client.sync(worker.close)


def test_a_worker_that_leaves_while_it_loads_the_trials_code_gets_no_trial(client: Any, monkeypatch: Any) -> None:
    """A worker that left the cluster while the sweep checked it (an import that ended its process:
    its nanny restarts it, at another address or the same) was counted as passed. Now it gets no
    trial until it comes back and passes (a warning says so), and the run goes on, waiting while it
    is the only one; the third such departure stops the run (an import that kills every worker)."""
    import lrwidgets.sweep.sweep as sweep_module
    from lrwidgets.sweep import Sweep
    from lrwidgets.sweep.preflight import WorkerGone

    workers = sorted(client.nthreads())
    asked: list[str] = []

    def gone_once(worker: str) -> str | None:  # then back, at the same address
        asked.append(worker)
        if worker == workers[0] and asked.count(worker) == 1:
            raise WorkerGone("CommClosedError: in <TCP (closed)>")
        return None

    monkeypatch.setattr(sweep_module, "check_workers", lambda *args: set())  # each one checked as it joins
    monkeypatch.setattr(sweep_module, "CodeCheck", lambda *args: gone_once)
    x, y = data(64)
    sweep = Sweep(build_model, [1e-2, 2e-2, 3e-2, 4e-2], optimizers=["sgd"], epochs=30)
    with pytest.warns(RuntimeWarning, match=rf"The worker {workers[0]} left the cluster while it loaded .*CommClosed"):
        table = sweep.run(x, y, batch_size=8, cluster=client).wait(600)
    assert list(table["status"]) == ["done"] * 4
    assert asked.count(workers[0]) == 2 and asked.count(workers[1]) == 1  # asked again at a later look

    def always_gone(worker: str) -> str | None:
        if worker == workers[0]:
            raise WorkerGone("CommClosedError: in <TCP (closed)>")
        return None

    monkeypatch.setattr(sweep_module, "CodeCheck", lambda *args: always_gone)
    sweep = Sweep(build_model, [1e-2], optimizers=["sgd"], epochs=300)  # ~5 s at 2 ms a batch: still running
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = sweep.run(x, y, batch_size=32, cluster=client, callbacks=[slow_batches()])
        with pytest.raises(RuntimeError, match=rf"left the cluster 3 times .*\({workers[0]}, "):
            run.wait(600)
    assert sweep.statuses == {0: "cancelled"}  # a resume runs it


def test_workers_seen_at_one_look_have_their_code_checked_in_one_call(client: Any, monkeypatch: Any) -> None:
    """Each worker that joined was checked in a call of its own, one after the other (dask-jobqueue
    starts them by the dozen; one the scheduler cannot reach held the run for Dask's whole connect
    timeout before the next was asked). Workers seen at one look are now asked in one call."""
    import lrwidgets.sweep.sweep as sweep_module
    from lrwidgets.sweep import Sweep
    from lrwidgets.sweep.preflight import CodeCheck

    calls: list[list[str]] = []

    class Counted(CodeCheck):
        def many(self, workers: list[str]) -> Any:
            calls.append(list(workers))
            return super().many(workers)

    monkeypatch.setattr(sweep_module, "check_workers", lambda *args: set())  # both seen at the run's first look
    monkeypatch.setattr(sweep_module, "CodeCheck", Counted)
    x, y = data(64)
    table = Sweep(build_model, [1e-2, 2e-2], optimizers=["sgd"], epochs=2).run(x, y, cluster=client).wait(600)
    assert list(table["status"]) == ["done"] * 2
    assert calls == [sorted(client.nthreads())]  # one call for both; none for each alone


def test_a_worker_that_joins_on_another_backend_gets_no_more_trials(client: Any, monkeypatch: Any) -> None:
    """A worker that joined after the sweep's check on another Keras backend took a trial, refused
    it, took the next: every trial of the run ended `cancelled` within seconds. Its trial now runs
    on another worker, and it gets no more (a warning names it); with no other worker, the run ends
    saying why."""
    import lrwidgets.sweep.sweep as sweep_module
    from lrwidgets.sweep import Sweep

    monkeypatch.setattr(sweep_module, "check_workers", lambda *args: set())  # as if it joined later
    workers = sorted(client.nthreads())
    x, y = data(64)
    try:
        client.run(_claim_backend, "other", workers=workers[:1])
        sweep = Sweep(build_model, [1e-2, 2e-2, 3e-2, 4e-2], optimizers=["sgd"], epochs=1)
        with pytest.warns(
            RuntimeWarning, match=f"no more trials to the worker {workers[0]}: This worker runs Keras on other"
        ):
            table = sweep.run(x, y, batch_size=32, cluster=client).wait(600)
        assert list(table["status"]) == ["done"] * 4
        assert set(table["worker"]) == {workers[1]}
        client.run(_claim_backend, "other", workers=workers)
        sweep = Sweep(build_model, [1e-2, 2e-2], optimizers=["sgd"], epochs=1)
        with pytest.warns(RuntimeWarning), pytest.raises(RuntimeError, match="No worker of the cluster can run"):
            sweep.run(x, y, batch_size=32, cluster=client).wait(600)
        assert sweep.statuses == {0: "cancelled", 1: "cancelled"}  # a resume runs them
    finally:
        client.run(_claim_backend, None)
