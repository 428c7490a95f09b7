"""The schedule core without Keras: configs, code snippets, argument errors, closed forms."""

from __future__ import annotations

import json
import math
import re
import warnings
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from lrwidgets import schedules
from lrwidgets.schedules import (
    Constant,
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    OneCycle,
    PiecewiseConstantDecay,
    PolynomialDecay,
    ReduceOnPlateau,
    Schedule,
    StepDecay,
    Warmup,
    deserialize,
    get,
    serialize,
)

EXAMPLES = [
    Constant(0.01),
    StepDecay(0.1, drop_every=30, factor=0.5),
    ExponentialDecay(1e-3, decay_steps=100, decay_rate=0.96, staircase=True),
    PiecewiseConstantDecay(boundaries=[100, 250.5], values=[0.1, 0.01, 0.001]),
    PolynomialDecay(0.1, decay_steps=1000, end_learning_rate=1e-4, power=2.0, cycle=True),
    InverseTimeDecay(0.1, decay_steps=10.0, decay_rate=0.5),
    CosineDecay(0.0, decay_steps=500, alpha=0.1, warmup_target=0.1, warmup_steps=50),
    CosineDecayRestarts(0.1, first_decay_steps=100, t_mul=1.5, m_mul=0.8, alpha=0.01),
    OneCycle(0.1, total_steps=1000, pct_start=0.3, div_factor=10.0, final_div_factor=1e4),
    Warmup(ExponentialDecay(0.1, 100, 0.5), warmup_steps=20, initial_learning_rate=0.001),
    Warmup(Warmup(Constant(0.1), 10), warmup_steps=5),
    ReduceOnPlateau(0.1, mode="max", factor=0.2, patience=3, min_delta=0.01, cooldown=2, min_lr=1e-5),
]


@pytest.mark.parametrize("schedule", EXAMPLES, ids=repr)
def test_config_round_trips_through_json(schedule: Schedule) -> None:
    config = json.loads(json.dumps(schedule.get_config()))
    rebuilt = type(schedule).from_config(config)
    assert rebuilt == schedule
    assert rebuilt.get_config() == schedule.get_config()
    assert deserialize(json.loads(json.dumps(serialize(schedule)))) == schedule
    steps = np.arange(0, 3000, 7)
    assert np.array_equal(rebuilt(steps), schedule(steps))


@pytest.mark.parametrize("schedule", EXAMPLES, ids=repr)
def test_to_code_rebuilds_the_schedule(schedule: Schedule) -> None:
    namespace: dict[str, object] = {}
    exec(schedule.to_code(), namespace)
    assert namespace["schedule"] == schedule


@pytest.mark.parametrize("schedule", EXAMPLES, ids=repr)
def test_scalar_and_vector_calls_agree(schedule: Schedule) -> None:
    steps = np.array([0, 1, 17, 99, 100, 101, 499, 500, 10_000])
    values = schedule(steps)
    assert values.shape == steps.shape
    assert values.dtype == np.float64
    assert all(isinstance(schedule(int(s)), float) for s in steps)
    np.testing.assert_allclose([schedule(int(s)) for s in steps], values, rtol=1e-14)
    assert schedule(steps.reshape(3, 3)).shape == (3, 3)
    assert np.all(np.isfinite(values))
    assert np.all(values >= 0)


@pytest.mark.parametrize("schedule", EXAMPLES, ids=repr)
def test_float32_steps_compute_in_float32(schedule: Schedule) -> None:
    steps = np.arange(0, 20_000, 3)
    fast = schedule(steps.astype(np.float32))
    assert fast.dtype == np.float32
    exact = schedule(steps)
    np.testing.assert_allclose(fast, exact, rtol=2e-5, atol=1e-6 * float(exact.max()))


def test_different_configs_are_not_equal() -> None:
    assert ExponentialDecay(0.1, 10, 0.5) != ExponentialDecay(0.1, 10, 0.6)
    assert len({ExponentialDecay(0.1, 10, 0.5), ExponentialDecay(0.1, 10, 0.5), Constant(0.1)}) == 2


def test_one_cycle_closed_form() -> None:
    s = OneCycle(1.0, total_steps=200, pct_start=0.25, div_factor=20.0, final_div_factor=10.0)
    start, end = 1.0 / 20.0, 1.0 / 200.0
    assert s(0) == pytest.approx(start)
    assert s(50) == pytest.approx(1.0)
    assert s(25) == pytest.approx((start + 1.0) / 2)  # half-way up a half cosine
    assert s(125) == pytest.approx((end + 1.0) / 2)  # half-way down
    assert s(200) == pytest.approx(end)
    assert s(10**6) == pytest.approx(end)
    values = s(np.arange(201))
    assert np.all(np.diff(values[:51]) > 0)
    assert np.all(np.diff(values[50:]) < 0)


def test_warmup_ramps_then_follows_the_shifted_schedule() -> None:
    inner = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    s = Warmup(inner, warmup_steps=20, initial_learning_rate=0.02)
    assert s(0) == pytest.approx(0.02)
    assert s(10) == pytest.approx(0.06)
    assert s(20) == pytest.approx(0.1)
    assert s(30) == pytest.approx(inner(10))
    assert Warmup(inner, 0)(np.arange(50)).tolist() == inner(np.arange(50)).tolist()


def test_cosine_restarts_land_exactly_on_restarts() -> None:
    # log(1 + 7) / log(2) is 2.9999999999999996 in float64: the restart must still be at step 70.
    s = CosineDecayRestarts(1.0, first_decay_steps=10, t_mul=2.0, m_mul=0.5)
    assert [s(10), s(30), s(70), s(150)] == [0.5, 0.25, 0.125, 0.0625]
    assert s(69) < 1e-3


def test_cosine_restarts_places_float32_steps_as_float64_does() -> None:
    # A t_mul near 1: float32 put steps in the wrong period (0.89 off at some steps below 2**24)
    steps = np.arange(0, 2**24, 997)
    for first, t_mul in [(10.0, 1.00001), (0.5, 1.00001), (1e-30, 1.00001), (100.0, 1.5)]:
        s = CosineDecayRestarts(1.0, first_decay_steps=first, t_mul=t_mul, m_mul=0.9)
        np.testing.assert_allclose(s(steps.astype(np.float32)), s(steps.astype(np.float64)), atol=1e-6)


def _restarts_exactly(first_decay_steps: float, t_mul: float, step: float) -> tuple[int, float]:
    """Period and fraction of it done, in exact rational arithmetic."""
    done, t = Fraction(step) / Fraction(first_decay_steps), Fraction(t_mul)
    n, start = 0, Fraction(0)
    while start + t**n <= done:
        start, n = start + t**n, n + 1
    return n, float((done - start) / t**n)


@pytest.mark.parametrize(
    ("first_decay_steps", "t_mul", "step"),
    [(1e-289, 10.0, 9e18), (1e-289, 3.0, 9e18), (1e-289, 1.5, 2e18), (1e-289, 1e10, 7e18), (1e-100, 1e300, 5.0)],
)
def test_cosine_restarts_far_beyond_the_float_range_of_its_products(
    first_decay_steps: float, t_mul: float, step: float
) -> None:
    # done * (t_mul - 1) and t_mul**n overflow here: the rate was NaN.
    s = CosineDecayRestarts(1.0, first_decay_steps=first_decay_steps, t_mul=t_mul, m_mul=0.999)
    n, fraction = _restarts_exactly(first_decay_steps, t_mul, step)
    expected = 0.999**n * 0.5 * (1 + math.cos(math.pi * fraction))
    assert s(step) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    steps = np.array([0.0, 1.0, step])
    assert s(steps)[0] == 1.0
    fast = s(steps.astype(np.float32))  # finite, to a chart's precision (logarithms near 700 in float32)
    assert fast.dtype == np.float32
    np.testing.assert_allclose(fast, s(steps.astype(np.float32).astype(np.float64)), rtol=1e-3)


def test_plateau_planned_curve_and_simulation() -> None:
    p = ReduceOnPlateau(0.1, factor=0.5, patience=2, min_delta=0.0, cooldown=1, min_lr=0.03)
    assert p(np.arange(5)).tolist() == [0.1] * 5
    rates = p.simulate([1.0] * 12)
    assert rates[0] == pytest.approx(0.1)
    assert np.all(np.diff(rates) <= 0)
    assert rates[-1] == pytest.approx(0.03)  # floored at min_lr, never below
    assert p.simulate(np.array([], dtype=float)).shape == (0,)


def test_get_builds_from_numbers_dicts_and_schedules() -> None:
    s = StepDecay(0.1, 10, 0.5)
    assert get(s) is s
    assert get(serialize(s)) == s
    assert get(0.01) == Constant(0.01)
    assert get(np.float32(0.5)) == Constant(0.5)
    with pytest.raises(TypeError, match=re.escape("Argument `identifier` must be a schedule, a dict made by")):
        get("adam")
    with pytest.raises(TypeError, match=re.escape("or a number (a constant rate). Received: identifier='0.1'")):
        get("0.1")
    with pytest.raises(TypeError, match="Argument `identifier`"):
        get(True)


def test_registry_exports_every_schedule() -> None:
    for name in ("Constant", "StepDecay", "Warmup", "ReduceOnPlateau", "OneCycle"):
        assert getattr(schedules, name).__name__ == name
    with pytest.raises(ValueError, match="Unknown schedule class_name 'Nope'"):
        deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(TypeError, match="exactly the keys"):
        deserialize({"class_name": "Constant"})


BAD_ARGUMENTS = [
    (
        Constant,
        {"learning_rate": -1.0},
        ValueError,
        "Argument `learning_rate` must be >= 0. Received: learning_rate=-1.0",
    ),
    (Constant, {"learning_rate": "0.1"}, TypeError, "Argument `learning_rate` must be a float"),
    (Constant, {"learning_rate": math.nan}, ValueError, "Argument `learning_rate` must be finite"),
    (Constant, {"learning_rate": True}, TypeError, "Argument `learning_rate` must be a float"),
    (
        StepDecay,
        {"initial_learning_rate": 0.1, "drop_every": 0, "factor": 0.5},
        ValueError,
        "`drop_every` must be >= 1",
    ),
    (
        StepDecay,
        {"initial_learning_rate": 0.1, "drop_every": 2.5, "factor": 0.5},
        ValueError,
        "`drop_every` must be an integer",
    ),
    (StepDecay, {"initial_learning_rate": 0.1, "drop_every": 10, "factor": 1.5}, ValueError, "`factor` must be <= 1"),
    (
        StepDecay,
        {"initial_learning_rate": 0.0, "drop_every": 10, "factor": 0.5},
        ValueError,
        "`initial_learning_rate` must be > 0",
    ),
    (
        ExponentialDecay,
        {"initial_learning_rate": 0.1, "decay_steps": 0, "decay_rate": 0.5},
        ValueError,
        "`decay_steps` must be >= 1",
    ),
    (
        ExponentialDecay,
        {"initial_learning_rate": 0.1, "decay_steps": -0.5, "decay_rate": 0.5},
        ValueError,
        "`decay_steps` must be > 0",
    ),
    (
        ExponentialDecay,
        {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.0},
        ValueError,
        "`decay_rate` must be > 0",
    ),
    (
        ExponentialDecay,
        {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5, "staircase": 1},
        TypeError,
        "`staircase` must be a bool",
    ),
    (
        ExponentialDecay,
        {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5, "lr": 1},
        TypeError,
        "unexpected keyword",
    ),
    (
        InverseTimeDecay,
        {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": -1.0},
        ValueError,
        "`decay_rate` must be >= 0",
    ),
    (PiecewiseConstantDecay, {"boundaries": [10, 5], "values": [1.0, 0.5, 0.1]}, ValueError, "strictly increasing"),
    (PiecewiseConstantDecay, {"boundaries": [10], "values": [1.0]}, ValueError, "1 less than the length of `values`"),
    (PiecewiseConstantDecay, {"boundaries": 10, "values": [1.0, 0.5]}, TypeError, "`boundaries` must be a list"),
    (PiecewiseConstantDecay, {"boundaries": np.array(10), "values": [1.0, 0.5]}, TypeError, "`boundaries` must be a"),
    (PiecewiseConstantDecay, {"boundaries": [10], "values": np.array(1.0)}, TypeError, "`values` must be a list"),
    (PiecewiseConstantDecay, {"boundaries": [10], "values": [1.0, -0.5]}, ValueError, "`values` must be >= 0"),
    (
        PolynomialDecay,
        {"initial_learning_rate": 0.1, "decay_steps": 10, "power": 0.0},
        ValueError,
        "`power` must be > 0",
    ),
    (
        PolynomialDecay,
        {"initial_learning_rate": 0.1, "decay_steps": 10, "end_learning_rate": -1e-3},
        ValueError,
        "`end_learning_rate` must be >= 0",
    ),
    (CosineDecay, {"initial_learning_rate": 0.1, "decay_steps": 10, "alpha": 1.5}, ValueError, "`alpha` must be <= 1"),
    (
        CosineDecay,
        {"initial_learning_rate": 0.1, "decay_steps": 10, "warmup_steps": -1},
        ValueError,
        "`warmup_steps` must be >= 0",
    ),
    (
        CosineDecay,
        {"initial_learning_rate": 0.1, "decay_steps": 10, "warmup_target": "x"},
        TypeError,
        "`warmup_target` must be a float",
    ),
    (
        CosineDecayRestarts,
        {"initial_learning_rate": 0.1, "first_decay_steps": 10, "t_mul": 0.5},
        ValueError,
        "`t_mul` must be >= 1",
    ),
    (
        CosineDecayRestarts,
        {"initial_learning_rate": 0.1, "first_decay_steps": 10, "m_mul": 0.0},
        ValueError,
        "`m_mul` must be > 0",
    ),
    (
        CosineDecayRestarts,
        {"initial_learning_rate": 0.1, "first_decay_steps": 1e-320},  # was accepted: NaN from step 1
        ValueError,
        "Argument `first_decay_steps` must be >= 1e-289: a step count divided by it must be finite."
        " Received: first_decay_steps=1e-320",
    ),
    (OneCycle, {"max_learning_rate": 0.1, "total_steps": 100, "pct_start": 1.0}, ValueError, "`pct_start` must be < 1"),
    (OneCycle, {"max_learning_rate": 0.1, "total_steps": 0}, ValueError, "`total_steps` must be >= 1"),
    (
        OneCycle,
        {"max_learning_rate": 0.1, "total_steps": 100, "div_factor": 0.5},
        ValueError,
        "`div_factor` must be >= 1",
    ),
    (Warmup, {"schedule": 0.1, "warmup_steps": 10}, TypeError, "`schedule` must be an lrwidgets schedule"),
    (Warmup, {"schedule": ReduceOnPlateau(0.1), "warmup_steps": 10}, TypeError, "cannot be a ReduceOnPlateau"),
    (Warmup, {"schedule": Constant(0.1), "warmup_steps": -3}, ValueError, "`warmup_steps` must be >= 0"),
    (
        Warmup,
        {"schedule": {"class_name": "Constant", "config": {"learning_rate": -1.0}}, "warmup_steps": 3},
        ValueError,
        "`learning_rate` must be >= 0",
    ),
    (
        ReduceOnPlateau,
        {"initial_learning_rate": 0.1, "factor": 1.5},
        ValueError,
        "Argument `factor` must be < 1. Received: factor=1.5",
    ),
    (ReduceOnPlateau, {"initial_learning_rate": 0.1, "mode": "auto"}, ValueError, "`mode` must be 'min' or 'max'"),
    (ReduceOnPlateau, {"initial_learning_rate": 0.1, "patience": -1}, ValueError, "`patience` must be >= 0"),
    (ReduceOnPlateau, {"initial_learning_rate": 0.1, "cooldown": 1.5}, ValueError, "`cooldown` must be an integer"),
    (ReduceOnPlateau, {"initial_learning_rate": 0.1, "min_delta": -1e-4}, ValueError, "`min_delta` must be >= 0"),
    (ReduceOnPlateau, {"initial_learning_rate": 0.1, "min_lr": -1.0}, ValueError, "`min_lr` must be >= 0"),
]


@pytest.mark.parametrize(
    ("cls", "kwargs", "error", "message"), BAD_ARGUMENTS, ids=lambda v: getattr(v, "__name__", None)
)
def test_bad_arguments_raise_named_errors(cls: type, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        cls(**kwargs)


def test_a_step_beyond_int64_is_a_number() -> None:
    """`Constant(1e-3)(10**30)` said "A step must be a number" (numpy made an object array of it)."""
    assert Constant(1e-3)(10**30) == pytest.approx(1e-3)
    assert ExponentialDecay(1e-2, decay_steps=10, decay_rate=0.5)(10**30) == ExponentialDecay(1e-2, 10, 0.5)(1e30)


@pytest.mark.parametrize("step", ["10", None, [1, "a"], True])
def test_bad_steps_raise_type_error(step: object) -> None:
    with pytest.raises(TypeError, match="A step must be a number"):
        Constant(0.1)(step)


def test_negative_steps_raise_value_error() -> None:
    with pytest.raises(ValueError, match="Steps must be >= 0"):
        ExponentialDecay(0.1, 10, 0.5)(np.array([3, -1]))
    # A NaN step: named, with no numpy warning (all NaN: "All-NaN slice"); one NaN among others was evaluated.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for bad in (float("nan"), np.array([3.0, np.nan])):
            with pytest.raises(ValueError, match=r"Steps must be >= 0 \(a number, not NaN\)"):
                Constant(0.1)(bad)


def test_tracker_rejects_non_numbers() -> None:
    with pytest.raises(TypeError, match="`monitored` must be a float"):
        ReduceOnPlateau(0.1).tracker().update("0.5")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="1-D sequence of numbers"):
        ReduceOnPlateau(0.1).simulate([[1.0, 2.0]])


# ---- ScheduleTable: the controller's O(1)-a-step form of any schedule ---------------------------

# Steps as a fit asks them: in order, jumping (steps_per_execution), back to 0 (the next fit).
ASKED = [*range(0, 40), 45, 47, 1023, 1024, 1025, 3000, 3001, 5, 0, 2048]


@pytest.mark.parametrize("schedule", EXAMPLES, ids=repr)
@pytest.mark.parametrize("block", [1, 7, 1024])
def test_table_gives_the_schedule_at_every_step_asked(schedule: Schedule, block: int) -> None:
    from lrwidgets.schedules.table import ScheduleTable

    table = ScheduleTable(schedule, block=block)
    got = [table(s) for s in ASKED]
    assert all(type(v) is float for v in got)
    # Vectorized and scalar numpy may differ in the last bit of float64, never in float32.
    np.testing.assert_allclose(got, [schedule(s) for s in ASKED], rtol=1e-15)
    assert np.array_equal(np.float32(got), np.float32([schedule(s) for s in ASKED]))
    assert table.vectorized


def test_table_evaluates_a_vectorizable_callable_ahead_in_blocks() -> None:
    from lrwidgets.schedules.table import ScheduleTable

    calls: list[object] = []

    def staircase(step: object) -> object:
        calls.append(step)
        return 0.05 * 0.5 ** (step // 3)  # type: ignore[operator]

    table = ScheduleTable(staircase, block=100)
    assert [table(s) for s in range(250)] == [0.05 * 0.5 ** (s // 3) for s in range(250)]
    assert [c.tolist() for c in calls] == [list(range(0, 100)), list(range(100, 200)), list(range(200, 300))]  # type: ignore[attr-defined]


def test_table_calls_an_int_only_callable_once_per_step() -> None:
    from lrwidgets.schedules.table import ScheduleTable, rates

    calls: list[object] = []

    def two_phases(step: int) -> float:
        calls.append(step)
        return 0.1 if step < 5 else 0.01

    table = ScheduleTable(two_phases, block=16)
    assert [table(s) for s in range(8)] == [0.1] * 5 + [0.01] * 3
    assert not table.vectorized
    assert isinstance(calls[0], np.ndarray)  # the one vectorized try
    assert calls[1:] == list(range(8))  # then exactly the steps asked, as ints
    assert rates(two_phases, np.arange(4, 7)).tolist() == [0.1, 0.01, 0.01]


def test_table_refuses_a_string_and_writes_a_rate_below_float32s_smallest_as_keras_does() -> None:
    """A schedule returning the string "0.1" was taken as 0.1. A rate a float32 rounds to 0 (the
    long tail of an exponential decay) is written as 0, as Keras writes it: not a fit stopped."""
    from lrwidgets.schedules.table import ScheduleTable, ScheduleValueError

    for bad in (lambda step: "0.1", lambda step: b"0.1", lambda step: np.full(np.shape(step), "0.1")):
        with pytest.raises(ScheduleValueError, match=r"gave the learning rate .*0.1'.* for step 0; a rate must be"):
            ScheduleTable(bad)(0)
    assert ScheduleTable(lambda step: 1e-50)(0) == 1e-50  # a float32 holds it as 0: Keras's value
    keras_like = ExponentialDecay(0.1, 10, 0.5)
    assert ScheduleTable(keras_like)(2000) == pytest.approx(0.1 * 0.5**200)


def test_from_config_round_trips_a_subclass_that_adds_an_argument() -> None:
    """A subclass with a constructor argument of its own, in its own get_config: its parent's keys
    refused it (`from_config` checks unknown keys against a class's own `config_keys` only)."""

    class Floored(ExponentialDecay):
        def __init__(self, *args: Any, floor: float = 0.0, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.floor = floor

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "floor": self.floor}

    rebuilt = Floored.from_config(Floored(0.1, 10, 0.5, floor=1e-3).get_config())
    assert rebuilt.floor == 1e-3 and rebuilt.decay_rate == 0.5


def test_table_rejects_bad_arguments() -> None:
    from lrwidgets.schedules.table import ScheduleTable

    with pytest.raises(TypeError, match="Argument `schedule` must be callable"):
        ScheduleTable(0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape("Argument `block` must be >= 1. Received: block=0")):
        ScheduleTable(Constant(0.1), block=0)
    with pytest.raises(TypeError, match=re.escape("Argument `block` must be an integer. Received: block='64'")):
        ScheduleTable(Constant(0.1), block="64")
    with pytest.raises(ValueError, match=re.escape("Argument `block` must be an integer. Received: block=2.5")):
        ScheduleTable(Constant(0.1), block=2.5)
    assert ScheduleTable(Constant(0.1), block=2.0).block == 2


def _with(value: object, replaced: object) -> object:
    return [replaced, *value[1:]] if isinstance(value, list) else replaced


@pytest.mark.parametrize("schedule", EXAMPLES, ids=repr)
@pytest.mark.parametrize("huge", [10**400, -(10**400)])
def test_numbers_too_large_for_a_float_get_an_error_naming_the_argument(schedule: Schedule, huge: int) -> None:
    config = schedule.get_config()
    numeric = [
        k
        for k, v in config.items()
        if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) or isinstance(v, list)
    ]
    assert numeric
    for name in numeric:
        with pytest.raises((TypeError, ValueError), match=f"`{name}`"):
            type(schedule)(**{**config, name: _with(config[name], huge)})


def test_deeply_nested_warmup_json_gets_a_named_error() -> None:
    config: dict = serialize(Constant(0.1))
    for _ in range(5000):  # a page or a file can send this; it used to raise RecursionError
        config = {"class_name": "Warmup", "config": {"schedule": config, "warmup_steps": 1}}
    with pytest.raises(ValueError, match=r"Argument `config` nests serialized schedules .* more than 32 deep"):
        deserialize(config)
    with pytest.raises(ValueError, match="Argument `config` nests"):
        Warmup(config["config"]["schedule"], 1)
    nested: Schedule = Constant(0.1)
    for _ in range(31):
        nested = Warmup(nested, 1)
    assert deserialize(serialize(nested)) == nested  # 32 deep: fine
    with pytest.raises(ValueError, match="Argument `schedule` nests warm-ups more than 32 deep"):
        Warmup(nested, 1)


@pytest.mark.parametrize(
    "schedule",
    [
        *EXAMPLES,
        CosineDecayRestarts(0.1, first_decay_steps=1, t_mul=1.0, m_mul=0.9),
        CosineDecayRestarts(0.1, first_decay_steps=1, t_mul=1.0 + 1e-9),
    ],
    ids=repr,
)
def test_every_schedule_is_o1_a_step(schedule: Schedule) -> None:
    """Memory (and work) per step do not grow with the step: CosineDecayRestarts(t_mul=1) tabulated every period."""
    import tracemalloc

    steps = np.array([0, 10**9, 10**12, 10**15], dtype=np.float64)
    tracemalloc.start()
    try:
        values = schedule(steps)
        scalar = schedule(10**12)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000
    assert values.shape == (4,) and isinstance(scalar, float)
    assert np.all(values >= 0)
