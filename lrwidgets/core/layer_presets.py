"""Preset per-layer learning-rate multipliers, as `{layer: (multiplier, frozen)}` settings.

A setting keeps the slider position (`multiplier`, > 0) apart from the freeze toggle, so
unfreezing a layer restores its rate. The effective multiplier is 0 when frozen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

from lrwidgets.core.checks import FLOAT32_TINY, check_float, check_int


class LayerSetting(TypedDict):
    multiplier: float
    frozen: bool


Settings = dict[str, LayerSetting]
PRESETS = ("uniform", "discriminative", "head_only", "freeze_first")


def effective_multipliers(settings: Mapping[str, LayerSetting]) -> dict[str, float]:
    """`{layer: 0.0 if frozen else multiplier}`.

    Example:
        >>> effective_multipliers({"a": {"multiplier": 0.5, "frozen": True}, "b": {"multiplier": 2.0, "frozen": False}})
        {'a': 0.0, 'b': 2.0}
    """
    return {name: 0.0 if s["frozen"] else float(s["multiplier"]) for name, s in settings.items()}


def settings_from_multipliers(multipliers: Mapping[str, float], previous: Mapping[str, LayerSetting]) -> Settings:
    """Settings showing `multipliers`: a 0 freezes the layer and keeps its previous slider position."""
    out: Settings = {}
    for name, m in multipliers.items():
        if m == 0:
            keep = previous.get(name, {"multiplier": 1.0, "frozen": True})["multiplier"]
            out[name] = {"multiplier": keep, "frozen": True}
        else:
            out[name] = {"multiplier": float(m), "frozen": False}
    return out


def preset(
    name: str, layers: Sequence[str], current: Mapping[str, LayerSetting], *, ratio: float = 2.6, k: int = 1
) -> Settings:
    """The settings of preset `name` for `layers` (first to last).

    - `uniform`: every layer at 1.0, none frozen.
    - `discriminative`: the last layer at 1.0, each earlier one `ratio` times smaller:
      `multiplier_i = ratio ** -(n - 1 - i)` (ULMFiT's discriminative fine-tuning uses 2.6); in a
      deep model one below float32's smallest (1.4e-45: from 109 layers down at 2.6) is held at that
      smallest, a layer frozen in effect, as the optimizer's float32 could hold no less.
    - `head_only`: every layer frozen but the last, which is unfrozen at its current rate (the
      last in model order: of a model with several output heads, one; freeze the others' trunk
      with `freeze_first` or by hand).
    - `freeze_first`: the first `k` layers frozen, the others unfrozen at their current rate.

    Example:
        >>> s = preset("discriminative", ["a", "b", "c"], {}, ratio=2.0)
        >>> [s[n]["multiplier"] for n in "abc"]
        [0.25, 0.5, 1.0]
    """
    if name not in PRESETS:
        raise ValueError(f"Argument `name` must be one of {PRESETS}. Received: name={name!r}")
    ratio, k = check_float("ratio", ratio, ge=1), check_int("k", k, ge=0, le=len(layers))  # as the traits take them
    n = len(layers)
    rate = {name_: float(current.get(name_, {"multiplier": 1.0})["multiplier"]) for name_ in layers}
    if name == "uniform":
        return {la: {"multiplier": 1.0, "frozen": False} for la in layers}
    if name == "discriminative":
        return {
            la: {"multiplier": max(float(ratio) ** -(n - 1 - i), FLOAT32_TINY), "frozen": False}
            for i, la in enumerate(layers)
        }
    if name == "head_only":
        out: Settings = {la: {"multiplier": rate[la], "frozen": True} for la in layers[:-1]}
        if n:
            out[layers[-1]] = {"multiplier": rate[layers[-1]], "frozen": False}
        return out
    return {la: {"multiplier": rate[la], "frozen": i < k} for i, la in enumerate(layers)}
