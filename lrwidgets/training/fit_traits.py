"""What a diagnosis needs to know of the model and the data a fit is given: the classes of a
classifier (chance accuracy, an untrained model's loss), and whether its batches are weighted."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def num_classes_of(model: Any) -> int | None:
    """The width of a classifier's output (for chance accuracy and an untrained model's loss):
    one output at least 2 wide, with a softmax or compiled with a categorical cross-entropy; 2 for
    one output of shape ``(batch, 1)`` compiled with a binary cross-entropy (a sigmoid's, or
    logits': an untrained loss of ln 2, as a 2-way softmax's; not a focal one, whose is lower);
    else None (a regression with several outputs has no classes, nor a multi-label output or an
    image's per-pixel one: their losses are averaged).

    A model of several outputs (keras.io's ``{"digit": ..., "parity": ...}``), each compiled with a
    cross-entropy as above (by name: a softmax with another loss is not read; not a focal one),
    sums their losses: its untrained loss is the sum of the ``loss_weights``-weighted ln(classes) of
    its outputs, that of a uniform guess over ``exp`` of it (rounded down) classes, the number
    returned. None when one output is not a classifier's (a regression head: its loss is
    unbounded), or that number is under 2 (small ``loss_weights``)."""
    if _shapes(model) is not None:
        return _joint_classes(model)
    try:
        shape = model.output_shape
    except (AttributeError, ValueError):
        return None
    if not (isinstance(shape, tuple) and shape and isinstance(shape[-1], int)):
        return None
    if shape[-1] >= 2 and _classifies(model):
        return int(shape[-1])
    if len(shape) == 2 and shape[-1] == 1 and _label(_loss_name(model)) in BINARY_LOSSES:
        return 2
    return None


def _joint_classes(model: Any) -> int | None:
    heads = _heads(model)
    total = sum(weight * math.log(classes) for weight, classes in heads) if heads else 0.0
    if not math.log(2) <= total < 700:  # under 2 classes (small weights); past a float's range
        return None
    return math.floor(math.exp(total) * (1 + 1e-9))  # 2.6: 2, as for one binary output


def binary_head(model: Any) -> bool:
    """Whether a model of several classifier outputs (:func:`num_classes_of`) has a 2-class one: a
    wrong sample moves its loss as it moves one binary output's (``Context.binary``)."""
    heads = _heads(model)
    return heads is not None and any(classes == 2 for _, classes in heads)


def _shapes(model: Any) -> list[tuple[str | None, Any]] | None:
    """``(name, shape)`` of each output of a model of several, in the order Keras pairs a list of
    losses with them (a dict's keys sorted), named as ``compile`` names them; None for one output."""
    try:
        shape, out = model.output_shape, model.output
    except (AttributeError, ValueError):
        return None
    if isinstance(out, dict):
        return [(key, tuple(out[key].shape)) for key in sorted(out)] if len(out) > 1 else None
    if not (isinstance(shape, list) and len(shape) > 1):
        return None
    names = list(getattr(model, "output_names", None) or ())
    return [(names[i] if i < len(names) else None, s) for i, s in enumerate(shape)]


def _heads(model: Any) -> list[tuple[float, int]] | None:
    """``(loss weight, classes)`` of each output of a model of several, or None when one is not a
    classifier's (by the loss given to ``compile``: a categorical cross-entropy on an output at least 2
    wide, a binary one on a ``(batch, 1)`` output; not a focal one, whose untrained loss is lower)."""
    loss = getattr(model, "loss", None)
    weights = getattr(getattr(model, "_compile_loss", None), "_user_loss_weights", None)  # as given to compile
    heads = []
    for i, (name, shape) in enumerate(_shapes(model) or ()):
        item, weight = (_of_output(given, name, i) for given in (loss, weights))
        label = _label(loss_name(item))
        if item is None or "focal" in label or not (isinstance(shape, tuple) and shape and isinstance(shape[-1], int)):
            return None
        if "categoricalcrossentropy" in label and shape[-1] >= 2:
            classes = shape[-1]
        elif label in BINARY_LOSSES and len(shape) == 2 and shape[-1] == 1:
            classes = 2
        else:
            return None
        weight = 1.0 if weight is None else weight
        if not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            return None
        heads.append((float(weight), int(classes)))
    return heads or None


def _of_output(given: Any, name: str | None, i: int) -> Any:
    """What ``compile`` was given for output ``i`` named ``name``: one item for all, or by name or position."""
    if isinstance(given, dict):
        return given.get(name)
    if isinstance(given, list | tuple):
        return given[i] if i < len(given) else None
    return given


def _label(name: str) -> str:
    """A loss's name as :data:`BINARY_LOSSES` spells them."""
    return name.lower().replace("_", "")


#: A binary cross-entropy's names, as Keras takes them (lower case, without "_").
BINARY_LOSSES = ("binarycrossentropy", "bce")

#: The names Keras gives the losses of a regression, unbounded above (a target far out makes one
#: batch's loss hundreds of times the rest); a cross-entropy's are bounded (Keras clips at 1e-7).
REGRESSION_LOSSES = (
    "mse", "mae", "mape", "msle", "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "huber", "huber_loss", "log_cosh", "logcosh", "poisson",
)  # fmt: skip


def _loss_name(model: Any) -> str:
    loss = getattr(model, "loss", None)
    if isinstance(loss, dict | list | tuple) and len(loss) == 1:  # keras.io's `loss={"digit": ...}`
        (loss,) = loss.values() if isinstance(loss, dict) else loss
    return loss_name(loss)


def loss_name(loss: Any) -> str:
    """One compiled loss's name: as given (a string), else its ``name``, ``__name__`` or type's name."""
    if loss is None or isinstance(loss, str):
        return loss or ""
    return str(getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__)


def regression_loss(model: Any) -> bool:
    """Whether ``model`` is compiled with a regression's loss (:data:`REGRESSION_LOSSES`, one output)."""
    return _loss_name(model).lower() in REGRESSION_LOSSES


def _classifies(model: Any) -> bool:
    name = _loss_name(model)
    if "categorical_crossentropy" in name or "categorical_focal_crossentropy" in name:
        return True
    layers = getattr(model, "layers", None) or [None]
    return getattr(getattr(layers[-1], "activation", None), "__name__", "") == "softmax"


def weighted(data: Mapping[str, Any]) -> bool:
    """Whether a fit's batches are weighted, as far as its arguments show: ``class_weight`` or
    ``sample_weight`` given, or a ``tf.data.Dataset`` whose elements are ``(x, y, sample_weight)``.
    A generator's or a ``PyDataset``'s batches are not read ahead: their weights are not seen
    (``Diagnostician(weighted=True)`` says so)."""
    if any(data.get(k) is not None for k in ("class_weight", "sample_weight")):
        return True
    spec = getattr(data.get("x"), "element_spec", None)  # a tf.data.Dataset's, read without iterating it
    return isinstance(spec, tuple) and len(spec) == 3


def majority_share(data: Mapping[str, Any], num_classes: int | None) -> float | None:
    """The largest class's share of a classifier's training labels, when a fit is given them as one
    array (class indices, one-hot rows, or a binary classifier's 0/1 targets): the most a constant
    prediction scores. ``data`` is the fit's data as Keras trains on it (``session.fit_data``: ``y``
    without the part a ``validation_split`` takes). None when not known (a generator, a dataset, a
    dict of outputs, labels that are none of these)."""
    y = data.get("y")
    if not num_classes or y is None or isinstance(y, Mapping | list | tuple) or not hasattr(y, "shape"):
        return None
    try:
        labels = np.asarray(y)
    except Exception:  # a tensor on a device, a lazy frame: not read
        return None
    if labels.dtype.kind not in "biuf" or not labels.size:
        return None
    if labels.ndim >= 2 and labels.shape[-1] == num_classes:  # one-hot (or soft) rows
        labels = labels.reshape(-1, num_classes).argmax(axis=-1)
    else:
        labels = labels.reshape(-1)
        if num_classes == 2 and labels.dtype.kind == "f":  # a sigmoid's targets: the share above 0.5 bounds
            if not (np.isfinite(labels).all() and labels.min() >= 0 and labels.max() <= 1):  # a constant's accuracy
                return None
            labels = labels > 0.5
        elif labels.dtype.kind == "f" and not np.array_equal(labels, np.rint(labels)):
            return None
    labels = labels.astype(np.int64)
    if not len(labels) or labels.min() < 0 or labels.max() >= num_classes:
        return None
    return float(np.bincount(labels, minlength=num_classes).max() / len(labels))
