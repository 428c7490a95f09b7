"""Relative update size of a layer between two weight snapshots: ||dW|| / ||W||."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

Snapshot = Mapping[str, Sequence[np.ndarray]]


def relative_update_sizes(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """Per group, the norm of the change over the norm of the weights before it.

    A group's arrays (e.g. a layer's kernel and bias) count as one vector:

        size = sqrt(sum ||after_i - before_i||^2) / sqrt(sum ||before_i||^2)

    computed in float64. A group whose weights were all zero gets 0.0 if it did not change and
    `inf` if it did. Groups missing from `after` are skipped.

    Typical healthy values under SGD-like training are around 1e-3 per step; a layer near 0 is
    not learning (frozen, or a tiny learning rate), one near 1 is being overwritten.

    Example:
        >>> w = {"dense": [np.ones((2, 2)), np.zeros(2)]}
        >>> w2 = {"dense": [np.full((2, 2), 1.01), np.zeros(2)]}
        >>> round(relative_update_sizes(w, w2)["dense"], 6)
        0.01
    """
    sizes: dict[str, float] = {}
    for name, arrays in before.items():
        if name not in after:
            continue
        new = after[name]
        if len(new) != len(arrays):
            raise ValueError(
                f"Arguments `before` and `after` must hold the same arrays per group; group {name!r} has "
                f"{len(arrays)} and {len(new)}. Received: before, after with different layouts"
            )
        delta = sum(
            float(np.sum(np.square(np.asarray(b, np.float64) - np.asarray(a, np.float64))))
            for a, b in zip(arrays, new, strict=True)
        )
        base = sum(float(np.sum(np.square(np.asarray(a, np.float64)))) for a in arrays)
        if base > 0:
            sizes[name] = float(np.sqrt(delta / base))
        else:
            sizes[name] = 0.0 if delta == 0 else float("inf")
    return sizes
