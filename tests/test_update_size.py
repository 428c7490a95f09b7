"""relative_update_sizes and the layer presets: pure numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrwidgets.core.layer_presets import effective_multipliers, preset, settings_from_multipliers
from lrwidgets.core.update_size import relative_update_sizes


def test_relative_update_size_closed_form() -> None:
    rng = np.random.default_rng(0)
    w = [rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=4).astype("float32")]
    d = [rng.normal(size=(3, 4)) * 1e-3, rng.normal(size=4) * 1e-3]
    sizes = relative_update_sizes({"a": w}, {"a": [x + y for x, y in zip(w, d, strict=True)]})
    expected = math.sqrt(sum(float(np.sum(x**2)) for x in d)) / math.sqrt(
        sum(float(np.sum(np.float64(x) ** 2)) for x in w)
    )
    assert sizes["a"] == pytest.approx(expected, rel=1e-4)


def test_relative_update_size_edges() -> None:
    z = [np.zeros(3)]
    assert relative_update_sizes({"z": z, "gone": z}, {"z": z}) == {"z": 0.0}
    assert relative_update_sizes({"z": z}, {"z": [np.ones(3)]}) == {"z": math.inf}
    with pytest.raises(ValueError, match="Arguments `before` and `after`"):
        relative_update_sizes({"z": z}, {"z": [*z, *z]})


def test_presets() -> None:
    names = ["a", "b", "c", "d"]
    current = {n: {"multiplier": 0.5, "frozen": n == "d"} for n in names}
    assert effective_multipliers(preset("uniform", names, current)) == dict.fromkeys(names, 1.0)
    disc = effective_multipliers(preset("discriminative", names, current, ratio=3.0))
    assert disc == pytest.approx({"a": 1 / 27, "b": 1 / 9, "c": 1 / 3, "d": 1.0})
    assert effective_multipliers(preset("head_only", names, current)) == {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.5}
    first = preset("freeze_first", names, current, k=1)
    assert effective_multipliers(first) == {"a": 0.0, "b": 0.5, "c": 0.5, "d": 0.5}
    assert first["a"] == {"multiplier": 0.5, "frozen": True}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "all"}, "Argument `name`"),
        ({"name": "uniform", "ratio": 0.5}, "Argument `ratio`"),
        ({"name": "uniform", "ratio": math.nan}, "Argument `ratio`"),
        ({"name": "freeze_first", "k": 9}, "Argument `k`"),
        ({"name": "freeze_first", "k": -1}, "Argument `k`"),
    ],
)
def test_bad_preset_arguments(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        preset(layers=["a", "b"], current={}, **kwargs)


def test_settings_from_multipliers_keeps_the_slider_of_a_frozen_layer() -> None:
    previous = {"a": {"multiplier": 0.3, "frozen": False}}
    assert settings_from_multipliers({"a": 0.0, "b": 2.0}, previous) == {
        "a": {"multiplier": 0.3, "frozen": True},
        "b": {"multiplier": 2.0, "frozen": False},
    }


def test_the_discriminative_preset_of_a_deep_model_is_one_the_optimizer_can_hold() -> None:
    """With 120 groups at 2.6 the first multiplier was 4e-50: refused (float32 holds none so small),
    so the preset button of a ResNet-sized model only showed an error."""
    from lrwidgets.core.checks import FLOAT32_TINY, check_rate

    names = [f"layer_{i}" for i in range(120)]
    values = effective_multipliers(preset("discriminative", names, {}, ratio=2.6))
    assert [check_rate("m", v, allow_zero=True) for v in values.values()] == list(values.values())
    assert values["layer_119"] == 1.0 and values["layer_11"] == pytest.approx(2.6**-108)
    assert {values[f"layer_{i}"] for i in range(11)} == {FLOAT32_TINY}  # 109 or more layers down
