"""What an older Keras 3 lacks, detected once, so that lrwidgets runs on every Keras it allows.

``keras.optimizers.MultiOptimizer`` first ships in Keras 3.15. Before it, no model can be
compiled with one, so "is this a MultiOptimizer?" is simply false.
"""

from __future__ import annotations

from typing import Any

import keras

#: ``keras.optimizers.MultiOptimizer`` (Keras 3.15+), or None on a Keras without it.
MultiOptimizer: type | None = getattr(keras.optimizers, "MultiOptimizer", None)


def is_multi_optimizer(optimizer: Any) -> bool:
    """True if ``optimizer`` is a ``keras.optimizers.MultiOptimizer``; False wherever Keras has none."""
    return MultiOptimizer is not None and isinstance(optimizer, MultiOptimizer)
