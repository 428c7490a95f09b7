"""How a `LayerwiseOptimizer` drives its inner optimizer's step, per Keras optimizer and backend."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import keras
from keras import ops

# Optimizers whose step is proportional to the learning rate it is given (no state carried into
# the step that the rate does not scale), so a multiplier of 0 leaves the variable unchanged.
_STEP_PROPORTIONAL_TO_LR = (
    keras.optimizers.Adam,  # AdamW too (a subclass)
    keras.optimizers.Adamax,
    keras.optimizers.Nadam,
    keras.optimizers.Lion,
    keras.optimizers.Adagrad,
    keras.optimizers.Adadelta,
    keras.optimizers.Lamb,
)


def needs_hold(inner: keras.optimizers.Optimizer) -> bool:
    """Whether a frozen variable must be restored after the step (skipped where lr 0 is enough)."""
    if isinstance(inner, keras.optimizers.SGD | keras.optimizers.RMSprop):
        return bool(getattr(inner, "momentum", 0.0))
    return not isinstance(inner, _STEP_PROPORTIONAL_TO_LR)


# Keras's torch optimizers whose fused step (`_parallel_update_step`) updates each variable on its own:
# called once per group, at the group's rate. (Nadam's writes its `u_product` once a call: not here;
# Lamb has no fused step.)
_FUSED_PER_VARIABLE = (*_STEP_PROPORTIONAL_TO_LR, keras.optimizers.SGD, keras.optimizers.RMSprop)


def torch_backend_update_step(
    inner: keras.optimizers.Optimizer, by_group: Callable[[Any], Any], hold: bool
) -> Callable[..., None] | None:
    """On torch, the fused `_parallel_update_step` takes one learning rate for all variables: for the
    optimizers whose fused step updates each variable on its own it is called once per group of
    variables, at the rate times the group's multiplier (a frozen group of an optimizer that ``hold``s
    is skipped: nothing of it written, as the hold would leave it; variables of another dtype in the
    group, a fused call each); for the others, the next
    `_backend_update_step` in the class hierarchy is bound (the generic loop over `update_step`, after
    e.g. Nadam's own bookkeeping). None on the other backends (theirs loop over `update_step`)."""
    if keras.backend.backend() != "torch":
        return None
    import torch

    def without_grad(step: Callable[..., Any]) -> Callable[..., Any]:
        # (as Keras's `torch_utils.no_grad`, whose torch version check costs ~10 us a wrap: this runs at each step)
        def run(grads: list[Any], variables: list[Any], learning_rate: Any) -> Any:
            with torch.no_grad():
                return step(grads, variables, learning_rate)

        return run

    generic = None
    for klass in type(inner).__mro__:
        if "_backend_update_step" in vars(klass) and not klass.__module__.startswith("keras.src.backend.torch"):
            generic = without_grad(vars(klass)["_backend_update_step"].__get__(inner))
            break
    fused = getattr(inner, "_parallel_update_step", None)
    if fused is None or not isinstance(inner, _FUSED_PER_VARIABLE) or isinstance(inner, keras.optimizers.Nadam):
        return generic

    def grouped(grads: list[Any], variables: list[Any], learning_rate: Any) -> None:
        if hold and generic is not None and torch.compiler.is_compiling():
            # (a frozen group's skip reads its multiplier: in a compiled step (`jit_compile=True`) that
            # would break the graph at each group; the loop holds the frozen ones in the graph)
            return generic(grads, variables, learning_rate)
        # (gradients given as numpy arrays to `apply`: the generic loop's ops took them, torch's fused ones do not)
        grad_of = {
            id(v): g if isinstance(g, torch.Tensor) else ops.convert_to_tensor(g, dtype=v.dtype)
            for g, v in zip(grads, variables, strict=True)
        }
        for group, m in by_group(variables):
            if hold and float(m) == 0.0:
                continue
            by_dtype: dict[Any, list[Any]] = {}  # a fused step casts its rate to its first variable's dtype
            for v in group:
                by_dtype.setdefault(v.dtype, []).append(v)
            for part in by_dtype.values():
                fused([grad_of[id(v)] for v in part], part, ops.multiply(learning_rate, m))

    return without_grad(grouped)


#: the inner optimizer's methods a `LayerwiseOptimizer` routes through its multipliers during `apply`
ROUTED = ("update_step", "_apply_weight_decay", "_get_current_learning_rate", "_backend_update_step")
#: how an optimizer writes the variables of a step (Keras's optimizers write through these alone)
WRITES = ("assign", "assign_add", "assign_sub")
_LOCK = threading.Lock()  # entries into and exits from `apply` (module-wide: an instance stays picklable)
_LOCAL = threading.local()  # the writes of the thread's step being held


class ScaledSteps:
    """The inner optimizer's per-variable step and weight decay at the rate times the variable's
    group multiplier, for the duration of each `apply` (:meth:`LayerwiseOptimizer.apply`).

    Every Keras backend calls `update_step(gradient, variable, learning_rate)` once per variable
    (the generic and TensorFlow `_backend_update_step`, Nadam's included), and applies decay
    through `_apply_weight_decay`, which reads `_get_current_learning_rate()`. Shadowing those on
    the instance while `apply` runs scales exactly the learning rate and nothing else; they run at
    trace time on jax and TensorFlow. The replicas of a distribution strategy (TensorFlow's
    `MirroredStrategy` runs each in a thread of its own) enter `apply` together: the methods are
    installed at the first entry and removed at the last exit, always the class's own wrapped
    once (one replica wrapping another's scaled the rate by m once per replica).

    A multiplier of exactly 0 freezes a variable: where the rate 0 alone does not (:func:`needs_hold`:
    momentum coasts on; Ftrl divides by the rate, which made its slots NaN), every variable the
    step writes (the weight and its slots) is put back to its value before the step, as
    `trainable=False` would leave them.
    """

    def __init__(
        self, inner: keras.optimizers.Optimizer, multiplier_of: Callable[[Any], Any], by_group: Callable[[Any], Any]
    ) -> None:
        self._inner = inner
        self._multiplier_of = multiplier_of  # variable -> its group's multiplier (a tensor)
        self._by_group = by_group  # variables -> [(a group's variables, its multiplier)]
        self._entered = 0
        self._decay_multiplier: Any = None  # the multiplier of the group being decayed
        self._prior: dict[str, Any] = {}  # what the inner optimizer's instance held under the names patched

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with _LOCK:
            if not self._entered:
                self._install()
            self._entered += 1
        try:
            yield
        finally:
            with _LOCK:
                self._entered -= 1
                if not self._entered:  # what the instance held before (another's patch: the rate's watch)
                    patched = vars(self._inner)
                    for attr, held in self._prior.items():
                        if held is None:
                            patched.pop(attr, None)
                        else:
                            patched[attr] = held

    def _install(self) -> None:
        inner, local = self._inner, _LOCAL
        patched = vars(inner)
        self._prior = {attr: patched.get(attr) for attr in (*ROUTED, *WRITES)}
        update_step, apply_weight_decay = inner.update_step, inner._apply_weight_decay
        current_lr = inner._get_current_learning_rate
        hold = needs_hold(inner)
        backend_update_step = torch_backend_update_step(inner, self._by_group, hold)

        def scaled_update_step(gradient: Any, variable: Any, learning_rate: Any) -> Any:
            m = ops.convert_to_tensor(self._multiplier_of(variable))
            if not hold:
                return update_step(gradient, variable, ops.multiply(learning_rate, m))
            before: list[tuple[Any, Any]] = []
            local.before = before
            try:
                update_step(gradient, variable, ops.multiply(learning_rate, m))
            finally:
                local.before = None
            frozen = ops.equal(m, 0.0)
            for target, value in before:
                inner.assign(target, ops.where(frozen, value, ops.convert_to_tensor(target)))

        def recording(write: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
            def recorded(target: Any, value: Any) -> Any:
                before = getattr(local, "before", None)
                if before is not None and all(target is not t for t, _ in before):
                    before.append((target, ops.copy(target)))  # a read now (TF may keep the variable)
                return write(target, value)

            return recorded

        def scaled_weight_decay(variables: list[Any]) -> None:
            if inner.weight_decay is None and not hasattr(inner, "adam_weight_decay"):
                return
            # Shared, not the thread's: TensorFlow decays in the strategy's merge, in another thread
            # (every replica sets the same group's multiplier before it).
            for group, m in self._by_group(variables):
                self._decay_multiplier = m
                try:
                    apply_weight_decay(group)
                finally:
                    self._decay_multiplier = None

        def scaled_current_lr() -> Any:
            m = self._decay_multiplier
            return current_lr() if m is None else ops.multiply(current_lr(), m)

        patched["update_step"] = scaled_update_step
        patched["_apply_weight_decay"] = scaled_weight_decay
        patched["_get_current_learning_rate"] = scaled_current_lr
        if backend_update_step is not None:
            patched["_backend_update_step"] = backend_update_step
        if hold:  # each write of a step is recorded with the value it overwrites
            for name in WRITES:
                patched[name] = recording(getattr(inner, name))
