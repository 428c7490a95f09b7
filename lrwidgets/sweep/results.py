"""A sweep's results as rows, a ``pandas.DataFrame``, a ranking and a JSON file that a later kernel resumes from."""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from lrwidgets.core.checks import check_choice, received, short_repr
from lrwidgets.core.metric_names import better_by_name

FORMAT = "lrwidgets-sweep"
VERSION = 1
MODES = ("auto", "min", "max")
FINISHED = ("done", "failed")  # not run again on resume; a cancelled trial is
CONFIG = ("trial", "learning_rate", "optimizer", "schedule", "seed", "status", "reason")


def monitor_of(rows: list[dict[str, Any]], monitor: str | None) -> str:
    """The metric that ranks trials: ``monitor``, else ``val_loss`` when trials have one, else ``loss``."""
    if monitor is not None:
        return monitor
    has_val = any(math.isfinite(r.get("best_val_loss", math.nan)) for r in rows)
    return "val_loss" if has_val else "loss"


def lower_is_better(metric: str) -> bool:
    """Whether a lower value of the epoch log ``metric`` (``val_`` prefix or not) is better, by its
    name (:func:`~lrwidgets.core.metric_names.better_by_name`): a loss or a count of errors; every
    other metric (accuracy, auc, precision, recall, true_positives, r2_score, ...) is better higher,
    unless the sweep's `mode` says otherwise."""
    return better_by_name(metric) == "lower"


def check_mode(mode: Any) -> str:
    """``mode`` (the direction of a sweep's monitor: "auto", "min" or "max"), or a named error."""
    return str(check_choice("mode", mode, MODES))


def directions(monitor: str | None, mode: str) -> dict[str, str]:
    """What the trials are told of the monitor's direction: ``{name: "min" | "max"}`` for the
    monitor's name without its ``val_`` prefix (``loss`` for the default monitor), empty in mode "auto"."""
    if mode == "auto":
        return {}
    return {(monitor or "loss").removeprefix("val_"): mode}


def _maximized(row: dict[str, Any], metric: str) -> bool | None:
    """Whether ``row``'s ``best_<metric>`` is the max (the trial's word, ``maximized``), None when it does not say."""
    told = row.get("maximized")
    return metric in str(told).split() if isinstance(told, str) else None


def ranked(rows: list[dict[str, Any]], monitor: str | None, mode: str = "auto") -> list[dict[str, Any]]:
    """Done trials best first by ``best_<monitor>``; the others after them, in trial order.

    ``mode`` "min" or "max": lower or higher is better; a trial whose ``best_<monitor>`` was taken
    the other way (it ran with another mode) is not ranked. "auto": the trials' own word
    (``maximized``: as Keras marks the model's metrics), else the name's (:func:`lower_is_better`)."""
    metric = monitor_of(rows, monitor)
    told = [m for m in (_maximized(r, metric) for r in rows) if m is not None]
    auto = not any(told) if told else lower_is_better(metric)
    lower = auto if mode == "auto" else mode == "min"
    sign = 1.0 if lower else -1.0

    def score(r: dict[str, Any]) -> float:
        v = r.get(f"best_{metric}", math.nan)
        return sign * v if rankable(r, metric, mode) else math.inf

    return sorted(rows, key=lambda r: (score(r), r["trial"]))


def rankable(row: dict[str, Any], metric: str, mode: str = "auto") -> bool:
    """Whether ``row`` ranks by ``best_<metric>``: done, finite, and (``mode`` "min" or "max") taken that way."""
    return _ended_with(row, metric) and not _taken_otherwise(row, metric, mode)


def _ended_with(row: dict[str, Any], metric: str) -> bool:
    """Whether ``row`` is a done trial with a finite ``best_<metric>``."""
    return row.get("status") == "done" and math.isfinite(row.get(f"best_{metric}", math.nan))


def _taken_otherwise(row: dict[str, Any], metric: str, mode: str) -> bool:
    """Whether ``row`` took its best ``metric`` the other way than ``mode`` ("min" or "max") says."""
    return mode != "auto" and _maximized(row, metric) is (mode == "min")


def to_dataframe(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    columns = list(CONFIG)
    for r in rows:
        columns += [k for k in r if k not in columns]
    return pd.DataFrame(rows, columns=columns)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN
    return value


def write_json(path: str | Path, grid: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Written to a temporary file then renamed: a kernel killed mid-write leaves the old file whole."""
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "grid": grid,
        "results": [{k: _clean(v) for k, v in r.items()} for r in rows],
    }
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    except FileNotFoundError:  # named by the temporary file's name: the user's is the one to say
        raise FileNotFoundError(errno.ENOENT, "No such folder to write the sweep file in", str(path)) from None
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: str | Path) -> dict[str, Any]:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"Argument `path` must be a file path (a str or a pathlib.Path). {received('path', path)}")
    try:
        doc = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(
            f"Argument `path` must name a file written by `Sweep.to_json`; {str(path)!r} is not JSON ({e})."
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"Argument `path` must name a file written by `Sweep.to_json`. Received: path={str(path)!r}")
    if doc.get("version") != VERSION:
        raise ValueError(
            f"The sweep file {str(path)!r} has version {doc.get('version')!r}; this lrwidgets reads {VERSION}."
        )
    results = doc.get("results")
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise ValueError(f"The sweep file {str(path)!r} has no list of results (one dict a trial).")
    for r in results:  # only ended trials are saved: another status would be shown, ranked or resumed wrongly
        if r.get("status") not in (*FINISHED, "cancelled"):
            raise ValueError(
                f"The sweep file {str(path)!r} has a trial of status {r.get('status')!r}: a saved trial is"
                f" done, failed or cancelled. Received: {short_repr(r)}"
            )
    doc["results"] = [{k: math.nan if v is None else v for k, v in r.items()} for r in results]
    return doc


def why_no_best(rows: list[dict[str, Any]], monitor: str, mode: str = "auto") -> str:
    """Why no trial is best: none done yet, (a misspelt `monitor`) none logged the monitor, or
    (another `mode`) each took its best the other way."""
    done = [r for r in rows if r.get("status") == "done"]
    logged = sorted({k[len("best_") :] for r in done for k in r if k.startswith("best_")})
    if done and monitor not in logged:
        return (
            f"No done trial logged `{monitor}` (the sweep's `monitor`); the trials logged {logged}: set"
            " `sweep.monitor` to one of them to rank the trials (none runs again)"
        )
    if done and mode != "auto" and all(_maximized(r, monitor) is (mode == "min") for r in done):
        other = "max" if mode == "min" else "min"
        return (
            f"The done trials took their best `{monitor}` as its {other} (they ran with another `mode`), and the"
            f" sweep's `mode` is {mode!r}: run them again (`run(..., resume=False)`) to rank them by the {mode}"
        )
    if done:
        return f"No done trial has a finite `{monitor}` (every value was NaN or infinite)"
    return "The sweep has no done trial yet"


def check_path(path: Any, *, optional: bool = True) -> Path | None:
    """``path`` (the file a sweep writes its results to) as a Path (None, when ``optional``), or a named error."""
    if path is None and optional:
        return None
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"Argument `path` must be a str or a path (os.PathLike). {received('path', path)}")
    if Path(path).is_dir():
        raise ValueError(f"Argument `path` must name a file (a .json), not a directory. {received('path', path)}")
    return Path(path)


def refuse_overwrite(path: Path) -> None:
    """Refuse to run a new sweep over the results file of another (unless `resume` says how)."""
    if path.exists():
        raise FileExistsError(
            f"Argument `path`: {str(path)!r} holds an earlier sweep's results. Pass `resume=True` to run "
            "only the trials it has not ended, or `resume=False` to run every trial again and rewrite it."
        )


#: `fit` arguments that change no trial's results: not compared on resume.
UNCOMPARED = ("verbose", "callbacks")
#: Values a `fit` argument means nothing by (Keras's defaults): left out, so that passing a
#: default compares equal to leaving it out (`batch_size=None` is Keras's 32 for arrays).
FIT_DEFAULTS: dict[str, tuple[Any, ...]] = {
    "batch_size": (None, 32),
    "shuffle": (True,),
    "validation_split": (None, 0.0),
    "initial_epoch": (None, 0),
    "validation_freq": (None, 1),
    **{name: (None,) for name in ("class_weight", "sample_weight", "validation_data", "steps_per_epoch")},
    **{name: (None,) for name in ("validation_steps", "validation_batch_size")},
}


def fit_config(fit_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The `fit` arguments of a run that a resume must repeat (every one but the training data,
    :data:`UNCOMPARED` and Keras's defaults): a number (a float as float32, as Keras uses it), a
    str or a bool as it is; other values (``class_weight``, ``sample_weight``, ``validation_data``,
    a list of epochs to validate) by a digest of their content."""
    out: dict[str, Any] = {}
    for name, value in sorted(fit_kwargs.items()):
        if name in UNCOMPARED or name in ("x", "y", "epochs"):
            continue
        value = _plain(value)
        if any(_same(value, d) for d in FIT_DEFAULTS.get(name, ())):
            continue
        out[name] = value if value is None or isinstance(value, (bool, int, float, str)) else _digest(value)
    return out


def _same(value: Any, default: Any) -> bool:
    """``value`` is ``default``: None and bools by identity, numbers by value (``0`` is ``0.0``)."""
    if default is None or isinstance(default, bool) or isinstance(value, bool):
        return value is default
    return isinstance(value, (int, float)) and value == default


def _plain(value: Any) -> Any:
    """A NumPy scalar as a Python one; a float rounded to float32 (``0.2`` and ``np.float32(0.2)`` alike)."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isfinite(value):
        value = float(np.float32(value))
    if isinstance(value, float) and value.is_integer():
        value = int(value) if abs(value) < 2**53 else value  # `validation_split=0` and `0.0` alike
    return value


def _digest(value: Any) -> str:
    """What ``value`` holds, as a short digest: its arrays' dtype, shape and bytes, its numbers and
    strings, in order (a dict by its sorted keys); an object of another kind (a PyDataset) by its type."""
    h = hashlib.blake2b(digest_size=8)

    def feed(v: Any) -> None:
        if isinstance(v, dict):
            for k in sorted(v, key=repr):
                h.update(repr(_plain(k)).encode())
                feed(v[k])
        elif isinstance(v, (list, tuple)):
            h.update(f"[{len(v)}".encode())
            for item in v:
                feed(item)
        elif v is None or isinstance(v, (bool, int, float, str)) or getattr(v, "ndim", None) == 0:
            h.update(repr(_plain(v)).encode())
        elif hasattr(v, "__array__") or hasattr(v, "shape"):
            a = np.ascontiguousarray(np.asarray(v))
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
        else:
            h.update(type(v).__qualname__.encode())

    feed(value)
    return f"content {h.hexdigest()}"


_DEFAULT = object()  # a `fit` argument left out (or given its default)


def fit_differences(saved: dict[str, Any] | None, fit: dict[str, Any]) -> list[str]:
    """``name=value there, value here`` for each `fit` argument that differs (nothing when ``saved`` is unknown)."""
    if saved is None:
        return []

    def shown(config: dict[str, Any], name: str) -> str:
        return repr(config[name]) if name in config else "Keras's default"

    return [
        f"{name}={shown(saved, name)} there, {shown(fit, name)} here"
        for name in sorted(set(saved) | set(fit))
        if saved.get(name, _DEFAULT) != fit.get(name, _DEFAULT)
    ]


def check_same_fit(saved: dict[str, Any] | None, fit: dict[str, Any]) -> None:
    """Refuse to resume this sweep's ended trials with other `fit` arguments: their results would not compare."""
    differ = fit_differences(saved, fit)
    if differ:
        raise ValueError(
            f"Argument `resume`: this sweep's ended trials ran with other `fit` arguments ({'; '.join(differ)}):"
            " their results would not compare. Pass `resume=False` to run every trial again, or the same arguments."
        )


def check_resumable(path: Path, saved: dict[str, Any], grid: dict[str, Any], unmatched: list[dict[str, Any]]) -> None:
    """Refuse to resume from the results of another sweep: other ``epochs`` or `fit` arguments
    (:func:`fit_config`: its results do not compare), or trials this grid does not have (their
    rows would be lost when the file is rewritten). A grid that adds trials resumes: only the new
    ones run. Another ``monitor`` or ``mode`` does (they only rank the rows, which keep every epoch
    log), unless trials took their best the other way than the new ``mode``
    (:func:`check_same_direction`)."""
    differ = (
        [f"epochs={saved.get('epochs')!r} there, {grid['epochs']!r} here"]
        if saved.get("epochs") != grid["epochs"]
        else []
    )
    differ += fit_differences(saved.get("fit"), grid.get("fit") or {})
    if unmatched:
        keys = ("learning_rate", "optimizer", "schedule", "seed")
        shown = ", ".join("(" + ", ".join(f"{k}={row[k]!r}" for k in keys) + ")" for row in unmatched[:3])
        differ.append(
            f"{len(unmatched)} trial(s) there that this grid has not: {shown}{', ...' if len(unmatched) > 3 else ''}"
        )
    if differ:
        raise ValueError(
            f"Argument `resume`: {str(path)!r} holds the results of another sweep ({'; '.join(differ)}). Pass"
            " `resume=False` to run every trial again and rewrite it, or another `path`."
        )


def check_same_direction(rows: list[dict[str, Any]], monitor: str | None, mode: str) -> None:
    """Refuse to resume ended trials that took their best ``monitor`` the other way than ``mode``
    ("min" or "max") says: they could not be ranked beside the new ones (:func:`rankable`). A
    trial that never logged ``monitor`` took no best: it is not ranked either way."""
    metric = monitor_of(rows, monitor)
    other = sorted(r["trial"] for r in rows if _ended_with(r, metric) and _taken_otherwise(r, metric, mode))
    if other:
        raise ValueError(
            f"Argument `resume`: the ended trials {other[:5]}{' ...' if len(other) > 5 else ''} took their best"
            f" `{metric}` the other way than mode={mode!r} (they ran with another `mode`): they could not be ranked"
            " beside the new ones. Pass `resume=False` to run every trial again, or the `mode` they ran with."
        )


def saved_grid(path: str | Path, schedules: Any, given: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """A saved sweep's document, and the arguments of `Sweep` after `build_model` that make its
    grid again (`schedules`: the schedule objects, which the file names only; `given`: the other
    arguments of `Sweep.load`, none of which may be one the file holds)."""
    fixed = [k for k in ("learning_rates", "optimizers", "seeds", "epochs", "path") if k in given]
    if fixed:
        raise TypeError(
            f"Sweep.load() takes the grid and the path from the file: `{fixed[0]}` cannot be"
            f" given. {received(fixed[0], given[fixed[0]])}"
        )
    doc = read_json(path)
    grid = doc["grid"]
    if schedules is None and grid["schedules"] != ["constant"]:
        raise ValueError(
            f"The sweep in {str(path)!r} used the schedules {grid['schedules']}: pass them as `schedules=`."
        )
    optimizers = None if grid["optimizers"] == [None] else grid["optimizers"]
    return doc, [grid["learning_rates"], optimizers, schedules, grid["seeds"], grid["epochs"]]
