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
from typing import Any, NamedTuple

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


def unreachable(error: BaseException, worker: str) -> bool:
    """Whether ``error`` is Dask's own: the scheduler could not connect to ``worker``'s address in its
    connect timeout (30 s by default: Dask retries within it, so asking again waits as long again). A
    worker that registered from behind a network address translation, or gave an address it does not
    listen on, is listed and runs tasks, but its results cannot be fetched: the sweep would wait on
    them. (The load's own errors come back as values, not as errors: :meth:`CodeCheck.many`.)"""
    return isinstance(error, OSError) and str(error).startswith(f"Timed out trying to connect to {worker} after")


def _loader() -> Callable[[bytes], str | None]:
    """:func:`_loaded`, made here so that it travels by value (a function defined in a function):
    a worker with another lrwidgets, or none, still runs it and says what keeps the trials' code
    from loading there (lrwidgets' own import, which the trials need)."""

    def loaded(blob: bytes) -> str | None:
        try:
            cloudpickle.loads(blob)
        except BaseException as e:  # anything the import does, SystemExit included: said, not raised
            return f"{type(e).__name__}: {e}"
        return None

    return loaded


#: Load the trials' code where it runs (on a worker): None, or the load's error as ``Type: message``,
#: returned, not raised: an error Dask's call returns is then its own (a connection), never the
#: code's raised as it loads. Sent by value (:func:`_loader`).
_loaded = _loader()


class Refusal(NamedTuple):
    """What keeps a worker from the sweep's trials (:meth:`CodeCheck.many`): the error (``Type: message``),
    and whether it is that the scheduler cannot connect to it (:func:`unreachable`), not its code."""

    error: str
    unreachable: bool = False

    def said_of(self, subject: str) -> str:
        """The refusal in words, of ``subject`` (``"it"``, ``"the worker tcp://..."``)."""
        if self.unreachable:
            return (
                f"the scheduler cannot connect to {subject} ({self.error}): trials there would run, but their"
                " results could not be fetched; give it an address the scheduler can reach (`dask worker"
                " --contact-address tcp://host:port`)"
            )
        return f"{subject} cannot load the trials' code ({self.error})"


class CodeCheck:
    """The trials' code (lrwidgets' trial function and ``build_model``), pickled once as Dask will send
    it, and loaded where Dask will unpickle it: :meth:`scheduler`, and workers (a call, all at once).

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

    def many(self, workers: list[str]) -> dict[str, Refusal | WorkerGone | None]:
        """For each of ``workers``, asked at once: what keeps it from loading the trials' code, None when
        nothing does, or a :class:`WorkerGone` when it left the cluster meanwhile. Any error of the load
        there counts (a module whose import raises kills the worker as it unpickles a task all the same)
        once it comes twice: a connection dropped once is not the code's. A worker the scheduler cannot
        connect to (:func:`unreachable`) is not asked again: Dask tried for its whole connect timeout.
        The load runs in :func:`_loaded`, which returns its error: one that says "Timed out trying to
        connect" (an import that opens a connection) is the code's, not the worker's address."""
        found: dict[str, Refusal | WorkerGone | None] = {}
        todo = list(workers)
        for attempt in (1, 2):
            if not todo:
                break
            try:
                answers = self.client.run(_loaded, self.blob, workers=todo, on_error="return")
            except Exception as e:  # the call as a whole (the client's side): each worker's answer
                answers = dict.fromkeys(todo, e)
            listed = self.client.nthreads()
            again = []
            for worker in todo:
                answer = answers.get(worker, KeyError(f"no answer from {worker}"))
                if answer is None:
                    found[worker] = None
                    continue
                error = answer if isinstance(answer, str) else f"{type(answer).__name__}: {answer}"
                if worker not in listed:
                    gone = found[worker] = WorkerGone(error)
                    gone.__cause__ = answer if isinstance(answer, BaseException) else None
                elif isinstance(answer, BaseException) and unreachable(answer, worker):
                    found[worker] = Refusal(error, unreachable=True)
                elif attempt == 2:
                    found[worker] = Refusal(error)
                else:
                    again.append(worker)
            todo = again
        return found

    def __call__(self, worker: str) -> str | None:
        """What keeps ``worker`` from the trials, said of ``it`` (:meth:`many`), or None;
        :class:`WorkerGone` is raised when it left the cluster meanwhile."""
        return said(self.many([worker])[worker])


def said(found: Refusal | WorkerGone | None) -> str | None:
    """One worker's answer of :meth:`CodeCheck.many` as ``CodeCheck(worker)`` gives it: what keeps it
    from the trials, said of ``it``, or None; a :class:`WorkerGone` is raised."""
    if isinstance(found, WorkerGone):
        raise found
    return None if found is None else found.said_of("it")


def check_workers(check: CodeCheck, backend: str) -> set[str]:
    """Raise a ``RuntimeError`` saying what the scheduler or a worker of ``check``'s client lacks,
    before any trial is sent: each loads the trials' code as Dask will (:class:`CodeCheck`: so a
    module registered with ``cloudpickle.register_pickle_by_value``, a closure, a function defined
    in the notebook count as they travel), the scheduler can connect to each, and each worker runs
    Keras on ``backend``. Returns the workers that passed (one that left the cluster meanwhile is
    warned of, and not among them).
    Workers that join later are not seen here: the sweep checks each one's code before it sends it
    a trial (``dispatch.run_trials``), and one on another backend refuses its first trial
    (``trial.other_backend``); the sweep sends either no more."""
    client = check.client
    problem = check.scheduler()
    problems = [problem] if problem else []
    installs = bool(problem)  # a problem that installing (or the backend) mends, not the network
    able = []
    for worker, found in sorted(check.many(sorted(client.nthreads())).items()):
        if isinstance(found, WorkerGone):  # not a problem of the others: the run checks it again should it come back
            warnings.warn(gone_warning(worker, found), RuntimeWarning, stacklevel=2)
        elif found is not None:
            problems.append(found.said_of(f"the worker {worker}"))
            installs = installs or not found.unreachable
        else:
            able.append(worker)
    if able:
        for worker, theirs in sorted(client.run(eval, _BACKEND, workers=able, on_error="return").items()):
            if isinstance(theirs, Exception):
                if worker in client.nthreads():
                    error = f"{type(theirs).__name__}: {theirs}"
                    problems.append(f"the worker {worker} did not say its Keras backend ({error})")
                    installs = True
                able.remove(worker)
            elif theirs != backend:
                problems.append(f"the worker {worker} runs Keras on {theirs}, this process on {backend}")
                installs = True
    if problems:
        mend = (
            " Install lrwidgets (and the module `build_model` is defined in) where the scheduler and the workers"
            f" run, and start the workers with the same backend (`KERAS_BACKEND={backend} dask worker tcp://...`)."
        )
        raise RuntimeError(
            f"The sweep's cluster cannot run its trials: {'; '.join(problems)}.{mend if installs else ''} No trial"
            " was sent."
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
