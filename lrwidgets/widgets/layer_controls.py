"""`LayerLRControls`: an equalizer of per-layer learning-rate multipliers, live during training."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import anywidget
import traitlets

from lrwidgets.core.checks import check_bool, check_float, check_int, check_keyed, check_rate
from lrwidgets.core.layer_presets import (
    PRESETS,
    LayerSetting,
    effective_multipliers,
    preset,
    settings_from_multipliers,
)
from lrwidgets.training import Snapshot, TrainingSession, UpdateSizeMonitor
from lrwidgets.widgets._errors import RefusedValue, refuse_kernel_only, refuses_page_state, refusing, shows_errors
from lrwidgets.widgets._esm import esm_path

#: Traits only the kernel writes: the page may read them, never set them.
_KERNEL_ONLY = ("layers", "update_size", "error", "min_exponent", "max_exponent")
#: The slider exponents stay where a multiplier is a normal float32 (the optimizer holds float32).
_EXPONENT_RANGE = (-38.0, 38.0)


def _holdable(multiplier: Any) -> bool:
    """Whether the optimizer can hold ``multiplier`` (else the ``value`` validator refuses it, saying why)."""
    try:
        check_rate("multiplier", multiplier)
    except (TypeError, ValueError):
        return False
    return True


class LayerLRControls(anywidget.AnyWidget):
    """One log-scale vertical slider per trainable layer, with freeze toggles and presets.

    Needs a model compiled with a `LayerwiseOptimizer`. Moving a slider asks the training session
    for that layer's multiplier (`session.set_multipliers`, by the group's name): at once when
    idle, before the next batch while a fit runs; the panel never touches the optimizer itself.
    Behind each slider a bar shows the layer's relative update size ||dW|| / ||W||, from the
    session's snapshots during its fits, or from the callback `panel.monitor()` returns.

    Args:
        model: a `keras.Model` compiled with `lrw.LayerwiseOptimizer(...)` (also inside a
            `LossScaleOptimizer`), or the `lrw.TrainingSession` that trains one (a dashboard
            passes its own). Given a model, the panel makes a session for it.
        **kwargs: trait values (`min_exponent`, `max_exponent`, `ratio`, `k`, `layout`...).

    Example:
    >>> import keras, lrwidgets as lrw
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="body"),
    ...                           keras.layers.Dense(1, name="head")])
    >>> model.compile(optimizer=lrw.LayerwiseOptimizer(keras.optimizers.Adam(1e-3)), loss="mse")
    >>> panel = lrw.LayerLRControls(model)
    >>> panel.multipliers = {"body": 0.1}
    >>> model.optimizer.multipliers
    {'body': 0.1, 'head': 1.0}
    >>> panel.apply_preset("head_only"); panel.multipliers
    {'body': 0.0, 'head': 1.0}
    """

    _esm = esm_path("layer_controls.js")

    #: `[{"name": str, "params": int}, ...]` for each layer group, first to last. Read-only.
    layers = traitlets.List(traitlets.Dict(), read_only=True).tag(sync=True)
    #: `{layer: {"multiplier": float > 0, "frozen": bool}}`: the one value the front end edits.
    #: The effective multiplier is 0 when frozen (see `multipliers`).
    value = traitlets.Dict(value_trait=traitlets.Dict(), default_value={}).tag(sync=True)
    #: `{layer: ||dW|| / ||W||}` of a recent step (bars behind the sliders). Defaults to `{}`.
    update_size = traitlets.Dict(value_trait=traitlets.Float(), default_value={}).tag(sync=True)
    #: log10 of the smallest and largest slider multiplier, min < max, in [-38, 38]. Defaults to -4
    #: and 1 (1e-4 ... 10).
    #: (These four are checked by the validators below, uncast: traitlets' Float and Int would take
    #: ``true`` from the page as 1.)
    min_exponent = traitlets.Any(-4.0).tag(sync=True)
    max_exponent = traitlets.Any(1.0).tag(sync=True)
    #: ratio between neighbouring layers for the "discriminative" preset, finite and >= 1. Defaults
    #: to 2.6 (ULMFiT).
    ratio = traitlets.Any(2.6).tag(sync=True)
    #: number of first layers the "freeze first k" preset freezes, at most the number of layers.
    #: Defaults to 1.
    k = traitlets.Any(1).tag(sync=True)
    #: the last error raised while handling a change, shown under the widget. Defaults to "".
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, model: Any, **kwargs: Any) -> None:
        # The panel's own traits come from the model and its session's multipliers, not from arguments.
        own = {"layers", "value", "update_size", "error"}
        unknown = (set(kwargs) - set(self.class_trait_names())) | (own & set(kwargs))
        if unknown:
            raise TypeError(f"LayerLRControls() got unexpected keyword arguments: {sorted(unknown)}")
        session = TrainingSession.of(model)
        groups = session.layer_groups
        if not groups:
            raise ValueError(
                "Argument `model` must be compiled with a `LayerwiseOptimizer` and built, e.g. "
                "`model.compile(optimizer=lrw.LayerwiseOptimizer(keras.optimizers.Adam(1e-3)), loss=...)` on a model "
                "with an `Input` (a model with no trainable variables yet has no layers to show). "
                f"Received: model={session.model.name!r} with optimizer {type(session.model.optimizer).__name__}"
            )
        self.session = session
        self._applied = session.multipliers
        later = {name: kwargs.pop(name) for name in ("k",) if name in kwargs}  # checked against the layers
        super().__init__(**kwargs)
        self.set_trait("layers", groups)
        self.value = settings_from_multipliers(self._applied, {})
        for name, value in later.items():
            setattr(self, name, value)
        self.observe(self._on_value, names="value")
        self.on_msg(self._on_message)
        self._unsubscribe = session.subscribe(self._on_snapshot)

    # ------------------------------------------------------------------ public API
    @property
    def multipliers(self) -> dict[str, float]:
        """`{layer: effective multiplier}` (0 when frozen). Assigning a partial dict updates those layers."""
        return effective_multipliers(self.value)

    @multipliers.setter
    def multipliers(self, multipliers: Mapping[str, float]) -> None:
        multipliers = check_keyed("multipliers", multipliers, "layer names")
        idle = self.session.state == "idle"
        # Idle, the optimizer's groups may be other than those shown (re-compiled since): checked
        # against its own, and the panel refreshed from it only once the value is accepted.
        held = self.session.multipliers if idle else None  # what the optimizer holds now
        layers = list(held or self.value)
        unknown = sorted(k for k in set(multipliers) - set(layers))
        if unknown:
            raise ValueError(
                f"Argument `multipliers` has unknown layers {unknown}; layers: {layers}. "
                f"Received: multipliers={dict(multipliers)!r}"
            )
        checked = {k: check_rate(f"multipliers[{k!r}]", v, allow_zero=True) for k, v in multipliers.items()}
        if idle:
            self.refresh(held)  # what the optimizer holds (set directly since the panel last showed it)
        self.value = {**self.value, **settings_from_multipliers(checked, self.value)}

    def apply_preset(self, name: str, *, ratio: float | None = None, k: int | None = None) -> None:
        """Apply a preset: "uniform", "discriminative", "head_only" or "freeze_first".

        `ratio` and `k` default to the panel's `ratio` and `k` traits (see `core.layer_presets.preset`).
        """
        names = [layer["name"] for layer in self.layers]
        ratio = self.ratio if ratio is None else ratio
        k = self.k if k is None else k
        self.value = {**self.value, **preset(name, names, self.value, ratio=ratio, k=k)}

    def update_sizes(self, sizes: Mapping[str, float]) -> None:
        """Show `{layer: ||dW|| / ||W||}` as the bars behind the sliders (unknown layers are ignored)."""
        known = {layer["name"] for layer in self.layers}
        self.update_size = {n: float(v) for n, v in sizes.items() if n in known and math.isfinite(float(v))}

    def refresh(self, multipliers: Mapping[str, float] | None = None) -> None:
        """Show the session's multipliers (in effect or requested), or the given ones."""
        current = dict(self.session.multipliers if multipliers is None else multipliers)
        # Against what this panel last applied, not against `value`: an edit whose observer has not
        # yet run must not be undone by a refresh from the training thread.
        if current == self._applied:
            return
        if current and set(current) != set(self.value):  # re-compiled with other groups (fine-tuning)
            self._show_layers(current)
        else:
            self._applied = current  # first: the new value is not an edit to apply
            self.value = {**self.value, **settings_from_multipliers(current, self.value)}

    def _show_layers(self, current: dict[str, float]) -> None:
        """The model was re-compiled with a `LayerwiseOptimizer` over other layers: show those."""
        groups = [g for g in self.session.layer_groups if g["name"] in current]
        if len(groups) != len(current):  # a model changed since `current` was read: the next refresh
            return
        self._applied = current
        with self.hold_sync():
            self.update_size = {}
            self.set_trait("layers", groups)
            self.k = min(self.k, len(groups))
            self.value = settings_from_multipliers(current, {})

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        with self.hold_sync():
            if snapshot.update_sizes:
                self.update_sizes(snapshot.update_sizes)
            if snapshot.multipliers:
                self.refresh(snapshot.multipliers)

    def monitor(self, interval: float = 0.5) -> UpdateSizeMonitor:
        """A Keras callback that fills the bars and re-reads the multipliers every `interval` s."""

        def listener(sizes: dict[str, float], multipliers: dict[str, float]) -> None:
            with self.hold_sync():
                self.update_sizes(sizes)
                if multipliers:
                    self.refresh(multipliers)

        return UpdateSizeMonitor(listener, interval=interval)

    # ------------------------------------------------------------------ traits and messages
    def set_state(self, sync_data: dict[str, Any]) -> None:
        # A refused edit from the browser is shown in the widget, not only in the kernel log, and the
        # page gets the values in force back.
        with refuses_page_state(self, sync_data, self._show_error):
            refuse_kernel_only(self, sync_data, _KERNEL_ONLY, "the layer controls")
            self._check_slider_range(sync_data.get("value"))
            super().set_state(sync_data)

    def _check_slider_range(self, value: Any) -> None:
        """A page's multiplier outside its slider's range (10**min_exponent to 10**max_exponent) is
        refused: a slider cannot hold it. Only the layers the page changed (it sends every slider,
        and one set from code may lie outside the range). Compared as exponents, with a margin: the
        page sends ``10 ** exponent`` as the browser computes it (``10 ** -4`` is 9.999999999999999e-05
        there: the slider's own end)."""
        low, high = 10.0**self.min_exponent, 10.0**self.max_exponent
        for name, setting in value.items() if isinstance(value, Mapping) else ():
            old = self.value.get(name)
            sent = setting.get("multiplier") if isinstance(setting, Mapping) else None
            if old is None or sent is None or sent == old["multiplier"] or not _holdable(sent):
                continue  # a value the optimizer cannot hold: the validator says why
            if not self.min_exponent - 1e-9 <= math.log10(sent) <= self.max_exponent + 1e-9:
                raise RefusedValue(
                    f"Argument `value[{name!r}]['multiplier']` must be within the slider's range [{low:g}, {high:g}]."
                    f" Received: {sent!r}"
                )

    def _show_error(self, message: str) -> None:
        self.error = message

    @traitlets.validate("value")
    def _valid_value(self, proposal: Any) -> dict[str, LayerSetting]:
        value = proposal["value"]
        names = [layer["name"] for layer in self.layers]
        if names and set(value) != set(names):
            raise traitlets.TraitError(f"`value` must have one entry per layer {names}. Received: {sorted(value)}")
        checked: dict[str, LayerSetting] = {}
        with refusing():
            for name, setting in value.items():
                if not isinstance(setting, Mapping) or set(setting) != {"multiplier", "frozen"}:
                    raise TypeError(
                        f"`value[{name!r}]` must be {{'multiplier': number > 0, 'frozen': bool}}. Received: {setting!r}"
                    )
                multiplier = check_rate(f"value[{name!r}]['multiplier']", setting["multiplier"])
                frozen = check_bool(f"value[{name!r}]['frozen']", setting["frozen"])
                checked[name] = {"multiplier": multiplier, "frozen": frozen}
        return checked

    @traitlets.validate("ratio")
    def _valid_ratio(self, proposal: Any) -> float:
        with refusing():
            return check_float("ratio", proposal["value"], ge=1)

    @traitlets.validate("k")
    def _valid_k(self, proposal: Any) -> int:
        with refusing():
            return check_int("k", proposal["value"], ge=0, le=len(self.layers) if self.layers else None)

    @traitlets.validate("min_exponent", "max_exponent")
    def _valid_exponent(self, proposal: Any) -> float:
        name = proposal["trait"].name
        with refusing():
            value = check_float(name, proposal["value"], ge=_EXPONENT_RANGE[0], le=_EXPONENT_RANGE[1])
            low, high = (value, self.max_exponent) if name == "min_exponent" else (self.min_exponent, value)
            if not low < high:
                raise ValueError(
                    "Argument `min_exponent` must be < `max_exponent`. "
                    f"Received: min_exponent={low!r}, max_exponent={high!r}"
                )
        return value

    def _on_value(self, change: dict[str, Any]) -> None:
        with shows_errors(self._show_error, clear=True):  # an observer error must never be silent
            wanted = effective_multipliers(change["new"])
            changes = {n: m for n, m in wanted.items() if self._applied.get(n) != m}
            if changes:
                try:
                    self._apply(changes)
                except Exception:
                    self.value = change["old"]  # refused: the panel shows what is in effect
                    raise
                self._applied = {**self._applied, **changes}

    def _apply(self, changes: dict[str, float]) -> None:
        self.session.set_multipliers(changes, source="panel", exact=True)  # a slider is one group

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "preset":
            return
        with shows_errors(self._show_error, clear=True):
            name = content.get("name")
            if name not in PRESETS:
                raise ValueError(f"Unknown preset {name!r}; presets: {PRESETS}")
            self.apply_preset(name)
