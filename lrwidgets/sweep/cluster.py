"""Where the trials run: an embedded ``LocalCluster`` by default, or any Dask cluster the user names."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from typing import Any

import dask
from distributed import Client, LocalCluster

from lrwidgets.core.checks import check_int, received

# One thread per worker process, and each backend held to one intra-op thread: parallel trials
# then share the cores instead of fighting over them.
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}
XLA_SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def machine_workers() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@functools.cache
def compilation_cache_dir() -> str:
    """A folder for this process's embedded clusters to share compiled steps in; removed at exit."""
    path = tempfile.mkdtemp(prefix="lrwidgets-jax-cache-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def worker_env() -> dict[str, str]:
    env = dict(WORKER_ENV)
    env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_SINGLE_THREAD}".strip()
    if "KERAS_BACKEND" in os.environ:
        env["KERAS_BACKEND"] = os.environ["KERAS_BACKEND"]
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # else the user's cache, with the user's settings
        # On jax, every trial's new model traces and compiles its train and test steps again:
        # ~1.5-2 s a trial of a small MLP, most of its time. The trials of a sweep compile the same
        # programs (the rate is a variable, not a constant), so the workers share jax's persistent
        # compilation cache, with no minimum compile time (jax's default, 1 s, would skip these),
        # and a trial after the first of its optimizer takes ~0.3 s. Ignored by other backends.
        env["JAX_COMPILATION_CACHE_DIR"] = compilation_cache_dir()
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    return env


def start_local_cluster(n_workers: int | None) -> tuple[Client, LocalCluster]:
    """An embedded cluster of ``n_workers`` single-threaded processes; ``os.environ`` left as it was.

    A trial that kills its worker is not retried (``allowed-failures`` 0): it would only kill the
    next one, and re-run finished trials with it.
    """
    n = machine_workers() if n_workers is None else check_int("n_workers", n_workers, ge=1, le=1024)
    saved = dict(os.environ)
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                env=worker_env(),
                dashboard_address=":0",  # a free port: Dask's dashboard at `sweep.client.dashboard_link`
            )
        client = Client(cluster)
    finally:
        # LocalCluster writes OMP_NUM_THREADS and friends into this process's environment.
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        os.environ.update(saved)
    return client, cluster


def connect(cluster: Any) -> Client:
    """A client of an existing cluster: a ``Client``, or a scheduler address ``"tcp://host:8786"``."""
    if isinstance(cluster, Client):
        return cluster
    if isinstance(cluster, str) and cluster:
        return Client(cluster)
    raise TypeError(
        "Argument `cluster` must be None (an embedded LocalCluster), a scheduler address such as"
        f" 'tcp://host:8786' or a distributed.Client. {received('cluster', cluster)}"
    )
