"""What a cluster the user names must have before a trial is sent: a scheduler address Dask can
parse; a worker (waited for); on the scheduler and every worker, lrwidgets and the module
``build_model`` comes from; on the workers, Keras on the notebook's backend.

A worker that cannot unpickle a task is shut down by Dask with its nanny (the user's ``dask
worker`` processes exit), and the trials were reported cancelled for "a worker lost with the data";
a worker on another backend trained silently, and its trials were ranked with the others. The
probe is sent as a string to the builtin ``eval``: it unpickles on a process without lrwidgets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from distributed import Client
from distributed.comm import get_address_host_port, parse_address
from distributed.comm.registry import get_backend

from lrwidgets.core.checks import received

# The names whose module is neither loaded nor found; a package's parts looked for in turn (find_spec
# raises for a part of a package that is missing, and for a loaded module without a spec).
_MODULES = (
    "(lambda u, loaded, names: [n for n in names if n not in loaded and not all(u.find_spec('.'.join("
    "n.split('.')[: i + 1])) for i in range(n.count('.') + 1))])(__import__('importlib.util').util,"
    " __import__('sys').modules, {names!r})"
)
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


def modules_of(build_model: Any) -> list[str]:
    """The modules a worker imports to unpickle a trial: lrwidgets' worker and ``build_model``'s
    own (none when it is pickled by value: defined in ``__main__``, a notebook)."""
    module = getattr(build_model, "__module__", None)
    own = [module] if isinstance(module, str) and module != "__main__" else []
    return ["lrwidgets.sweep._worker", *own]


def check_workers(client: Client, modules: list[str], backend: str) -> None:
    """Raise a ``RuntimeError`` saying what the scheduler or a worker of ``client`` lacks (one of
    ``modules``, or Keras on ``backend``), before any trial is sent. Workers that join later are
    not seen here: a trial on another backend fails with the same words (``trial.keras_config``)."""
    probe = _MODULES.format(names=modules)
    problems = []
    missing = client.run_on_scheduler(eval, probe)
    if missing:
        problems.append(f"the scheduler cannot import {', '.join(missing)} (it unpickles each trial's task)")
    found = client.run(eval, probe)
    for worker, lacks in sorted(found.items()):
        if lacks:
            problems.append(f"the worker {worker} cannot import {', '.join(lacks)}")
    able = sorted(w for w, lacks in found.items() if not lacks)
    if able:
        for worker, theirs in sorted(client.run(eval, _BACKEND, workers=able).items()):
            if theirs != backend:
                problems.append(f"the worker {worker} runs Keras on {theirs}, this process on {backend}")
    if problems:
        raise RuntimeError(
            "The sweep's cluster cannot run its trials: "
            + "; ".join(problems)
            + ". Install lrwidgets (and the module `build_model` is defined in) where the scheduler and"
            f" the workers run, and start the workers with the same backend (`KERAS_BACKEND={backend}"
            " dask worker tcp://...`). No trial was sent."
        )


def wait_for_workers(client: Client, stopped: Callable[[], bool], poll: float = 0.5) -> bool:
    """Wait until ``client``'s cluster has a worker (dask-jobqueue and Kubernetes start them minutes
    after the scheduler; the data sent to no worker failed the run after Dask's 30 s), or until
    ``stopped()``; whether one came."""
    while not client.nthreads():
        if stopped():
            return False
        time.sleep(poll)
    return True
