"""What a cluster the user names must have before a trial is sent: a scheduler address Dask can
parse; a worker (waited for); on the scheduler and every worker, the trials' code loaded (lrwidgets,
``build_model`` and what it needs); on the workers, Keras on the notebook's backend.

A worker that cannot unpickle a task is shut down by Dask with its nanny (the user's ``dask
worker`` processes exit), and the trials were reported cancelled for "a worker lost with the data";
a worker on another backend trained silently, and its trials were ranked with the others. The
check unpickles the code with ``cloudpickle.loads`` called there (an error in a call is returned,
where one in a task's unpickling ends the worker), and asks the backend with the builtin ``eval``.
"""

from __future__ import annotations

import pickle
import time
import warnings
from collections.abc import Callable
from typing import Any

import cloudpickle
from distributed import Client
from distributed.comm import get_address_host_port, parse_address
from distributed.comm.registry import get_backend

from lrwidgets.core.checks import received
from lrwidgets.sweep._worker import run_trial

_BACKEND = "__import__('keras').backend.backend()"


def check_address(address: str) -> str:
    """``address`` without the blanks around it, once Dask can parse it: a known scheme
    (``tcp://``, ``tls://``, ...; none is ``tcp``) and, for ``tcp`` and ``tls``, a host and a port
    number. A ``ValueError`` naming ``cluster`` otherwise (it failed later, in Dask's words)."""
    stripped = address.strip()
    try:
        scheme, _ = parse_address(stripped)
        get_backend(scheme)
        if scheme in ("tcp", "tls"):
            host, _ = get_address_host_port(stripped)
            if "/" in host or not host:
                raise ValueError(f"no host name has a '/': {host!r}")
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"Argument `cluster` must be a Dask scheduler's address, such as 'tcp://host:8786' ({e})."
            f" {received('cluster', address)}"
        ) from None
    return stripped


def _loads(where: str, call: Callable[[], Any]) -> str | None:
    """What keeps the scheduler (``where``) from loading a trial's code (``call`` unpickles it there),
    or None. Any other error of the call (a scheduler that runs no function sent to it) is warned
    of: the check is not made there, the sweep goes on."""
    try:
        call()
    except (ImportError, AttributeError, pickle.UnpicklingError) as e:  # a module or a name it lacks
        return f"{where} cannot load the trials' code ({type(e).__name__}: {e})"
    except Exception as e:
        warnings.warn(f"the sweep could not check {where}: {type(e).__name__}: {e}", RuntimeWarning, stacklevel=3)
    return None


class WorkerGone(Exception):
    """A worker left the cluster while it loaded the trials' code: an import that ends its process
    (a crash, ``os._exit``, memory) would end it as Dask unpickles a trial; or it just left."""


def gone_warning(worker: str, error: WorkerGone) -> str:
    """What the sweep says of a worker that left the cluster while it loaded the trials' code."""
    return (
        f"The worker {worker} left the cluster while it loaded the sweep's trials' code ({error}): it gets no"
        " trial unless it comes back and loads it (an import that ends its process would end it as Dask"
        " unpickles a trial)"
    )


class CodeCheck:
    """The trials' code (lrwidgets' trial function and ``build_model``), pickled once as Dask will send
    it, and loaded where Dask will unpickle it: :meth:`scheduler`, and each worker (a call).

    A worker that cannot unpickle a task is shut down by Dask with its nanny (the user's ``dask
    worker`` process exits) and the trial given to it fails: a sweep asks this of each worker before
    it sends it a trial, and sends none to one that names something.
    """

    def __init__(self, client: Client, build_model: Any) -> None:
        self.client = client
        self.blob = cloudpickle.dumps((run_trial, build_model))

    def scheduler(self) -> str | None:
        """What keeps the scheduler from loading the trials' code, or None (an error of another kind
        than a missing module or name is warned of, and the sweep goes on)."""
        return _loads("the scheduler", lambda: self.client.run_on_scheduler(cloudpickle.loads, self.blob))

    def __call__(self, worker: str, subject: str = "it") -> str | None:
        """What keeps ``worker`` from loading the trials' code, said of ``subject``, or None. Any error
        of the load there counts, not only a missing module (a module whose import raises kills the
        worker as it unpickles a task all the same), once it comes twice: a connection dropped once
        is not the code's. :class:`WorkerGone` when the worker left the cluster meanwhile."""
        for attempt in (1, 2):
            try:
                self.client.run(cloudpickle.loads, self.blob, workers=[worker])
                return None
            except Exception as e:
                if worker not in self.client.nthreads():
                    raise WorkerGone(f"{type(e).__name__}: {e}") from e
                if attempt == 2:
                    return f"{subject} cannot load the trials' code ({type(e).__name__}: {e})"
        return None  # (not reached)


def check_workers(check: CodeCheck, backend: str) -> set[str]:
    """Raise a ``RuntimeError`` saying what the scheduler or a worker of ``check``'s client lacks,
    before any trial is sent: each loads the trials' code as Dask will (:class:`CodeCheck`: so a
    module registered with ``cloudpickle.register_pickle_by_value``, a closure, a function defined
    in the notebook count as they travel), and each worker runs Keras on ``backend``. Returns the
    workers that passed (one that left the cluster meanwhile is warned of, and not among them).
    Workers that join later are not seen here: the sweep checks each one's code before it sends it
    a trial (``dispatch.run_trials``), and one on another backend refuses its first trial
    (``trial.other_backend``); the sweep sends either no more."""
    client = check.client
    problem = check.scheduler()
    problems = [problem] if problem else []
    able = []
    for worker in sorted(client.nthreads()):
        try:
            problem = check(worker, f"the worker {worker}")
        except WorkerGone as e:  # not a problem of the others: the run checks it again should it come back
            warnings.warn(gone_warning(worker, e), RuntimeWarning, stacklevel=2)
            continue
        problems += [problem] if problem else []
        able += [] if problem else [worker]
    if able:
        for worker, theirs in sorted(client.run(eval, _BACKEND, workers=able, on_error="return").items()):
            if isinstance(theirs, Exception):
                if worker in client.nthreads():
                    said = f"{type(theirs).__name__}: {theirs}"
                    problems.append(f"the worker {worker} did not say its Keras backend ({said})")
                able.remove(worker)
            elif theirs != backend:
                problems.append(f"the worker {worker} runs Keras on {theirs}, this process on {backend}")
    if problems:
        raise RuntimeError(
            "The sweep's cluster cannot run its trials: "
            + "; ".join(problems)
            + ". Install lrwidgets (and the module `build_model` is defined in) where the scheduler and"
            f" the workers run, and start the workers with the same backend (`KERAS_BACKEND={backend}"
            " dask worker tcp://...`). No trial was sent."
        )
    return set(able)


def wait_for_workers(client: Client, stopped: Callable[[], bool], poll: float = 0.5) -> bool:
    """Wait until ``client``'s cluster has a worker (dask-jobqueue and Kubernetes start them minutes
    after the scheduler; the data sent to no worker failed the run after Dask's 30 s), or until
    ``stopped()`` (no trial left to run); whether one came. A client closed meanwhile raises."""
    while client.status == "running" and not client.nthreads():
        if stopped():
            return False
        time.sleep(poll)
    if client.status != "running":
        raise RuntimeError(f"The sweep's Dask client was closed while it waited for a worker ({client.status}).")
    return True
