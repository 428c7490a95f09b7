"""Oracle tests: lrwidgets schedules agree with Keras' own at every step, for random valid arguments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import lrwidgets  # noqa: F401  (installs Schedule.to_keras)
from lrwidgets.schedules import (
    Constant,
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    NoKerasEquivalentError,
    OneCycle,
    PiecewiseConstantDecay,
    PolynomialDecay,
    ReduceOnPlateau,
    Schedule,
    StepDecay,
    Warmup,
)

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.keras

lrs = st.floats(1e-5, 1.0)
steps = st.integers(1, 200)
fractions = st.floats(0.0, 1.0)
EXAMPLES = settings(max_examples=20, deadline=None)


def keras_values(keras_schedule, n: int) -> np.ndarray:
    """Keras' schedule at steps 0..n-1: compiled, called on one scalar step at a time (mapped), as fit calls it."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        fn = jax.jit(lambda steps: jax.lax.map(keras_schedule, steps))
        return np.asarray(fn(np.arange(n, dtype=np.int32)), dtype=np.float64)
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda steps: tf.map_fn(keras_schedule, steps, fn_output_signature=tf.float32))
        return np.asarray(fn(tf.range(n, dtype=tf.int32)), dtype=np.float64)
    return np.array([float(keras.ops.convert_to_numpy(keras_schedule(i))) for i in range(n)])


def assert_matches_keras(
    ours: Schedule, n: int, *, theirs: np.ndarray | None = None, period: float | None = None
) -> None:
    """Agreement at every step to float32 precision, in the value and in the step.

    Keras computes in float32 and its backend may round ``step / decay_steps`` a hair off (XLA
    turns division by a constant into a multiplication by its reciprocal), which moves a
    staircase drop or a restart one step. So: at every step Keras must equal our value to a few
    float32 ulps; only where our schedule jumps at that very step may Keras instead equal our
    value a float32 ulp of the step before or after it.
    """
    if theirs is None:
        theirs = keras_values(ours.to_keras(), n)
    steps = np.arange(n, dtype=np.float64)
    mine = ours(steps)
    scale = max(float(np.max(np.abs(mine))), 1e-30)

    # A periodic schedule (restarts) takes the fraction of its period in float32 in Keras: its
    # error grows with step / period (~(step / period) * 2**-24), and a cosine turns it into up to
    # pi/2 times as much in the value.
    drift = 0.0 if period is None else (steps / period + 1.0) * 2.0**-24 * np.pi * scale

    def close(values: np.ndarray) -> np.ndarray:
        return np.abs(values - theirs) <= 1e-6 * scale + 1e-5 * np.abs(theirs) + drift

    eps = steps * 2.0**-21 + 1e-9
    before, after = ours(np.maximum(steps - eps, 0.0)), ours(steps + eps)
    # A jump is any change within eps larger than the value tolerance (small restarts included:
    # CosineDecayRestarts with alpha near 1 jumps by ~5e-5 relative).
    jumps = np.abs(before - after) > 1e-5 * np.maximum(np.abs(before), np.abs(after))
    ok = close(mine) | (jumps & (close(before) | close(after)))
    bad = np.flatnonzero(~ok)
    assert bad.size == 0, (
        f"{ours!r} differs from Keras at steps {bad[:10].tolist()}: ours {mine[bad[:10]]}, keras {theirs[bad[:10]]}"
    )
    # The same values one step at a time, as a training callback asks for them.
    some = list(range(0, n, max(1, n // 7)))
    np.testing.assert_allclose([ours(i) for i in some], mine[some], rtol=1e-14, atol=0)


@EXAMPLES
@given(lr=lrs, decay_steps=steps, decay_rate=st.floats(0.05, 1.0), staircase=st.booleans())
def test_exponential_decay(lr: float, decay_steps: int, decay_rate: float, staircase: bool) -> None:
    assert_matches_keras(ExponentialDecay(lr, decay_steps, decay_rate, staircase), 4 * decay_steps)


@EXAMPLES
@given(lr=lrs, drop_every=steps, factor=st.floats(0.01, 1.0))
def test_step_decay_is_keras_staircase_exponential(lr: float, drop_every: int, factor: float) -> None:
    s = StepDecay(lr, drop_every, factor)
    assert type(s.to_keras()).__name__ == "ExponentialDecay"
    assert_matches_keras(s, 5 * drop_every)


@EXAMPLES
@given(lr=lrs, decay_steps=steps, decay_rate=st.floats(0.0, 5.0), staircase=st.booleans())
def test_inverse_time_decay(lr: float, decay_steps: int, decay_rate: float, staircase: bool) -> None:
    assert_matches_keras(InverseTimeDecay(lr, decay_steps, decay_rate, staircase), 4 * decay_steps)


@EXAMPLES
@given(
    lr=lrs,
    decay_steps=steps,
    end_fraction=fractions,
    power=st.floats(0.1, 4.0),
    cycle=st.booleans(),
)
def test_polynomial_decay(lr: float, decay_steps: int, end_fraction: float, power: float, cycle: bool) -> None:
    s = PolynomialDecay(lr, decay_steps, lr * end_fraction, power, cycle)
    n = 3 * decay_steps + 1
    theirs = keras_values(s.to_keras(), n)
    # Where p = step / decay_steps is exactly 1, Keras' float32 p can land an ulp off 1 (XLA divides
    # by multiplying with the reciprocal): (1 - p) ** power is then NaN (p > 1, jax) or
    # (initial - end) * (ulp) ** power (p < 1), which a fractional power magnifies (an ulp of 6e-8
    # becomes 2.4e-4 under a square root). lrwidgets returns end_learning_rate there; Keras is
    # allowed exactly that much slack at exactly those steps.
    steps = np.arange(n)
    at_end = steps >= decay_steps if not cycle else (steps % decay_steps == 0) & (steps > 0)
    slack = (s.initial_learning_rate - s.end_learning_rate) * (4 * 2.0**-24) ** power
    off = np.abs(theirs - s.end_learning_rate)
    excused = at_end & (np.isnan(theirs) | (off <= slack + 1e-6 * lr))
    assert not np.isnan(theirs[~excused]).any()
    # Everything else, the cycle's restarts included, must pass the general comparison.
    assert_matches_keras(s, n, theirs=np.where(excused, s(steps), theirs))


@EXAMPLES
@given(
    data=st.data(),
    n=st.integers(1, 5),
)
def test_piecewise_constant_decay(data: st.DataObject, n: int) -> None:
    boundaries = sorted(data.draw(st.sets(st.integers(0, 300), min_size=n, max_size=n)))
    values = data.draw(st.lists(lrs, min_size=n + 1, max_size=n + 1))
    assert_matches_keras(PiecewiseConstantDecay(boundaries, values), 320)


def test_piecewise_constant_decay_without_boundaries_is_its_float_in_keras() -> None:
    """Keras's PiecewiseConstantDecay([], [0.1]) raises IndexError when called: the constant's
    Keras form is its float, as `Constant(0.1).to_keras()` is."""
    s = PiecewiseConstantDecay([], [0.1])
    assert s.to_keras() == 0.1
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(s.to_keras()), loss="mse")
    model.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1)


@EXAMPLES
@given(lr=lrs, decay_steps=steps, alpha=fractions)
def test_cosine_decay(lr: float, decay_steps: int, alpha: float) -> None:
    assert_matches_keras(CosineDecay(lr, decay_steps, alpha), 2 * decay_steps)


@settings(max_examples=10, deadline=None)
@given(
    lr=st.floats(0.0, 1e-2),
    target=lrs,
    decay_steps=st.integers(1, 40),
    warmup_steps=st.integers(0, 40),
    alpha=fractions,
)
def test_cosine_decay_with_warmup(lr: float, target: float, decay_steps: int, warmup_steps: int, alpha: float) -> None:
    s = CosineDecay(lr, decay_steps, alpha, warmup_target=target, warmup_steps=warmup_steps)
    assert_matches_keras(s, decay_steps + warmup_steps + 5)
    # Warmup in front of a plain CosineDecay is the same schedule, and converts to it.
    w = Warmup(CosineDecay(target, decay_steps, alpha), warmup_steps, initial_learning_rate=lr)
    np.testing.assert_allclose(w(np.arange(100)), s(np.arange(100)), rtol=1e-12, atol=1e-15)
    assert w.to_keras().get_config() | {"name": "CosineDecay"} == s.to_keras().get_config() | {"name": "CosineDecay"}


@EXAMPLES
@given(
    lr=lrs,
    first_decay_steps=st.integers(1, 60),
    t_mul=st.one_of(st.just(1.0), st.just(2.0), st.floats(1.0, 3.0)),
    m_mul=st.floats(0.1, 1.0),
    alpha=fractions,
)
@example(lr=0.1, first_decay_steps=47, t_mul=1.0, m_mul=0.375, alpha=0.875)  # a restart jump of 5e-5 relative
@example(lr=1.0, first_decay_steps=3, t_mul=1.0, m_mul=1.0, alpha=0.0)  # Keras's float32 drift at step / period ~ 130
def test_cosine_decay_restarts(lr: float, first_decay_steps: int, t_mul: float, m_mul: float, alpha: float) -> None:
    schedule = CosineDecayRestarts(lr, first_decay_steps, t_mul, m_mul, alpha)
    assert_matches_keras(schedule, 400, period=first_decay_steps)


def test_constant_is_a_float_in_keras() -> None:
    assert Constant(3e-4).to_keras() == 3e-4
    opt = keras.optimizers.SGD(learning_rate=Constant(3e-4).to_keras())
    assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(3e-4)


@pytest.mark.parametrize(
    "schedule",
    [
        OneCycle(0.1, 100),
        ReduceOnPlateau(0.1),
        Warmup(ExponentialDecay(0.1, 10, 0.5), 5),
        Warmup(CosineDecay(0.0, 10, warmup_target=0.1, warmup_steps=3), 5),
    ],
    ids=repr,
)
def test_no_keras_equivalent_is_a_clear_error(schedule: Schedule) -> None:
    with pytest.raises(NoKerasEquivalentError, match="equivalent"):
        schedule.to_keras()


def test_converted_schedule_trains() -> None:
    """The converted object is a working optimizer schedule: Keras' optimizer follows it step by step."""
    s = ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=s.to_keras()), loss="mse")
    model.fit(np.zeros((8, 1)), np.zeros((8, 1)), batch_size=2, epochs=1, verbose=0)
    iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    lr_now = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    assert iterations == 4
    assert lr_now == pytest.approx(s(iterations), rel=1e-6)


def test_from_config_takes_the_keras_schedules_own_config_and_names_an_unknown_key() -> None:
    """The module promises Keras's argument names: a Keras schedule's `get_config()` (with its `name`)
    raised `TypeError: _TimeDecay.__init__() got an unexpected keyword argument 'name'`."""
    K = keras.optimizers.schedules
    pairs = [
        (K.ExponentialDecay(0.1, 10, 0.5, staircase=True), ExponentialDecay),
        (K.InverseTimeDecay(0.1, 10, 0.5), InverseTimeDecay),
        (K.PolynomialDecay(0.1, 100, 1e-3, power=2.0), PolynomialDecay),
        (K.CosineDecay(0.1, 100, alpha=0.1, warmup_target=0.2, warmup_steps=5), CosineDecay),
        (K.CosineDecayRestarts(0.1, 100), CosineDecayRestarts),
        (K.PiecewiseConstantDecay([10, 20], [0.1, 0.01, 1e-3]), PiecewiseConstantDecay),
    ]
    for theirs, cls in pairs:
        ours = cls.from_config(theirs.get_config())
        steps = np.arange(0, 120, 7)
        assert np.allclose([ours(int(s)) for s in steps], [float(theirs(int(s))) for s in steps], rtol=1e-5)
    with pytest.raises(
        ValueError, match=r"Argument `config` of InverseTimeDecay.from_config has unknown keys \['bogus'\]"
    ):
        InverseTimeDecay.from_config({"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5, "bogus": 1})
    with pytest.raises(TypeError, match=r"Argument `config` must be a dict"):
        ExponentialDecay.from_config([("initial_learning_rate", 0.1)])  # type: ignore[arg-type]
