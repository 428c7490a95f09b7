"""Per-layer learning rates for any Keras 3 optimizer, changeable while the model trains."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
from keras import ops
from keras.src.utils import tracking

from lrwidgets.training import ownership
from lrwidgets.training._compat import is_multi_optimizer
from lrwidgets.training._inner_delegation import InnerDelegation
from lrwidgets.training._inner_steps import ScaledSteps
from lrwidgets.training._state import innermost, sync
from lrwidgets.training.layer_matching import (
    BadKeysError,
    building_model,
    by_inner_index,
    checked_multipliers,
    layer_groups,
    layer_owners,
    resolve,
)

MultiplierAction = Callable[[keras.Model], None]


@keras.saving.register_keras_serializable(package="lrwidgets")
class LayerwiseOptimizer(InnerDelegation, keras.optimizers.Optimizer):
    """Wraps a Keras optimizer and scales its learning rate per layer.

    The effective learning rate of every trainable variable is

        learning_rate(variable) = inner_optimizer.learning_rate * multiplier(layer of variable)

    The scaled rate is what the inner optimizer's `update_step(gradient, variable, learning_rate)`
    receives, so adaptive optimizers (Adam, RMSprop, Adagrad, Lion, ...) honour it; scaling the
    gradient instead would be normalised away by Adam. Weight decay (AdamW, `weight_decay=`) uses
    the scaled rate too. A multiplier of exactly 0 freezes the layer: its weights stay bitwise
    unchanged (even under SGD momentum, whose velocity would otherwise coast on), and where the
    rate 0 alone does not stop the step (momentum; Ftrl, which divides by the rate) its optimizer
    slots stay as they were too, as `trainable=False` leaves them. Under a distribution strategy
    (TensorFlow's `MirroredStrategy`) the rate is scaled once, whatever the replicas.

    **Groups.** Multipliers are per layer. A group is the layer that owns a trainable variable,
    named by the layer names from the model down to it: `"dense"`, `"head"`, `"backbone/conv1"`
    (a layer of a nested `backbone` model), `"lstm/lstm_cell"`. The model is the one Keras builds
    the optimizer from (`fit`, `evaluate`, `load_model`), so the names are the same in a notebook
    and after loading. In a custom training loop, build it first with the model,
    `opt.build(model.trainable_variables, model=model)` (else the model is looked for among the
    callers' local names, and without it the groups come from the variables' paths: Keras names
    variables by the scope they were built in, so a functional backbone's layers then have no
    `backbone/`). Two layers at one path (a subclassed model may give two of its layers one
    name, which their variables' paths then share) are two groups: the second is named with
    `#2` after the path (`"block"`, `"block#2"`), and a key that matches the path matches both.
    A key may also be the name a group had from its variables' paths
    (`"sequential/head"`), as a configuration saved by an earlier version has them. The
    multipliers of all groups live in one vector variable tracked by this optimizer
    (`multiplier_variable`), so the jax and TensorFlow train steps read it as state: assigning it
    never retraces or recompiles.

    **Matching rule.** A key of `multipliers` matches a group when
    1. it equals a component of the group's layer path, or `re.fullmatch`es one, at that
       component's depth (`"backbone"` matches every layer inside `backbone`; `"dense"` the layer
       named `dense`; `"dense_[0-3]"` the layers `dense_1` ... `dense_3`), or equals several
       components in a row, at the last one's depth (`"backbone/dense"`); or
    2. it equals the group name, or `re.fullmatch`es the group name, the layer path or the path
       of one of the group's variables (`"backbone/b2"`, `".*/kernel"`), at the deepest depth; a
       key matching one variable's path sets its whole layer (`".*/bias"` scales the kernels too).
    Each group takes the value of its most specific matching key: the deepest match wins, and at
    equal depth the group name beats path components (more of them beat fewer), which beat a
    pattern. Two different keys matching a group equally specifically (and no key more
    specifically) raise a `ValueError`. Groups matched by no key get 1.0. A key that is a name or
    path components is not also a pattern: `"a+b"` sets the layer `a+b`, not `aab` too.
    Every key must match at least one group: `set_multipliers` refuses a key that matches none,
    listing the groups. Before `build` the groups are not known, so the keys are checked at
    `build` (the first training step, or `model.save()`/`load_model()`): a bad key fails that
    build with a `ValueError` listing the groups and is dropped, so the next fit builds with the
    other multipliers (on TensorFlow once the model's traced train step is dropped:
    `model.compile(...)` again, or `model.train_function = None`).

    **Live changes.** `set_multipliers()` assigns the variables while no fit runs; during a
    session's fit it goes to the session (`session.set_multipliers`: from a callback at once,
    from another thread at the next batch; recorded, the session's views told).

    **This or `keras.optimizers.MultiOptimizer`?** Use `LayerwiseOptimizer` when all layers
    should share one optimizer algorithm and its state layout and differ only in step size, and
    when you want to read or change the per-layer rates while training (the optimizer keeps a
    single settable `learning_rate`, so `ReduceLROnPlateau`, schedules and the lrwidgets live LR
    control keep working, and the rates can be steered from `LayerLRControls`). Use
    `MultiOptimizer` when groups need *different algorithms or hyperparameters* (SGD for
    embeddings, Adam elsewhere, different betas or weight decays); it has no single
    `learning_rate` and its routing is fixed when it is built.

    Args:
        inner_optimizer: the `keras.optimizers.Optimizer` that does the updates (SGD, Adam, AdamW,
            RMSprop, Adagrad, Nadam, Lion, ...). Not a `MultiOptimizer` or a
            `LossScaleOptimizer` (wrap this optimizer in a `LossScaleOptimizer` instead).
        multipliers: dict mapping layer names or patterns to finite numbers >= 0. Defaults to
            `None`: every layer at 1.0.
        name: optimizer name. Defaults to `None` (an automatic name).

    The learning rate, `iterations` and the settings the inner optimizer's step applies
    (`weight_decay`, `clipnorm`, `global_clipnorm`, `clipvalue`, `use_ema`, `ema_momentum`,
    `loss_scale_factor`, `gradient_accumulation_steps`, ...) are the inner optimizer's: read and set
    through this one.

    Example:
    >>> import keras, numpy as np
    >>> import lrwidgets as lrw
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="body"),
    ...                           keras.layers.Dense(1, name="head")])
    >>> opt = lrw.LayerwiseOptimizer(keras.optimizers.Adam(1e-3), multipliers={"body": 0.1})
    >>> model.compile(optimizer=opt, loss="mse")
    >>> _ = model.fit(np.ones((8, 4)), np.ones((8, 1)), verbose=0)
    >>> opt.multipliers
    {'body': 0.1, 'head': 1.0}
    >>> opt.set_multipliers({"body": 0.0})  # next step; no retrace
    >>> opt.multiplier_variable.numpy().tolist()
    [0.0, 1.0]
    """

    def __init__(
        self,
        inner_optimizer: keras.optimizers.Optimizer,
        multipliers: Mapping[str, float] | None = None,
        name: str | None = None,
    ) -> None:
        _check_inner(inner_optimizer)
        spec = checked_multipliers({} if multipliers is None else multipliers)
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = inner_optimizer
        self._spec: dict[str, float] = spec
        self._group_names: list[str] = []
        self._group_paths: list[str] = []
        self._group_variables: list[list[Any]] = []
        self._group_of_index: list[int] = []
        self._multiplier_var: Any = None
        self._scaled_steps = ScaledSteps(inner_optimizer, self._multiplier_of, self._by_group)

    # ------------------------------------------------------------------ building
    def build(self, var_list: list[Any], model: Any = None) -> None:
        """Create the multipliers' variable for the groups of `var_list`: the layers of `model`
        (default: found among the callers, as Keras builds it from the model; see "Groups")."""
        if self.built:
            return
        var_list = list(var_list)
        if model is not None and not set(map(id, var_list)) <= layer_owners(model).keys():
            raise ValueError(
                f"Argument `model` must hold every variable the optimizer is built for. Received: model={model.name!r}"
            )
        model = model if model is not None else building_model(var_list)
        self.__dict__["_model_ref"] = None if model is None else weakref.ref(model)  # untracked
        self._build_groups(var_list, model)
        # With Keras's tracking on: an optimizer may make state by attribute after its base build
        # (Nadam's `_u_product`), which must be one of its variables (on jax, else its updates are lost).
        if not self.inner_optimizer.built:
            self.inner_optimizer.build(var_list)
        self.__dict__["_own_build"] = True  # the base build reads this wrapper's own `use_ema`, ... (None)
        try:
            super().build(var_list)
        finally:
            del self.__dict__["_own_build"]

    @tracking.no_automatic_dependency_tracking
    def _build_groups(self, var_list: list[Any], model: Any) -> None:
        """The groups and the multipliers' variable (no tracking: the groups hold model variables)."""
        names, group_paths, members, group_of_index = layer_groups(var_list, model)
        if self.inner_optimizer.built:  # re-used (fine-tuning): looked up by its own variable order
            group_of_index = by_inner_index(self.inner_optimizer, var_list, group_of_index)
        try:
            values = resolve(self._spec, names, group_paths, members, require_all=True)
        except BadKeysError as e:
            # Dropped, and nothing built: kept, the key would fail every later build too.
            for key in e.keys:
                self._spec.pop(key, None)
            raise ValueError(f"{e} The optimizer dropped {e.keys}{_REBUILD_HINT}") from None
        # One vector for all groups: one more state buffer per step whatever the depth of the model.
        # Set by the initializer, not by an assign: on TF, build may run inside the traced step.
        initial = np.array([values.get(i, 1.0) for i in range(len(names))], dtype="float32")
        self._multiplier_var = self.add_variable(
            shape=(len(names),),
            initializer=lambda shape, dtype=None: ops.cast(initial, dtype or "float32"),
            name="layer_multipliers",
            aggregation="none",
        )
        self._group_names = names
        self._group_paths = group_paths
        self._group_variables = members
        self._group_of_index = group_of_index

    @property
    def variables(self) -> list[Any]:
        # Not self._variables: this wrapper's own `iterations` and `learning_rate` are never used
        # (both are the inner optimizer's), and every variable is one more buffer per jax step.
        own = [] if self._multiplier_var is None else [self._multiplier_var]
        return own + self.inner_optimizer.variables

    # ------------------------------------------------------------------ multipliers
    @property
    def multipliers(self) -> dict[str, float]:
        """The current multipliers: `{group name: value}` once built, else the given mapping.

        Read it while no fit runs or from the training thread (see the class docstring).
        """
        if not self.built:
            return dict(self._spec)
        controller = ownership.training_with(self)
        if controller is not None and not controller.in_training_thread():  # a session's fit runs:
            return dict(controller.multipliers)  # its copy (a sync from here would race the fit on jax)
        # str() of a float32 is its shortest round-tripping form: 0.1, not 0.10000000149011612.
        values = (float(str(v)) for v in np.asarray(ops.convert_to_numpy(self._live_multipliers()), dtype="float32"))
        return dict(zip(self._group_names, values, strict=True))

    @property
    def multiplier_variable(self) -> Any:
        """The optimizer variable holding every group's multiplier, in the order of `groups`.

        A float vector tracked by this optimizer (`None` until built), for monitoring code:
        `dict(zip(opt.groups, keras.ops.convert_to_numpy(opt.multiplier_variable)))`. Read it like
        any model state: while idle, or in the training thread.
        """
        return self._multiplier_var

    @property
    def groups(self) -> dict[str, tuple[Any, ...]]:
        """`{group name: trainable variables of the group}`, in model order. Empty until built."""
        return {n: tuple(vs) for n, vs in zip(self._group_names, self._group_variables, strict=True)}

    def set_multipliers(self, multipliers: Mapping[str, float]) -> None:
        """Set the multipliers of the groups the keys match (other groups keep theirs), from the
        next training step, without retracing. A key that matches no group raises a `ValueError`
        listing the groups. Before `build` the mapping is merged into the one given at construction
        and checked at `build` (class docstring). During a session's fit the groups matched go to
        the session (from another thread at its next batch; recorded, its views told)."""
        spec = checked_multipliers(multipliers)
        if not self.built:
            self._spec.update(spec)
            return
        values = resolve(spec, self._group_names, self._group_paths, self._group_variables, require_all=True)
        controller = ownership.training_with(self)
        if controller is not None:  # matched here, set by the session: recorded, its views told
            controller.set_multipliers({self._group_names[i]: v for i, v in values.items()}, source="user", exact=True)
            return
        current = np.array(ops.convert_to_numpy(self._live_multipliers()), dtype="float32")
        for i, value in values.items():
            current[i] = value
        self._multiplier_var.assign(current)

    def _live_multipliers(self) -> Any:
        """The multipliers' variable with its value in place: on jax a fit empties the model's
        variables between syncs (a callback's `self.model` syncs them; holding the optimizer does
        not), so the model it was built for is synced first."""
        if getattr(self._multiplier_var, "_value", 0) is None:
            ref = self.__dict__.get("_model_ref")
            model = ref() if ref is not None else None
            if model is None:
                raise RuntimeError(
                    "The multipliers cannot be read or set now: the fit running holds them (on jax);"
                    " read them through the model (`self.model.optimizer` in a callback), which syncs its state."
                )
            sync(model)
        return self._multiplier_var

    def multipliers_action(self, multipliers: Mapping[str, float]) -> MultiplierAction:
        """An action for `controller.submit(action)`: sets `multipliers` in the training thread.

        The mapping is validated now, in the caller's thread, so a bad value raises here and
        not in the training thread.

        Example: `controller.submit(opt.multipliers_action({"head": 2.0}), description="head x2")`
        """
        spec = checked_multipliers(multipliers)
        if self.built:
            resolve(spec, self._group_names, self._group_paths, self._group_variables, require_all=True)

        def action(model: keras.Model) -> None:
            self.set_multipliers(spec)

        return action

    # ------------------------------------------------------------------ applying
    def apply(self, grads: list[Any], trainable_variables: list[Any] | None = None) -> None:
        if not self.built:
            if trainable_variables is None:  # as Keras's own `apply`
                raise ValueError(
                    "When passing `grads` without `trainable_variables`, the optimizer must already be built."
                )
            with keras.name_scope(self.name, caller=self):
                self.build(trainable_variables)
        with self._scaled_steps():
            self.inner_optimizer.apply(grads, trainable_variables)

    def _multiplier_of(self, variable: Any) -> Any:
        return self._multiplier_var[self._group_of_index[self.inner_optimizer._get_variable_index(variable)]]

    def _by_group(self, variables: list[Any]) -> list[tuple[list[Any], Any]]:
        """``variables`` by group, each with its group's multiplier."""
        groups: dict[int, list[Any]] = {}
        for v in variables:
            groups.setdefault(self._group_of_index[self.inner_optimizer._get_variable_index(v)], []).append(v)
        return [(group, self._multiplier_var[i]) for i, group in groups.items()]

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inner_optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "multipliers": self.multipliers,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> LayerwiseOptimizer:
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(config.pop("inner_optimizer"), custom_objects=custom_objects)
        return cls(inner, **config)


def find_layerwise_optimizer(model: keras.Model) -> LayerwiseOptimizer | None:
    """The model's `LayerwiseOptimizer` (also inside a `LossScaleOptimizer`), or `None`."""
    opt = innermost(getattr(model, "optimizer", None), stop_at=LayerwiseOptimizer)
    return opt if isinstance(opt, LayerwiseOptimizer) else None


def _check_inner(inner_optimizer: Any) -> None:
    if not isinstance(inner_optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            "Argument `inner_optimizer` must be a `keras.optimizers.Optimizer` instance, such as "
            f"`keras.optimizers.Adam(1e-3)`. Received: inner_optimizer={inner_optimizer!r}"
        )
    if isinstance(inner_optimizer, keras.optimizers.LossScaleOptimizer) or is_multi_optimizer(inner_optimizer):
        raise ValueError(
            "Argument `inner_optimizer` cannot be a `LossScaleOptimizer` or a `MultiOptimizer` (wrap the "
            f"LayerwiseOptimizer in a LossScaleOptimizer instead). Received: inner_optimizer={inner_optimizer!r}"
        )
    if isinstance(inner_optimizer, LayerwiseOptimizer):
        raise ValueError(
            f"Argument `inner_optimizer` is already a LayerwiseOptimizer. Received: inner_optimizer={inner_optimizer!r}"
        )


_REBUILD_HINT = ": the next fit builds it with the other multipliers" + (
    " once the model's traced train step is dropped (`model.compile(...)` again, or "
    "`model.train_function = None`): TensorFlow cannot create the optimizer's variables in a "
    "step that already ran."
    if keras.backend.backend() == "tensorflow"
    else "."
)
