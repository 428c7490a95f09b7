"""The Keras settings a thread keeps for itself, carried into the thread that runs a fit.

Keras keeps some of its global settings per thread (``keras.src.backend.common.global_state`` is
a ``threading.local``): a global dtype policy (``keras.config.set_dtype_policy("mixed_float16")``,
``keras.mixed_precision.set_global_policy``) or a distribution (``keras.distribution
.set_distribution``) set in the notebook's thread is not seen by a fit's own thread. A layer
takes the policy when it is made: one that makes its sublayers in ``build``, in a model built at
its first call (a Sequential without an ``Input``), got them float32 under a mixed policy.
Keras's global ``SeedGenerator`` (what an unseeded ``keras.random`` op in a layer draws from) is
one a thread too: on TensorFlow a step traced again in a fit's own thread made a second one, which
``tf.function`` refused ("only supports singleton tf.Variables created on the first call"), and
the fit drew from another generator than in the caller's thread. The caller's, when it has one,
is the fit's.
"""

from __future__ import annotations

from typing import Any

from keras.src.backend.common import global_state
from keras.src.random import seed_generator

#: Keras's name of a thread's global ``SeedGenerator``.
GLOBAL_SEED_GENERATOR = getattr(seed_generator, "GLOBAL_SEED_GENERATOR", "global_seed_generator")
#: The per-thread settings that decide how a model is built and trained, and the generator its
#: unseeded random ops draw from.
CARRIED = ("dtype_policy", "distribution", GLOBAL_SEED_GENERATOR)


def thread_settings() -> dict[str, Any]:
    """This thread's own values of :data:`CARRIED` (None where it has none)."""
    return {name: global_state.get_global_attribute(name, None) for name in CARRIED}


def use_thread_settings(settings: dict[str, Any]) -> None:
    """Give this thread ``settings`` (:func:`thread_settings` of another)."""
    for name, value in settings.items():
        global_state.set_global_attribute(name, value)
