"""Array data of a range test's later sweeps, its rows in another (seeded) order."""

from __future__ import annotations

from typing import Any

import numpy as np

#: The ``model.fit`` arguments whose rows are reordered together.
ROW_ARGUMENTS = ("x", "y", "sample_weight")


def reordered(data: dict[str, Any], sweep: int) -> dict[str, Any]:
    """Array data with its rows in another order for sweep ``sweep`` >= 1 (seeded by it: reproducible).

    Keras's own shuffle does not differ between fits everywhere (on TensorFlow, with a global seed,
    each new fit shuffles alike). Arrays are numpy arrays, TensorFlow tensors, jax arrays, torch
    tensors and pandas frames and series, each reordered as its own kind; other data forms keep
    their own order.
    """
    if sweep == 0:
        return data
    leaves = [leaf for k in ROW_ARGUMENTS for leaf in _leaves(data.get(k))]
    if not leaves or not all(_kind(leaf) is not None and len(leaf.shape) for leaf in leaves):
        return data
    rows = {int(leaf.shape[0]) for leaf in leaves}
    if len(rows) != 1:
        return data
    order = np.random.default_rng(sweep).permutation(rows.pop())
    return {k: _take(v, order) if k in ROW_ARGUMENTS else v for k, v in data.items()}


def _leaves(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _take(value: Any, order: np.ndarray) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _take(v, order) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_take(v, order) for v in value)
    kind = _kind(value)
    if kind == "pandas":
        return value.iloc[order]
    if kind == "tensorflow":
        import tensorflow as tf

        return tf.gather(value, order)
    return value[order]  # numpy, jax, torch


def _kind(leaf: Any) -> str | None:
    """Which kind of array ``leaf`` is, when its rows can be reordered (None: it cannot)."""
    if isinstance(leaf, np.ndarray):
        return "numpy"
    module, name = type(leaf).__module__.split(".")[0], type(leaf).__name__
    if module == "pandas" and name in ("DataFrame", "Series"):
        return "pandas"
    if module == "tensorflow" and name == "EagerTensor":  # not a SparseTensor or RaggedTensor
        return "tensorflow"
    if module in ("jax", "jaxlib") and name == "ArrayImpl":
        return "jax"
    if module == "torch" and name == "Tensor":
        return "torch"
    return None
