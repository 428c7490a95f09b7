"""What a diagnosis needs to know of the model and the data a fit is given: the classes of a
classifier (chance accuracy, an untrained model's loss), and whether its batches are weighted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def num_classes_of(model: Any) -> int | None:
    """The width of a classifier's output (for chance accuracy and an untrained model's loss):
    one output at least 2 wide, with a softmax or compiled with a categorical cross-entropy; else
    None (a regression with several outputs has no classes)."""
    try:
        shape = model.output_shape
    except (AttributeError, ValueError):
        return None
    if isinstance(shape, tuple) and shape and isinstance(shape[-1], int) and shape[-1] >= 2 and _classifies(model):
        return int(shape[-1])
    return None


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
    return loss if isinstance(loss, str) else str(getattr(loss, "name", None) or getattr(loss, "__name__", ""))


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
