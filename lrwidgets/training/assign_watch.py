"""Whether the learning rate's variable was assigned since the last look, without reading it.

Beside another callback that acts at batches a session checks before each batch whether that callback
changed the rate; a read of the variable costs ~50 us a batch on TensorFlow (a device-to-host copy on
any backend). The ways Keras code sets a rate go through Python methods: the variable's ``assign``
(``optimizer.learning_rate = ...``, ``optimizer.learning_rate.assign(...)``, Keras's callbacks) and,
on TensorFlow, the optimizer's ``assign`` too (``optimizer.assign(variable, value)`` writes the
backend's variable under ``variable.value`` directly there; elsewhere it calls the variable's).
:class:`AssignWatch` marks those calls for a fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras

from lrwidgets.training import _state

ASSIGNS = ("assign", "assign_add", "assign_sub")


class AssignWatch:
    """Marks :attr:`assigned` when the watched variable is assigned through Keras, until :meth:`unwatch`.

    Instance attributes of the variable (and on TensorFlow of the optimizer, with its inner ones) stand in
    front of their classes' ``assign``, ``assign_add`` and ``assign_sub`` and call what was there before. What
    writes the backend's variable otherwise (graph code: a ``tf.function`` traced once, a checkpoint's
    restore) is not seen: a caller that must not miss it reads the variable anyway.

    Example:
        >>> import keras
        >>> optimizer = keras.optimizers.SGD(1e-3)
        >>> optimizer.build([keras.Variable(1.0)])
        >>> watch = AssignWatch()
        >>> watch.watch(optimizer._learning_rate, optimizer)
        >>> watch.assigned = False
        >>> optimizer.learning_rate = 5e-4
        >>> watch.assigned, "assign" in optimizer._learning_rate.__dict__
        (True, True)
        >>> watch.unwatch()
        >>> "assign" in optimizer._learning_rate.__dict__
        False
    """

    def __init__(self) -> None:
        #: assigned since this was last set False; True while nothing is watched (a caller reads then)
        self.assigned = True
        #: the value the last ``assign`` asked for (None after an ``assign_add``/``assign_sub``)
        self.asked: Any = None
        self._taken: float | None = None  # the rate the last look took from an ask
        #: each object hooked, with what its instance held before and the hooks put there
        self._hooked: list[tuple[Any, dict[str, Any], dict[str, Any]]] = []

    @property
    def watching(self) -> bool:
        return bool(self._hooked)

    def watch(self, variable: Any, optimizer: Any) -> None:
        """Mark assignments of ``variable``: its own, and on TensorFlow those ``optimizer`` (or an optimizer
        inside it: ``inner_optimizer``) makes of it or of the backend's variable it holds."""
        self.unwatch()
        held = getattr(variable, "value", None)  # TensorFlow: the tf.Variable, the same object for the variable's life

        def ours(target: Any = None, *args: Any) -> bool:
            return target is variable or (held is not None and target is held)

        self._hook(variable, lambda *args: True, 0)
        seen: set[int] = set()
        while keras.backend.backend() == "tensorflow" and optimizer is not None and id(optimizer) not in seen:
            # (elsewhere Keras's `optimizer.assign` calls the variable's `assign`, already marked)
            seen.add(id(optimizer))
            self._hook(optimizer, ours, 1)
            optimizer = getattr(optimizer, "inner_optimizer", None)
        self.assigned = True

    def _hook(self, obj: Any, about: Callable[..., bool], value_at: int) -> None:
        """``obj``'s assignments marked (those ``about`` says are of the rate); ``value_at``: where the
        value is among ``assign``'s arguments."""
        prior = {name: obj.__dict__.get(name) for name in ASSIGNS}

        def marking(name: str) -> Any:
            method = prior[name] or getattr(type(obj), name).__get__(obj)
            sets = name == "assign"

            def assign(*args: Any, **kwargs: Any) -> Any:
                if not about(*args):
                    return method(*args, **kwargs)
                self.assigned, self.asked = True, None  # (an assign that raises leaves no value asked)
                done = method(*args, **kwargs)
                self.asked = kwargs.get("value", args[value_at] if len(args) > value_at else None) if sets else None
                return done

            return assign

        hooks = {name: marking(name) for name in ASSIGNS}
        obj.__dict__.update(hooks)
        self._hooked.append((obj, prior, hooks))

    def take(self, variable: Any, read: float, known: float) -> float:
        """The rate after a look: the value the last ``assign`` asked for where ``variable`` holds it as
        ``read`` (rounded to its dtype: bfloat16 holds 1.01e-3 as 1.0e-3, so a warm-up's steps can read
        the same), else ``read``: also where ``read`` is held as 0 or inf (what the steps run with), and
        where it is the rate ``known`` before, known only as read back (what was asked of the variable
        then is not known, nor whether an ask held alike changes it), unless the ask is that very value.
        Call it with a value read after :attr:`assigned` was seen True (and set False); the value asked
        is forgotten."""
        asked, self.asked, taken = self.asked, None, self._taken
        self._taken = None
        if asked is None or not self.watching:
            return float(read)
        try:
            value = float(asked)
        except (TypeError, ValueError):  # a tensor of another shape, a schedule: the read stands
            return float(read)
        # A rate held as 0 or inf (float16: 1e-8, 1e5) is what the steps run with: the read stands.
        if _state.held(variable, value) != read or not (0 < abs(read) < math.inf or value == read):
            return float(read)
        # `known` as read back (not the last value taken from an ask, which the variable may hold
        # exactly: 2**-10): an ask held alike may be no change; one of exactly that value says it was set.
        if read == known and known != taken and value != read:
            return float(read)
        self._taken = value
        return value

    def unwatch(self) -> None:
        """Leave the watched objects' methods as they were (a fit's end); :attr:`assigned` is True again.
        A name another patch holds now (a ``LayerwiseOptimizer``'s step, which puts back what it found) is
        left to it: a hook of this watch it puts back marks a watch no one reads."""
        hooked, self._hooked = self._hooked, []
        for obj, prior, hooks in hooked:
            for name, method in prior.items():
                if obj.__dict__.get(name) is not hooks[name]:
                    continue
                if method is None:
                    obj.__dict__.pop(name, None)
                else:
                    obj.__dict__[name] = method
        self.assigned, self.asked, self._taken = True, None, None
