"""Writing the learning rate so that the next train step uses it, on every backend (on jax, into
the step's own state mid-epoch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lrwidgets.training._state import is_jax, optimizer_index, sync, variables_live


class LearningRateWriter:
    """Sets the optimizer's learning rate so that the next train step uses it.

    ``begin(model)`` at the start of a fit and ``end(model)`` after it (both in the training
    thread); ``write(model, value)`` before any step in between.

    On jax the state of a fit lives in Keras's step function's arguments mid-epoch, not in the
    variables: a rate written there is handed to the next step by a wrapper of the model's train
    function, put in by the write and taken out by the step that takes the rate. A fit whose rate
    nobody changes runs Keras's own train function, with no frame of lrwidgets' on each step.
    """

    def __init__(self, variable: Any) -> None:
        self.variable = variable
        self._pending: float | None = None
        self._index = -1
        self._wrapping = False  # a fit on jax: a write mid-epoch goes through the wrapper

    @property
    def pending(self) -> float | None:
        """A rate written but not yet handed to a step (the variable does not hold it yet)."""
        return self._pending

    def begin(self, model: Any) -> None:
        self._pending = None
        if not is_jax() or getattr(model, "train_function", None) is None:
            return
        self.end(model)  # a wrapper left by a fit that died in the caller's thread
        self._index = optimizer_index(model, self.variable)
        self._wrapping = True

    def _wrap(self, model: Any) -> None:
        """Put the wrapper in front of the model's train function, until the next step has run it."""
        inner = model.train_function
        writer = self

        def train_function(state: Any, data: Any) -> Any:
            installed = getattr(model, "train_function", None) is train_function
            if installed:
                model.train_function = inner  # Keras reads it before each step: the next runs its own
            value = writer._pending
            if value is not None:
                writer._pending = None
                trainable, non_trainable, opt_vars, metrics = state
                state = (trainable, non_trainable, writer._with_rate(opt_vars, value), metrics)
            try:
                return inner(state, data)
            except BaseException:
                # The step did not run: the data's end (a dataset of unknown length raises StopIteration
                # at the batch after its last, every epoch), or an error. The rate waits for the next one.
                if value is not None and writer._pending is None:
                    writer._pending = value
                    if installed and getattr(model, "train_function", None) is inner:
                        model.train_function = train_function
                raise

        train_function.__wrapped__ = inner  # type: ignore[attr-defined]
        train_function._lrwidgets = True  # type: ignore[attr-defined]
        model.train_function = train_function

    def _with_rate(self, optimizer_values: Any, value: float) -> list[Any]:
        """The optimizer's values (a jax state's) with ``value`` as the rate: a numpy scalar, which jit
        takes as is (same dtype and shape, no retrace), at ~0.2 us instead of ~50 us for building a
        jax array on the host every step."""
        values = list(optimizer_values)
        values[self._index] = np.asarray(value, dtype=values[self._index].dtype)
        return values

    def end(self, model: Any) -> None:
        """The fit is over (Keras has put the state back in the variables): unwrap, and write a rate
        the fit ended before using (a change made at its last batch end, or while paused before a
        Stop), so that the rate recorded as set is the one the optimizer holds."""
        _unwrap(model)
        value, self._pending = self._pending, None
        self._wrapping = False
        if value is not None:
            sync(model)
            self.variable.assign(value)

    def settle(self, model: Any) -> None:
        """At an epoch's end (training thread, before the other callbacks'): Keras has put the state
        back in the variables, from the epoch's last step that ran; a rate written since is put in
        the variable now, for the callbacks after this one (``ReduceLROnPlateau`` reduces the rate
        it reads) and the next epoch's first step, which Keras builds from the variables."""
        if self._pending is not None and self._wrapping and variables_live(model):
            _unwrap(model)
            self.variable.assign(self._pending)
            self._pending = None

    def write(self, model: Any, value: float) -> None:
        if self._wrapping and not variables_live(model):
            self._pending = value  # mid-epoch on jax (the schedule's every step): the next step takes it
            if not getattr(getattr(model, "train_function", None), "_lrwidgets", False):
                self._wrap(model)
            return
        if self._wrapping:
            # Between epochs, or synced by a callback (Keras's `Callback.model` does): the next step's
            # state is built from the variables. Should that step not run (the batch past the end of
            # data of unknown length), Keras puts back the last step's state: the rate goes there too.
            self._pending = None
            _unwrap(model)
            self.variable.assign(value)
            kept = getattr(model, "_jax_state", None)
            if kept and kept.get("optimizer_variables"):
                kept["optimizer_variables"] = self._with_rate(kept["optimizer_variables"], value)
            return
        if variables_live(model):
            self.variable.assign(value)
            self._pending = None
        elif getattr(getattr(model, "train_function", None), "_lrwidgets", False):
            self._pending = value
        else:
            sync(model)
            self.variable.assign(value)


def _unwrap(model: Any) -> None:
    """Take lrwidgets' rate-writing wrappers off the model's train function."""
    fn: Callable[..., Any] | None = getattr(model, "train_function", None)
    while fn is not None and getattr(fn, "_lrwidgets", False):
        fn = fn.__wrapped__  # type: ignore[attr-defined]
        model.train_function = fn
