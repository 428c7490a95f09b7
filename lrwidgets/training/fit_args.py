"""``model.fit`` arguments, bound and checked once, and what they say about batch sizes.

The true loss of each batch is recovered from Keras's running epoch mean, which Keras weights
by each batch's sample count: a short last batch is recovered exactly only when the batch size
and the samples per epoch are known. They are read from every data form Keras takes where they
can be (arrays, dicts and lists of arrays, ``keras.utils.PyDataset``, torch ``DataLoader``);
for the others (tf.data, generators) they are unknown and the last batch of an epoch is
recovered as if it were full, which :attr:`FitArguments.exact_batches` says.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lrwidgets.core.checks import check_float, check_int, received

DEFAULT_BATCH_SIZE = 32  # Keras's own default for array data
#: the arguments of ``model.fit`` that say what it trains on (a range test "like the last fit" takes them)
DATA_ARGUMENTS = ("x", "y", "batch_size", "sample_weight", "class_weight", "steps_per_epoch", "shuffle")
MAX_COUNT = 2**53  # epochs, steps: exact as floats (the plan and the progress compute with them)
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_BY_NAME = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


@dataclass
class BoundFit:
    """A ``model.fit`` call's arguments, each read and set by name in ``bound.arguments``
    (:func:`bind_arguments`)."""

    bound: inspect.BoundArguments
    #: the names of Keras's ``fit`` given by position through the subclass's ``*args``, in order
    forwarded: tuple[str, ...]
    #: the ``fit``'s own defaults of the arguments not given: read, not passed on (a caller that
    #: sets an argument starts from :meth:`value`, e.g. callbacks of the ``fit``'s own)
    defaults: dict[str, Any]

    def value(self, name: str, default: Any = None) -> Any:
        """The argument ``name`` as the ``fit`` gets it: given, else the ``fit``'s own default."""
        return self.bound.arguments.get(name, self.defaults.get(name, default))

    def accepts(self, name: str, by_name: bool = False) -> bool:
        """Whether the ``fit`` takes an argument ``name``: by name (its own, or through
        ``**kwargs``), or, unless ``by_name``, given by position through its ``*args``."""
        params = self.bound.signature.parameters.values()
        return (not by_name and name in self.forwarded) or any(
            (p.name == name and p.kind in _BY_NAME) or p.kind is p.VAR_KEYWORD for p in params
        )

    def require(self, names: tuple[str, ...], caller: str, model: Any, by_name: bool = False) -> None:
        """Refuse a ``fit`` that does not take each of ``names`` (see :meth:`accepts`): lrwidgets
        records, steers (``callbacks``) and runs (a range test's ``epochs``) a fit through them."""
        for name in names:
            if not self.accepts(name, by_name):
                how = "by name" if by_name else "by name, through `**kwargs` or by position through `*args`"
                raise TypeError(
                    f"{caller}(): the `fit` of {type(model).__name__} takes no `{name}` argument ({how}): lrwidgets"
                    " records, steers and runs a fit by passing it."
                )

    def call_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``(args, kwargs)`` to call the ``fit`` with, the changes made to ``bound.arguments``
        included: what was given by position is passed by position again (through a subclass's
        ``*args`` too), the rest by name (what its own parameters do not name, to its ``**kwargs``)."""
        bound, tail = self.bound, self.forwarded
        named = bound.signature.parameters
        rest = {k: v for k, v in bound.arguments.items() if k not in named and k not in tail}
        return (*bound.args, *(bound.arguments[k] for k in tail)), {**bound.kwargs, **rest}


#: The source of a session's note that a short batch may come other than last in an epoch
SHORT_BATCH_MOVES = "short_batch_moves"
#: What that note says, by :attr:`FitArguments.short_batch_moves`
MOVING_SHORT_BATCH = {
    "shuffled": "Keras shuffles this PyDataset's batches and one is short: its loss and those of the batches"
    " after it in its epoch are recovered as if it were full (approximate; with `shuffle=False` it stays last"
    " and every loss is exact)",
    "carried": "with this `steps_per_epoch` Keras carries the data's batches on from one epoch to the next, so its"
    " short batch comes wherever a pass over the data ends: its loss and those of the batches after it in its"
    " epoch are recovered as if it were full (approximate; with `steps_per_epoch` equal to the batches in the"
    " data, or left out, every loss is exact)",
}


@dataclass
class FitArguments(BoundFit):
    """A bound and checked ``model.fit`` call and what is known of its batches (:func:`bind_fit`)."""

    batch_size: int | None
    samples: int | None
    steps: int | None  # batches per epoch, when known
    #: where a short batch may come other than last in an epoch: ``"shuffled"`` (a ``PyDataset``
    #: Keras shuffles), ``"carried"`` (array data with a ``steps_per_epoch`` that cuts its passes:
    #: Keras carries the batches on across epochs), or ``""`` (last, when there is one)
    short_batch_moves: str = ""

    @property
    def exact_batches(self) -> bool:
        """True when every batch's size, the last one's included, is known."""
        return self.batch_size is not None and self.samples is not None

    @property
    def total_steps(self) -> int | None:
        """Batches this fit will run, when known."""
        if self.steps is None:
            return None
        return self.steps * max(int(self.value("epochs", 1)) - int(self.value("initial_epoch", 0) or 0), 0)


def bind_arguments(fit: Any, args: tuple[Any, ...], kwargs: dict[str, Any], caller: str) -> BoundFit:
    """Bind ``fit(*args, **kwargs)`` to its signature, so that each argument is read and set by name.

    A model subclass's ``fit`` may pass its arguments on to Keras's (``def fit(self, *args,
    **kwargs): ... super().fit(*args, **kwargs)``): what its ``**kwargs`` hold is read and set by
    name beside its own parameters, and what its ``*args`` hold is named as Keras's ``fit`` names
    those positions, when its own positional parameters are Keras's first ones (``x``, ``y``, ...)
    and it names none of the rest itself. Else the callbacks, batch size and validation given
    would be lost in them. Its own defaults are kept apart (:attr:`BoundFit.defaults`).
    """
    signature = inspect.signature(fit)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{caller}(): {e}") from None
    a, params = bound.arguments, signature.parameters
    for p in params.values():
        if p.kind is p.VAR_KEYWORD and p.name in a:
            # Read by name beside its own parameters; a key named as one of them (positional-only,
            # or `*args`'s own name) stays in the dict, passed on as given.
            given = a.pop(p.name)
            a.update((k, v) for k, v in given.items() if k not in params)
            kept = {k: v for k, v in given.items() if k in params}
            if kept:
                a[p.name] = kept
    forwarded: tuple[str, ...] = ()
    star = next((p.name for p in params.values() if p.kind is p.VAR_POSITIONAL), None)
    if star is not None and isinstance(a.get(star), tuple) and a[star]:
        lead, names = [p.name for p in params.values() if p.kind in _POSITIONAL], _keras_fit_names()
        tail = names[len(lead) : len(lead) + len(a[star])]
        # Named only where its own positions are Keras's first ones and it names none of the rest itself.
        if names[: len(lead)] == lead and len(tail) == len(a[star]) and not set(tail) & set(params):
            for name, value in zip(tail, a.pop(star), strict=True):
                if name in a:
                    raise TypeError(f"{caller}(): got multiple values for argument '{name}'")
                a[name] = value
            forwarded = tuple(tail)
    defaults = {name: p.default for name, p in params.items() if p.default is not p.empty and name not in a}
    return BoundFit(bound, forwarded, defaults)


def bind_fit(fit: Any, args: tuple[Any, ...], kwargs: dict[str, Any], caller: str) -> FitArguments:
    """:func:`bind_arguments`, the counts lrwidgets relies on checked, and the batch sizes known
    before the fit (a ``PyDataset``'s first and last batch are read for them)."""
    call = bind_arguments(fit, args, kwargs, caller)
    a = call.bound.arguments
    _check_counts(a)
    given = {**call.defaults, **a}  # with the fit's own defaults (a subclass's `epochs`, `batch_size`)
    check_initial_epoch(a.get("initial_epoch"), given.get("epochs", 1))
    batch_size, samples, steps, moves = _batches(given)
    if steps == 0:  # Keras's own error for it is a bare StopIteration or ZeroDivisionError
        if a.get("validation_split"):
            raise ValueError(
                "Argument `validation_split` must leave a batch to train on: it leaves none of `x`."
                f" {received('validation_split', a['validation_split'])}"
            )
        raise ValueError(f"Argument `x` must hold at least one batch: it holds none. {received('x', a.get('x'))}")
    return FitArguments(call.bound, call.forwarded, call.defaults, batch_size, samples, steps, moves)


def check_initial_epoch(initial: Any, epochs: int) -> None:
    """An ``initial_epoch`` (checked as a count) at or past ``epochs``: a fit from it runs no epoch,
    and Keras says nothing; refused (a session's fit, a sweep's trials)."""
    if initial is not None and initial >= epochs:
        raise ValueError(
            "Argument `initial_epoch` must be < `epochs` (the epoch count to reach): the fit would run no"
            f" epoch. Received: initial_epoch={initial!r}, epochs={epochs!r}"
        )


def _check_counts(a: dict[str, Any]) -> None:
    """The counts lrwidgets relies on (as ints, in place) and the validation split, checked by name."""
    counts = ("epochs", "batch_size", "steps_per_epoch", "validation_steps", "validation_batch_size")
    for name, low in (*((n, 1) for n in counts), ("initial_epoch", 0)):
        if a.get(name) is not None:
            a[name] = check_int(name, a[name], ge=low, le=MAX_COUNT)
    freq = a.get("validation_freq")
    if freq is not None and not isinstance(freq, list):  # a list: the (1-based) epochs that validate
        a["validation_freq"] = check_int("validation_freq", freq, ge=1, le=MAX_COUNT)
    split = a.get("validation_split")
    if split:
        check_float("validation_split", split, ge=0, lt=1)
    weights = a.get("class_weight")
    if weights is not None:  # Keras's own errors come from the fit's thread, after its start
        if not isinstance(weights, dict):
            raise TypeError(
                f"Argument `class_weight` must be a dict {{class index: weight}}. {received('class_weight', weights)}"
            )
        for value in weights.values():
            check_float("class_weight", value, ge=0)


def check_fit_kwargs_early(kwargs: dict[str, Any], caller: str) -> None:
    """Refuse, before any model is built, what would fail every fit that runs elsewhere (a sweep's
    trials, on Dask workers): a bad count, and a name that is a misspelling of one of
    ``keras.Model.fit``'s (``batch_sise``). Other names pass: a model class's own ``fit`` may take
    more, and :func:`bind_fit` checks them on each model."""
    import difflib

    import keras

    names = list(inspect.signature(keras.Model.fit).parameters)[1:]
    for name in kwargs:
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.85) if name not in names else []
        if close:
            raise TypeError(
                f"{caller}(): `model.fit` takes no argument `{name}`: did you mean `{close[0]}`?"
                f" {received(name, kwargs[name])}"
            )
    _check_counts(dict(kwargs))


def class_fit(model: Any) -> Any:
    """``model.fit`` as its class defines it (never an instance attribute, such as the guard set
    on a model while a session trains it)."""
    return type(model).fit.__get__(model)


def _keras_fit_names() -> list[str]:
    """The names of ``keras.Model.fit``'s parameters after ``self``, in order."""
    import keras

    return list(inspect.signature(keras.Model.fit).parameters)[1:]


def _first_leaf(x: Any) -> Any:
    while isinstance(x, (dict, list, tuple)) and x:
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    return x


def _rows(x: Any) -> int | None:
    shape = getattr(_first_leaf(x), "shape", None)
    if shape is None or not len(shape) or shape[0] is None:
        return None
    return int(shape[0])


def _leaf_rows(value: Any) -> list[int]:
    """The first dimension of every array in ``value`` (an array, or dicts and lists of them)."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in _leaf_rows(v)]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _leaf_rows(v)]
    rows = _rows(value)
    return [] if rows is None else [rows]


def _check_cardinality(
    a: dict[str, Any], names: tuple[str, ...] = ("x", "y", "sample_weight"), within: str | None = None
) -> None:
    """Array data whose ``x``, ``y`` and ``sample_weight`` (``names`` of ``a``; the parts of the
    argument ``within``) differ in length: refused now, not in the background fit (which would fail
    after the call returned, the last results cleared)."""
    found = {name: sorted(set(_leaf_rows(a.get(name)))) for name in names}
    found = {name: rows for name, rows in found.items() if rows}
    if len({n for rows in found.values() for n in rows}) > 1:
        said = ", ".join(f"`{name}` has {' and '.join(map(str, rows))}" for name, rows in found.items())
        of = f" of `{within}`" if within else ""
        raise ValueError(
            f"Arguments {', '.join(f'`{n}`' for n in found)}{of} must have the same number of samples: {said}."
        )


def known_batches(data: dict[str, Any] | None) -> tuple[int | None, int | None]:
    """``(batch size, samples an epoch)`` of a fit's data arguments (as ``FitFrame.arguments`` reads
    them from a ``model.fit`` called with the session's callback), where known without reading the
    data: array data (the samples None when a short batch may come other than last); else None."""
    if data is None or _rows(data.get("x")) is None:
        return None, None
    try:
        size, samples, _, _ = _batches(data)
    except (TypeError, ValueError):  # Keras says what is wrong with them
        return None, None
    return size, samples


def _batches(a: dict[str, Any]) -> tuple[int | None, int | None, int | None, str]:
    """(batch size, samples an epoch, batches an epoch) where known, and where a short batch may
    come other than last in an epoch (:attr:`FitArguments.short_batch_moves`; samples then None)."""
    x = a.get("x")
    steps_per_epoch = a.get("steps_per_epoch")
    rows = _rows(x)
    if rows is not None:  # array data (dicts and lists of arrays too)
        _check_cardinality(a)
        if a.get("validation_split") and a.get("validation_data") is None:
            rows = math.floor(rows * (1.0 - float(a["validation_split"])))  # as Keras splits
        size = int(a.get("batch_size") or DEFAULT_BATCH_SIZE)
        passes = math.ceil(rows / size)
        if steps_per_epoch and rows % size and steps_per_epoch % passes:
            return size, None, steps_per_epoch, "carried"
        return size, rows, steps_per_epoch or passes, ""
    if _is_torch_loader(x):
        return (*_torch_batches(x, steps_per_epoch), "")
    if _is_py_dataset(x):
        first, samples, steps = _py_dataset_batches(x, steps_per_epoch)
        if a.get("shuffle", True) and samples is not None and first is not None and samples % first:
            return first, None, steps, "shuffled"
        return first, samples, steps, ""
    return None, None, steps_per_epoch, ""


def dataset_batches(x: Any) -> int | None:
    """The batches an epoch of a ``tf.data.Dataset`` of known, finite length (its cardinality, as
    Keras counts an epoch of it), else None."""
    cardinality = getattr(x, "cardinality", None)
    if cardinality is None or not type(x).__module__.startswith("tensorflow"):
        return None
    try:
        n = int(cardinality())
    except Exception:
        return None
    return n if n >= 0 else None  # -1 infinite, -2 unknown


def _is_py_dataset(x: Any) -> bool:
    return any(c.__name__ == "PyDataset" for c in type(x).__mro__) and hasattr(x, "__getitem__")


def _is_torch_loader(x: Any) -> bool:
    return any(c.__name__ == "DataLoader" and c.__module__.startswith("torch.") for c in type(x).__mro__)


def _py_dataset_batches(ds: Any, steps_per_epoch: int | None) -> tuple[int | None, int | None, int | None]:
    """Sizes from the first and last batch of a ``PyDataset`` (read once, before the fit)."""
    try:
        n = ds.num_batches
        if n == 0:  # no batch at all: refused by `bind_fit` (Keras's error is a bare StopIteration)
            return None, 0, 0
        if n is None or n < 1:
            return None, None, steps_per_epoch
        first = _rows(_x_of(ds[0]))
        last = _rows(_x_of(ds[n - 1]))
    except Exception:  # an infinite or index-unsafe dataset: sizes unknown
        return None, None, steps_per_epoch
    if first is None or last is None:
        return None, None, steps_per_epoch
    if steps_per_epoch and steps_per_epoch < n:  # only the first batches run: all full
        return first, None, steps_per_epoch
    return first, (n - 1) * first + last, steps_per_epoch or n


def _x_of(batch: Any) -> Any:
    return batch[0] if isinstance(batch, tuple) else batch


def _torch_batches(loader: Any, steps_per_epoch: int | None) -> tuple[int | None, int | None, int | None]:
    batch = getattr(loader, "batch_size", None)
    try:
        samples = len(loader.dataset)
    except TypeError:  # an iterable dataset
        return None, None, steps_per_epoch
    if batch is None:
        return None, None, steps_per_epoch
    if getattr(loader, "drop_last", False):
        samples = samples // batch * batch
    return int(batch), int(samples), steps_per_epoch or math.ceil(samples / batch)


def reporting(generator: Any, raised: list[BaseException], first: Callable[[int], Any] | None = None) -> Any:
    """``generator``, noting the exception it raises (tensorflow replaces it by an ``UnknownError``);
    ``first`` is told the samples of its first batch (its first array's rows) as Keras takes it,
    before the fit's first step: a generator's batch size is known only then.

    Not ``yield from``: this wrapper is closed when Keras lets go of it after the fit, and would
    close ``generator`` with it, which a later fit (a range test's next sweep) reads on."""
    while True:
        try:
            batch = next(generator)
        except StopIteration:
            return
        except Exception as e:
            raised.append(e)
            raise
        if first is not None:
            rows = _rows(batch)
            if rows:
                first(rows)
            first = None
        yield batch
