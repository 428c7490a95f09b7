"""Where the trials run: an embedded ``LocalCluster`` by default, or any Dask cluster the user names."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import shutil
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import dask
from distributed import Client, LocalCluster, Nanny

from lrwidgets.core.checks import check_int, received
from lrwidgets.sweep._worker import set_flags
from lrwidgets.sweep.preflight import check_address

# One thread per worker process, and each backend held to one intra-op thread: parallel trials
# then share the cores instead of fighting over them.
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}
#: Seconds between two tries to raise cancel flags the client could not send, and for how long.
RESEND = 0.5
RESEND_FOR = 10.0
XLA_SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def machine_workers() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# The compilation cache folder of each embedded cluster, removed when the cluster is closed with
# `close_local_cluster` (or, as a fallback, when it is garbage-collected or the process exits:
# a notebook kernel is often ended without running `atexit` handlers).
_cache_removers: weakref.WeakKeyDictionary[LocalCluster, weakref.finalize] = weakref.WeakKeyDictionary()


def worker_env(compilation_cache: str | None = None) -> dict[str, str]:
    """The workers' environment: one thread for every backend; jax's compilation cache in ``compilation_cache``.

    On jax, every trial's new model traces and compiles its train and test steps again, most of
    the time of a short trial of a small model. A sweep's trials compile the same programs (the
    rate is a variable, not a constant), so the workers share jax's persistent compilation
    cache, with no minimum compile time (jax's default, 1 s, would skip these). Other backends
    ignore it.
    """
    env = dict(WORKER_ENV)
    env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_SINGLE_THREAD}".strip()
    if "KERAS_BACKEND" in os.environ:
        env["KERAS_BACKEND"] = os.environ["KERAS_BACKEND"]
    if compilation_cache is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = compilation_cache
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    return env


class _Spawns:
    """Dask's nanny writes its pre-spawn variables (``OMP_NUM_THREADS``, ``PYTHONHASHSEED``, ...)
    and its own pid into this process's environment before it spawns a worker: at the cluster's
    start and again when it replaces a worker that died. They are put back as they were once no
    spawn is under way (the nannies spawn concurrently, in the cluster's event loop); only they:
    the user's thread may change others meanwhile."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._under_way = 0
        self._saved: dict[str, str | None] = {}

    @staticmethod
    def written() -> set[str]:
        pre_spawn = dask.config.get("distributed.nanny.pre-spawn-environ", None) or {}
        return {*pre_spawn, "PYTHONHASHSEED", "__DASK_PARENT_PID"}

    def begin(self) -> None:
        with self._lock:
            if not self._under_way:
                self._saved = {key: os.environ.get(key) for key in self.written()}
            self._under_way += 1

    def end(self) -> None:
        with self._lock:
            self._under_way -= 1
            if self._under_way:
                return
            for key, value in self._saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


_spawns = _Spawns()


class _EnvironNanny(Nanny):
    """Dask's nanny, with this process's environment put back after each spawn of its worker."""

    async def instantiate(self) -> Any:
        _spawns.begin()
        try:
            return await super().instantiate()
        finally:
            _spawns.end()


def start_local_cluster(n_workers: int | None) -> tuple[Client, LocalCluster]:
    """An embedded cluster of ``n_workers`` single-threaded processes; ``os.environ`` left as it was.

    A trial that kills its worker is not retried (``allowed-failures`` 0): it would only kill the
    next one, and re-run finished trials with it. The workers share a compilation cache in a
    temporary folder (unless ``JAX_COMPILATION_CACHE_DIR`` is set: then the user's, which the
    workers inherit), removed by :func:`close_local_cluster`.
    """
    n = machine_workers() if n_workers is None else check_int("n_workers", n_workers, ge=1, le=1024)
    cache = None if "JAX_COMPILATION_CACHE_DIR" in os.environ else tempfile.mkdtemp(prefix="lrwidgets-jax-cache-")
    _spawns.begin()  # the nannies' writes as the cluster starts: put back when it has
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                worker_class=_EnvironNanny,  # and after a worker that died is replaced
                env=worker_env(cache),
                dashboard_address=":0",  # a free port: Dask's dashboard at `sweep.client.dashboard_link`
            )
        if cache is not None:
            _cache_removers[cluster] = weakref.finalize(cluster, shutil.rmtree, cache, ignore_errors=True)
        client = Client(cluster, set_as_default=False)  # the sweep's own: dask.compute stays the user's
    except BaseException:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)
        raise
    finally:
        _spawns.end()
    return client, cluster


def close_local_cluster(client: Client, cluster: LocalCluster) -> None:
    """Close what :func:`start_local_cluster` started: the client, the cluster, the cache folder."""
    client.close()
    cluster.close()
    remover = _cache_removers.pop(cluster, None)
    if remover is not None:
        remover()


def _warn_not_sent(error: BaseException) -> None:
    # As a cancel from the kernel would raise it: a warning, not a lost log line.
    warnings.warn(
        f"the sweep's cancel could not reach the workers: {type(error).__name__}: {error}",
        RuntimeWarning,
        stacklevel=1,
    )


def check_cluster(cluster: Any) -> Any:
    """``cluster`` as a sweep uses it (an address without blanks around it), once it is None, a
    ``Client`` or a scheduler address Dask can parse (Keras error style)."""
    if cluster is None or isinstance(cluster, Client):
        return cluster
    if isinstance(cluster, str) and cluster.strip():
        return check_address(cluster)
    raise (ValueError if isinstance(cluster, str) else TypeError)(
        "Argument `cluster` must be None (an embedded LocalCluster), a scheduler address such as"
        f" 'tcp://host:8786' or a distributed.Client. {received('cluster', cluster)}"
    )


#: The connections that hold an embedded cluster, and the lock under which one is taken or closed.
_embedded: weakref.WeakSet[ClusterConnection] = weakref.WeakSet()
_embedded_lock = threading.RLock()  # connect closes other sweeps' under it, and close_client takes it


class ClusterConnection:
    """The Dask client a sweep runs on, and the progress topic it listens to on it.

    ``connect(None)``: an embedded cluster, started on first use and kept from run to run while its
    client runs. Starting one closes the embedded cluster of any other sweep that is not running
    (it starts one again at its next run): a notebook cell that makes a sweep, run again, left one
    more cluster's worker processes up each time. A ``Client`` given is used as it is and never
    closed; an address gets a client of its own. A client of its own is closed by :meth:`close` or
    when another cluster is named. ``busy``: a run uses the connection (within :meth:`using`).
    """

    def __init__(self) -> None:
        self.client: Client | None = None
        self.cluster: LocalCluster | None = None
        self.own = False
        self.busy = False
        self.topic: str | None = None
        self._sending: set[asyncio.Future[Any]] = set()
        self._flags_lock = threading.Lock()
        #: cancel flags not yet on the workers (the client could not reach them) -> when to give up
        self._unsent: dict[str, float] = {}
        self._retry: threading.Timer | None = None

    @contextlib.contextmanager
    def using(self) -> Iterator[None]:
        """Marks the connection :attr:`busy` for the block (a sweep's run): meanwhile another
        sweep's :meth:`connect` leaves its embedded cluster up."""
        self.busy = True
        try:
            yield
        finally:
            self.busy = False

    def connect(self, cluster: Any, n_workers: int | None) -> Client:
        """The client of ``cluster`` as :func:`check_cluster` returns it (None: the embedded one of
        ``n_workers``), started or connected when needed; the one used before is let go first
        (closed if its own, else no longer listened to)."""
        if cluster is None:
            with _embedded_lock:
                if self.cluster is not None and self.client is not None and self.client.status == "running":
                    return self.client
                for other in [c for c in _embedded if c is not self and not c.busy and c.cluster is not None]:
                    other.close_client()
                self.close()
                self.client, self.cluster = start_local_cluster(n_workers)
                self.own = True
                _embedded.add(self)
            return self.client
        if cluster is self.client:
            return self.client  # the same Client given again: still listened to
        self.close()
        if isinstance(cluster, Client):
            self.client, self.own = cluster, False
        else:
            self.client, self.own = Client(cluster, set_as_default=False), True
        return self.client

    def listen(self, client: Client, topic: str, handler: Any) -> None:
        """Receive ``topic``'s events in ``handler`` (Dask's client thread), instead of the last topic's."""
        if self.topic is not None:
            client.unsubscribe_topic(self.topic)
        self.topic = topic
        client.subscribe_topic(topic, handler)

    def set_flags(self, keys: list[str]) -> None:
        """Raise the cancel flags ``keys`` on every worker (the trials poll them between batches).

        A flag the client cannot send for want of a connection (it is not running: reconnecting
        after a lost one; or the call fails with a connection error or a timeout) is kept and sent
        again every ``RESEND`` s, for ``RESEND_FOR`` s at most (then a ``RuntimeWarning`` says it
        did not reach the workers), until sent or this connection closes. Any other error is
        raised (on Dask's event loop, where a listener's cancel runs: warned about)."""
        deadline = time.monotonic() + RESEND_FOR
        with self._flags_lock:
            for key in keys:
                self._unsent.setdefault(key, deadline)
        self._send_flags(raise_errors=True)

    def _send_flags(self, raise_errors: bool = False) -> None:
        client = self.client  # read once: the sweep's thread may be moving to another cluster
        with self._flags_lock:
            if self._retry is not None:  # this call sends them all: one timer at most
                self._retry.cancel()
                self._retry = None
            if client is None:
                self._unsent.clear()
                return
            unsent, self._unsent = self._unsent, {}
        if not unsent:
            return
        keys = sorted(unsent)
        try:
            if client.status != "running":
                raise ConnectionError(f"the Dask client is {client.status!r}")
            sent = client.run(set_flags, keys)
        except (OSError, TimeoutError) as e:  # ConnectionError, Dask's CommClosedError
            self._not_sent(client, unsent, e)
            return
        except Exception as e:
            if raise_errors:
                raise
            if self.client is client:  # a timer's try: nobody to raise it to (none after a close)
                _warn_not_sent(e)
            return
        if inspect.isawaitable(sent):  # called on Dask's event loop (a sweep listener): it runs there
            task = asyncio.ensure_future(sent)
            self._sending.add(task)  # held until done: the loop keeps only a weak reference
            task.add_done_callback(lambda done: self._sent(done, client, unsent))

    def _sent(self, task: asyncio.Future[Any], client: Client, unsent: dict[str, float]) -> None:
        self._sending.discard(task)
        error = None if task.cancelled() else task.exception()
        if isinstance(error, (OSError, TimeoutError)):
            self._not_sent(client, unsent, error)
        elif error is not None and self.client is client:  # none after a close
            _warn_not_sent(error)

    def _not_sent(self, client: Client, unsent: dict[str, float], error: BaseException) -> None:
        """Keep ``unsent`` to send again in ``RESEND`` s; warn of those whose time is up."""
        now = time.monotonic()
        with self._flags_lock:
            if self.client is not client:  # closed, or moved to another cluster, meanwhile: dropped
                return
            for key, deadline in unsent.items():
                if deadline > now:
                    self._unsent.setdefault(key, deadline)
            expired = any(deadline <= now for deadline in unsent.values())
            if self._unsent and self._retry is None:
                retry = threading.Timer(RESEND, self._send_flags)
                retry.daemon = True
                try:
                    retry.start()
                except RuntimeError as e:  # no thread to be had: what is left cannot be sent again
                    self._unsent.clear()
                    error, expired = e, True
                else:
                    self._retry = retry
        if expired:
            _warn_not_sent(error)

    def _drop_flags(self) -> None:
        with self._flags_lock:
            self._unsent.clear()
            if self._retry is not None:
                self._retry.cancel()
                self._retry = None

    def close_client(self) -> None:
        with _embedded_lock:  # once: another sweep's connect may be closing it too
            client, cluster = self.client, self.cluster
            self.client, self.cluster, self.own, self.topic = None, None, False, None
        self._drop_flags()  # after: a retry under way finds no client, and keeps nothing
        if client is not None and cluster is not None:
            close_local_cluster(client, cluster)  # the embedded cluster, and its compilation cache
        elif client is not None:
            client.close()
        elif cluster is not None:
            cluster.close()

    def close(self) -> None:
        """Close a client (and cluster) of its own; stop listening on one that was given."""
        if self.own:
            self.close_client()
            return
        if self.client is not None and self.topic is not None and self.client.status == "running":
            self.client.unsubscribe_topic(self.topic)
        self.client, self.topic = None, None
        self._drop_flags()
