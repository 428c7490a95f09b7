"""Each part of the training layer on its own: rate driver, NaN guard, progress, warnings, fit arguments."""

from __future__ import annotations

import math
import threading
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrwidgets import schedules as S
from lrwidgets.core.rate_driver import PlateauStep, RateDriver
from lrwidgets.schedules.table import ScheduleTable, ScheduleValueError
from tests.helpers import linear_model, regression_data, wait_for

# ---- RateDriver: pure, against the schedules' own values ----------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    rate=st.floats(1e-6, 1.0),
    decay=st.floats(0.1, 0.99),
    change_at=st.integers(0, 3000),
    new=st.floats(1e-6, 1.0),
)
def test_driver_follows_the_schedule_and_a_live_change_scales_the_rest(
    rate: float, decay: float, change_at: int, new: float
) -> None:
    schedule = S.ExponentialDecay(rate, decay_steps=100, decay_rate=decay)
    d = RateDriver(schedule)
    steps = np.arange(0, 4000, 37)
    before = [d.rate(int(s)) for s in steps if s < change_at]
    np.testing.assert_allclose(before, schedule(steps[steps < change_at]), rtol=1e-12)
    d.set_rate(change_at, new)
    assert d.rate(change_at) == pytest.approx(new, rel=1e-12)
    later = steps[steps >= change_at]
    expected = schedule(later) * new / schedule(change_at)
    np.testing.assert_allclose([d.rate(int(s)) for s in later], expected, rtol=1e-9)


def test_driver_plateau_and_other_callbacks_multiply_the_factor() -> None:
    plateau = S.ReduceOnPlateau(1.0, factor=0.5, patience=0, min_delta=1e9)  # reduces after the first epoch
    d = RateDriver(S.Constant(0.1), plateau)
    step = d.end_epoch({"loss": 1.0}, learning_rate=0.1)
    assert step.factor == 1.0 and step.monitor == "loss" and "no validation data" in (step.warning or "")
    step = d.end_epoch({"loss": 1.0}, learning_rate=0.1)
    assert step.factor == 0.5 and step.warning is None  # warned once
    assert d.rate(5) == pytest.approx(0.05)
    d.scale(0.1)  # another callback cut the rate tenfold
    assert d.rate(6) == pytest.approx(0.005)
    assert RateDriver().rate(3) is None and not RateDriver().active


def test_a_replaced_schedule_is_followed_as_designed_and_later_reductions_act_on_it() -> None:
    """What the README says of a designer edit during a fit: the live changes and plateau reductions
    made before it are not carried over; a reduction after it scales the new design."""
    plateau = S.ReduceOnPlateau(1.0, factor=0.5, patience=0, min_delta=1e9)  # reduces at each epoch end
    d = RateDriver(S.Constant(0.1), plateau)
    d.end_epoch({"loss": 1.0}, learning_rate=0.1)
    assert d.end_epoch({"loss": 1.0}, learning_rate=0.1).factor == 0.5
    d.set_rate(10, 0.01)  # a live change: a fifth of the reduced rate
    assert d.rate(11) == pytest.approx(0.01)
    second = S.ExponentialDecay(0.2, decay_steps=10, decay_rate=0.5)
    assert d.replace(20, second) == pytest.approx(second(20))
    assert [d.rate(s) for s in (20, 30)] == pytest.approx([second(20), second(30)])  # as designed
    assert d.end_epoch({"loss": 1.0}, learning_rate=second(30)).factor == 0.5  # the plateau goes on watching
    assert d.rate(40) == pytest.approx(second(40) * 0.5)


def test_driver_skips_only_the_epochs_that_do_not_validate() -> None:
    plateau = S.ReduceOnPlateau(1.0, factor=0.5, patience=0, min_delta=1e9)
    d = RateDriver(S.Constant(0.1), plateau)
    d.validation_freq = 2  # the session's fit validates every other epoch
    assert d.end_epoch({"loss": 1.0}, 0.1, epoch=0) == PlateauStep(monitor="val_loss")  # skipped, silently
    step = d.end_epoch({"loss": 1.0, "val_loss": 1.0}, 0.1, epoch=1)
    assert step.factor == 1.0 and step.warning is None  # the first value watched: the best so far
    # An epoch that validates but logs no `val_loss` (a train step of its own) is said, not skipped.
    step = d.end_epoch({"total_loss": 1.0, "val_total_loss": 1.0}, 0.1, epoch=3)
    assert "cannot watch `val_loss`" in (step.warning or "")
    listed = RateDriver(S.Constant(0.1), S.ReduceOnPlateau(1.0))
    listed.validation_freq = [2, 4]  # Keras's other form: the (1-based) epochs that validate
    assert listed.end_epoch({"total_loss": 0.5}, 0.1, epoch=0) == PlateauStep(monitor="val_loss")
    assert listed.end_epoch({"total_loss": 0.5}, 0.1, epoch=1).warning  # it validates: said


def test_driver_plan_is_bounded_and_follows_a_replaced_schedule() -> None:
    first, second = S.Constant(0.1), S.CosineDecay(0.01, decay_steps=10**12)
    d = RateDriver(first)
    assert d.replace(500, second) == pytest.approx(second(500))
    steps, rates = d.plan(10**12, 600)
    assert len(steps) <= 602 and steps[0] == 0 and steps[-1] == 10**12 - 1 and 500 in steps
    np.testing.assert_allclose(rates[steps < 500], 0.1, rtol=1e-6)
    np.testing.assert_allclose(rates[steps >= 500], second(steps[steps >= 500]).astype(np.float32), rtol=1e-6)
    short_steps, _ = d.plan(50, 600)
    assert short_steps.tolist() == list(range(50))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1e-3, 1e39])
def test_a_bad_scheduled_rate_is_refused_at_its_step_only(bad: float) -> None:
    table = ScheduleTable(lambda s: np.where(np.asarray(s) < 700, 1e-3, bad))
    assert table(0) == 1e-3 and table(699) == 1e-3
    with pytest.raises(ScheduleValueError, match="step 700"):
        table(700)
    scalar = ScheduleTable(lambda s: 1e-3 if s < 3 else bad)  # called one step at a time
    assert scalar(2) == 1e-3
    with pytest.raises(ScheduleValueError, match="step 3"):
        scalar(3)
    assert ScheduleTable(lambda s: 0.0)(5) == 0.0  # zero is a legal rate (a frozen phase)


# ---- fit arguments and batch sizes ---------------------------------------------------------------


def test_batch_sizes_of_every_form_where_they_can_be_known() -> None:
    from lrwidgets.training.fit_args import _batches

    x = np.zeros((100, 3))
    assert _batches({"x": x, "batch_size": 32}) == (32, 100, 4, "")
    assert _batches({"x": {"a": x, "b": x[:, :1]}}) == (32, 100, 4, "")
    assert _batches({"x": [x, x], "validation_split": 0.25}) == (32, 75, 3, "")  # Keras floors the split
    assert _batches({"x": (i for i in range(3)), "steps_per_epoch": 7}) == (None, None, 7, "")
    # A steps_per_epoch that cuts the passes: the short batch comes where a pass ends, mid-epoch.
    assert _batches({"x": x, "batch_size": 32, "steps_per_epoch": 3}) == (32, None, 3, "carried")
    assert _batches({"x": x, "batch_size": 32, "steps_per_epoch": 4}) == (32, 100, 4, "")
    assert _batches({"x": x[:96], "batch_size": 32, "steps_per_epoch": 2}) == (32, 96, 2, "")  # no short batch


@pytest.mark.keras
def test_a_fit_that_passes_its_arguments_on_is_bound_by_keras_names() -> None:
    """A model subclass's ``fit``: its ``**kwargs`` are read and set by name; what its ``*args`` take
    is named as Keras's ``fit`` names those positions, and passed by position again."""
    from lrwidgets.training.fit_args import bind_fit

    x, y, cb, cb2 = np.zeros((100, 3)), np.zeros(100), object(), object()

    def forwarding(*args: object, **kwargs: object) -> None: ...

    fit = bind_fit(forwarding, (x, y, 16), {"epochs": 2, "callbacks": [cb]}, "fit")
    assert fit.forwarded == ("x", "y", "batch_size") and (fit.batch_size, fit.samples, fit.total_steps) == (16, 100, 14)
    assert fit.accepts("callbacks") and fit.accepts("verbose")
    fit.bound.arguments["callbacks"] = [cb, cb2]
    args, kwargs = fit.call_args()
    assert args[2] == 16 and args[0] is x and args[1] is y and kwargs == {"epochs": 2, "callbacks": [cb, cb2]}
    with pytest.raises(TypeError, match="fit\\(\\): got multiple values for argument 'batch_size'"):
        bind_fit(forwarding, (x, y, 16), {"batch_size": 8}, "fit")

    def own(x: object, y: object = None, note: str = "", **kwargs: object) -> None: ...

    fit = bind_fit(own, (x, y), {"note": "a", "batch_size": 20, "callbacks": [cb]}, "fit")
    assert fit.forwarded == () and fit.batch_size == 20 and fit.bound.arguments["callbacks"] == [cb]
    args, kwargs = fit.call_args()
    assert args[2] == "a" and kwargs == {"batch_size": 20, "callbacks": [cb]}

    def epochs_third(x: object, y: object = None, epochs: int = 1, **kwargs: object) -> None: ...

    fit = bind_fit(epochs_third, (x, y, 3), {}, "fit")  # its third position is its own: epochs
    assert fit.forwarded == () and fit.bound.arguments["epochs"] == 3 and fit.total_steps == 12

    def keyword_after(*args: object, augment: bool = False, **kwargs: object) -> None: ...

    fit = bind_fit(keyword_after, (x, y), {"augment": True, "verbose": 1}, "fit")
    assert fit.forwarded == ("x", "y") and fit.batch_size == 32 and fit.bound.arguments["verbose"] == 1
    args, kwargs = fit.call_args()
    assert len(args) == 2 and kwargs == {"augment": True, "verbose": 1}

    def data_first(data: object, **kwargs: object) -> None: ...

    fit = bind_fit(data_first, (x,), {"batch_size": 10}, "fit")  # not Keras's names: nothing renamed
    assert fit.bound.arguments["data"] is x and fit.batch_size is None

    def own_defaults(x: object, y: object = None, batch_size: int = 64, epochs: int = 1, **kwargs: object) -> None: ...

    fit = bind_fit(own_defaults, (x, y), {"epochs": 2}, "fit")  # its defaults are read, not passed on
    assert (fit.batch_size, fit.samples, fit.total_steps) == (64, 100, 4) and "batch_size" not in fit.bound.arguments

    def validating(*args: object, validation_split: float = 0.2, **kwargs: object) -> None: ...

    fit = bind_fit(validating, (x, y), {}, "fit")
    assert fit.samples == 80 and fit.value("validation_split") == 0.2

    def own_callbacks(*args: object, callbacks: object = None, **kwargs: object) -> None: ...

    fit = bind_fit(own_callbacks, (x, y, 16, 2, 1, [cb]), {}, "fit")  # it names `callbacks`: *args not named
    assert fit.forwarded == () and fit.batch_size is None

    def positional_only(x: object, /, **kwargs: object) -> None: ...

    fit = bind_fit(positional_only, (x,), {"x": 5, "epochs": 2}, "fit")
    assert fit.bound.arguments["x"] is x and fit.value("epochs") == 2
    args, kwargs = fit.call_args()
    assert len(args) == 1 and args[0] is x and kwargs == {"x": 5, "epochs": 2}

    def only_args(*args: object) -> None: ...

    assert bind_fit(only_args, (x, y, 16, 2, 0, [cb]), {}, "fit").accepts("callbacks")  # given by position

    def named_only(x: object, y: object = None, epochs: int = 1, callbacks: object = None) -> None: ...

    fit = bind_fit(named_only, (x, y), {}, "fit")
    assert fit.accepts("callbacks") and not fit.accepts("verbose")
    assert not bind_fit(lambda *args: None, (x, y), {}, "fit").accepts("callbacks")


# ---- warnings, routed per training thread --------------------------------------------------------


def test_warnings_are_routed_to_the_thread_that_raised_them() -> None:
    from lrwidgets.training import warnings_hook

    got: dict[str, list[str]] = {"a": [], "b": []}
    original = warnings.showwarning
    barrier = threading.Barrier(2)

    def work(name: str) -> None:
        close = warnings_hook.open_route(got[name].append)
        barrier.wait()
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = warnings.showwarning  # keep the routed hook inside catch_warnings
            warnings.warn(f"from {name}", UserWarning, stacklevel=1)
        barrier.wait()
        close()

    threads = [threading.Thread(target=work, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(v) == 1 and f"from {k}" in v[0] for k, v in got.items()), got
    assert warnings.showwarning is original  # the last route to close removed the hook


# ---- progress ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "batches",
    [list(range(10)), [1, 3, 5, 7, 9], [0, 0, 0, 1, 5], [4, 2, 3, 3, 9]],
    ids=["one-by-one", "steps_per_execution=2", "stuck", "backwards"],
)
def test_the_step_before_each_batch_counts_buffered_rows_as_writing_them_would(batches: list[int]) -> None:
    """A schedule reads the fit's step before each batch without writing the buffered rows:
    the count is the one the written rows give, whatever the batch numbers passed."""
    from lrwidgets.core import TrainingHistory
    from lrwidgets.training.recorder import Recorder

    def recorder() -> Recorder:
        rec = Recorder(TrainingHistory(), "restore", 4.0)
        rec.begin_fit({"epochs": 2, "steps": 10})
        rec.begin_epoch(0)
        rec.rows.extend((b, 1.0, 1e-3, 0.0) for b in range(10))
        rec.begin_epoch(1)  # the first epoch's rows are written
        return rec

    read, written = recorder(), recorder()
    for i, batch in enumerate(batches):
        for rec in (read, written):
            rec.rows.append((batch, 1.0, 1e-3, float(i)))
        written.flush()
        assert read.step_before_batch() == written.fit_step() == written.meter.fit_step
    read.flush()
    assert read.history.num_steps == written.history.num_steps == 10 + len(batches)
    for rec in (read, written):
        rec.end_fit(None, stopped=False)  # closes the warnings route begin_fit opened


@pytest.mark.parametrize("gap", [None, 3], ids=["every value", "a step with no value"])
def test_rows_written_in_bulk_are_the_steps_written_one_by_one(gap: int | None) -> None:
    """The raw rows become the same history steps (losses, rates, times; a step with no value is a
    NaN gap) whether they are written in one flush or one by one."""
    import numpy as np

    from lrwidgets.core import TrainingHistory
    from lrwidgets.training.recorder import Recorder

    means = [2.0, 1.5, 1.4, 1.2, 1.25, 1.1, 1.0]  # Keras's running mean of the epoch's losses

    def written(chunks: int) -> np.ndarray:
        rec = Recorder(TrainingHistory(), "restore", 4.0)
        rec.begin_fit({"epochs": 1, "steps": len(means)})
        rec.begin_epoch(0)
        start = rec.clock()  # near the recorder's own start: float32 keeps the 0.5 s steps to 1e-5
        rows = [(b, None if b == gap else m, 1e-3 * (b + 1), start + 0.5 * b) for b, m in enumerate(means)]
        for part in np.array_split(np.arange(len(rows)), chunks):
            rec.rows.extend(rows[i] for i in part)
            rec.flush()
        rec.end_fit(None, stopped=False)
        n = rec.history.num_steps
        return np.column_stack([rec.history.column(c, n) for c in ("loss", "learning_rate", "time")])

    bulk, single = written(1), written(len(means))  # times are from each recorder's own start
    np.testing.assert_array_equal(bulk[:, :2], single[:, :2])
    gaps = 0 if gap is None else 1
    assert (np.isnan(bulk[:, 0]).sum(), np.isfinite(bulk[:, 0]).sum()) == (gaps, len(means) - gaps)
    np.testing.assert_array_equal(bulk[:, 1], np.float32([1e-3 * (b + 1) for b in range(len(means))]))
    np.testing.assert_allclose(np.diff(bulk[:, 2]), 0.5, rtol=1e-5)


def test_progress_speed_is_measured_from_the_recorded_times_of_this_fit() -> None:
    from lrwidgets.training.progress import ProgressMeter

    meter = ProgressMeter()
    meter.begin_fit(epochs=2, steps=10, first_record=5)
    times = np.concatenate([np.full(5, -100.0), np.arange(10) * 0.5])  # an earlier fit, then 2 steps/s
    for b in range(10):
        meter.end_batches(np.array([b]))
    p = meter.snapshot("running", times, 1e-3)
    assert p.steps_per_second == pytest.approx(2.0)
    assert p.eta == pytest.approx(10 / 2.0)  # one more epoch of 10 steps
    assert p.global_step == 15 and p.step_in_epoch == 10


# ---- NaN guard and the controller's requests (Keras) ---------------------------------------------


def guarded_model() -> tuple[Any, Any, Any, Any, np.ndarray]:
    """A linear model, an empty history and a NaN guard begun on a fit: (model, history, guard,
    its kernel variable, the kernel's values)."""
    import keras

    from lrwidgets.core import TrainingHistory
    from lrwidgets.training.nan_guard import NanGuard

    model = linear_model()
    history = TrainingHistory()
    guard = NanGuard(history, factor=4.0)
    guard.begin_fit()
    kernel = model.layers[0].kernel
    return model, history, guard, kernel, keras.ops.convert_to_numpy(kernel).copy()


@pytest.mark.keras
def test_nan_guard_confirms_a_copy_only_with_a_healthy_next_loss() -> None:
    import keras

    from lrwidgets.core import TrainingHistory
    from lrwidgets.training.nan_guard import NanGuard

    model = linear_model()
    history = TrainingHistory()
    history.record_step(0.5, 1e-3, 0.0)  # an earlier fit's step: not this fit's best
    guard = NanGuard(history, factor=4.0)
    guard.begin_fit()
    kernel = model.layers[0].kernel
    original = keras.ops.convert_to_numpy(kernel).copy()
    guard.take(model, step=1)
    assert guard.restorable_step is None  # its batch has not run yet
    history.record_step(1.0, 1e-3, 0.1)  # healthy: confirmed
    kernel.assign(original + 1.0)
    guard.take(model, step=2)
    history.record_step(3.9, 1e-3, 0.2)  # within 4 x best (1.0): confirmed
    kernel.assign(original + 2.0)
    guard.take(model, step=3)
    history.record_step(100.0, 1e-3, 0.3)  # 100 > 4 x best (1.0): not confirmed
    kernel.assign(original + 3.0)
    guard.take(model, step=4)
    history.record_step(float("nan"), 1e-3, 0.4)  # not finite: not confirmed
    kernel.assign(original + 4.0)
    assert guard.restore(model, keep=[]) == 2
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(kernel), original + 1.0)


@pytest.mark.keras
def test_nan_guard_confirms_copies_late_in_a_fit_whose_single_batches_spread_far() -> None:
    """Late in a fit single batch losses spread far more than 4x (lowest ~5e-4, median 0.026): a
    copy judged by one batch against the lowest one was almost never confirmed, and a NaN put back
    the fit's first weights (an untrained model) instead of the latest copy."""
    import keras

    model, history, guard, kernel, original = guarded_model()
    rng = np.random.default_rng(0)
    losses = 0.026 * np.exp(rng.normal(0.0, 1.2, size=4000))  # median 0.026, lowest ~1e-3 .. 5e-4
    for step, loss in enumerate(losses):
        if step % 500 == 0:
            kernel.assign(original + step)
            guard.take(model, step=step)
        history.record_step(float(loss), 1e-3, step * 0.01)
    assert losses.min() * 4 < np.median(losses) and (losses > 4 * losses.min()).mean() > 0.9
    history.record_step(float("nan"), 1e-3, 40.0)
    assert guard.restore(model, keep=[]) == 3500
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(kernel), original + 3500)


@pytest.mark.keras
def test_nan_guard_judges_a_fast_fall_then_blow_up_against_the_fits_lowest_loss() -> None:
    """One step an epoch (a copy before each): the loss falls 10 -> 0.0155 in 30 steps, then triples
    each step to 1e17. Judged against the median of all losses so far (the fit's first steps, no
    block of 64 yet), the copy at 1.25 (80x the best) was confirmed and put back."""
    import keras

    model, history, guard, kernel, original = guarded_model()
    losses = [10 * 0.8**k for k in range(30)]
    while losses[-1] < 20:
        losses.append(3 * losses[-1])
    losses += [1e17, float("nan")]
    for step, loss in enumerate(losses):
        kernel.assign(original + step)
        guard.take(model, step=step)
        history.record_step(float(loss), 1e-3, step * 0.1)
    restored = guard.restore(model, keep=[])
    assert restored is not None and losses[restored] <= 4 * min(losses[:-2]), (restored, losses[restored])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(kernel), original + restored)


@pytest.mark.keras
def test_nan_guard_takes_no_copy_of_a_collapse_for_healthy() -> None:
    """A digits model blown up back to chance (2.5) sits within 4x its best (0.70): copies of it were
    confirmed and pushed the last one from before the blow-up out (a rewind went to the fit's start)."""
    model, history, guard, kernel, original = guarded_model()
    guard.keeps_more = True
    levels = [2.3] * 16 + list(np.linspace(2.3, 0.7, 150)) + [0.7] * 34 + [2.5] * 100  # blown up at 200
    for step, loss in enumerate(levels):
        if step % 57 == 0:
            kernel.assign(original + step)
            guard.take(model, step=step)
        history.record_step(float(loss), 1e-3, 0.01 * step)
    assert guard.healthy_before(200).step == 171 and guard.restorable_step == 171


@pytest.mark.keras
def test_nan_guard_checks_bfloat16_weights_too() -> None:
    """A model under the "bfloat16" dtype policy keeps its weights in bfloat16, a dtype numpy does
    not count as inexact: the finiteness check skipped them, and a copy holding NaN weights under a
    finite loss was kept as healthy."""
    import keras

    from lrwidgets.core import TrainingHistory
    from lrwidgets.training.nan_guard import NanGuard

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, dtype="bfloat16")])
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    kernel = model.layers[0].kernel
    assert kernel.dtype == "bfloat16"
    guard = NanGuard(TrainingHistory(), factor=4.0)
    guard.begin_fit()
    assert guard.take(model, step=0)
    kernel.assign(keras.ops.full(kernel.shape, float("nan"), dtype="bfloat16"))
    assert not guard.take(model, step=1) and guard.broken == 1


@pytest.mark.keras
@pytest.mark.parametrize("share", [0.0, math.inf], ids=["copies costly", "copies cheap"])
def test_epochs_of_a_few_steps_get_a_copy_every_32_steps_when_copies_would_cost_more_than_2_percent(
    monkeypatch: pytest.MonkeyPatch, share: float
) -> None:
    """A copy at every epoch's start took ~13% of a fit of 6-step epochs: an epoch's start fewer than
    32 steps after the last copy is skipped when the copies' time is over ``COPY_SHARE`` of the time
    since it. Set here to 0 (any copy costs too much: the rule by steps alone) and inf (every start)."""
    import lrwidgets as lrw
    from lrwidgets.training import nan_guard

    monkeypatch.setattr(nan_guard, "COPY_SHARE", share)
    taken: list[int] = []
    take = nan_guard.NanGuard.take

    def recorded(self: Any, model: Any, step: int) -> bool:
        taken.append(step)
        return take(self, model, step)

    monkeypatch.setattr(nan_guard.NanGuard, "take", recorded)
    session = lrw.TrainingSession(linear_model())
    session.controller.recorder.guard.interval = 1e9  # no copy within an epoch (they come every 2 s)
    x, y = regression_data(n=64)
    blow_up = lambda step: 1e-3 if step < 60 else 1e9  # noqa: E731
    session.fit(x, y, epochs=20, batch_size=16, schedule=blow_up).wait(60)  # 4 steps an epoch
    before = [step for step in taken if step < 60]  # the copies before the raised rate's first step
    if share == 0:  # the fit's first copy, the second (the first whose time counts), then every 32 steps
        assert before == [0, 4, 36]
    else:
        assert before == list(range(0, 60, 4))
    # The loss went inf a few steps after the raise: the last copy of weights no raised batch moved is
    # put back (one taken for the raise's first batch, step 60, holds the weights from before it).
    assert 60 < session.history.num_steps < 80
    (restore,) = [e for e in session.history.events if e.kind == "restore"]
    kept = [step for step in taken if step <= 60]
    assert kept == before + ([] if share == 0 else [60])
    assert restore.message == f"weights restored from step {kept[-1]}"
    assert np.isfinite(session.model.evaluate(x, y, verbose=0))


@pytest.mark.keras
def test_an_epoch_of_32_steps_or_more_is_copied_at_its_start_after_a_copy_within_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A copy taken within an epoch (they come every 2 s) counted as the last one: the next epoch's
    start, fewer than 32 steps after it, got none where copies cost much, and a rewind went back
    to that copy, not to the blown-up epoch's start. Epochs of 32 steps or more are copied at each
    start."""
    from lrwidgets.training import nan_guard

    monkeypatch.setattr(nan_guard, "COPY_SHARE", 0.0)  # any copy costs too much
    model, history, guard, _, _ = guarded_model()
    steps = 0

    def run(n: int) -> None:
        nonlocal steps
        for _ in range(n):
            history.record_step(1.0, 1e-3, 0.01 * steps)
            steps += 1

    assert guard.wants_copy(epoch_start=True) and guard.take(model, 0)  # the fit's first epoch
    run(28)
    assert guard.take(model, 28)  # within the epoch (2 s)
    run(12)  # an epoch of 40 steps ends
    assert guard.wants_copy(epoch_start=True)  # 12 steps after the last copy: copied all the same
    assert guard.take(model, 40)
    run(6)  # an epoch of 6 steps
    assert not guard.wants_copy(epoch_start=True)  # 6 steps after the last copy
    run(6)
    assert not guard.wants_copy(epoch_start=True)  # after a 6-step epoch, 6 steps after the last copy
    run(6 * 4)
    assert guard.wants_copy(epoch_start=True)  # 36 steps after it


@pytest.mark.keras
def test_nan_guard_keeps_no_copy_whose_values_are_not_finite() -> None:
    """On TensorFlow relu maps NaN to 0: weights gone NaN under a finite loss were kept as healthy."""
    import keras

    model, history, guard, kernel, original = guarded_model()
    guard.take(model, step=0)
    history.record_step(1.0, 1e-3, 0.0)
    kernel.assign(original * np.nan)
    guard.take(model, step=1)
    history.record_step(1.0, 1e-3, 0.1)  # finite
    assert guard.broken == 1 and guard.restorable_step == 0
    assert guard.take_broken() == 1 and guard.broken is None
    assert guard.restore(model, keep=[]) == 0
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(kernel), original)


@pytest.mark.keras
def test_nan_guard_judges_the_copy_before_weights_gone_nan_on_its_own_batch() -> None:
    """TensorFlow's relu maps NaN to 0: weights gone NaN under a finite loss give finite garbage
    losses (1.3 before, 7-16 after, with BatchNormalization). The copy before them was judged on the
    median of its 16 batches, half of them garbage, and the restore went to the fit's first weights,
    an epoch back. It is judged on its own batch when the next copy is found broken, at the fit's
    end too; a copy whose own batch was already bad is still not kept."""
    import keras

    for at_end in (False, True):
        for own in (1.3, 9.0):
            model, history, guard, kernel, original = guarded_model()
            for step in range(16):
                if step == 0:
                    guard.take(model, step=0)
                history.record_step(1.3, 1e-3, 0.1 * step)
            kernel.assign(original + 1.0)
            guard.take(model, step=16)
            history.record_step(own, 1e-3, 1.6)
            for step in range(17, 32):  # broken at step 23: finite garbage from there
                history.record_step(1.3 if step < 23 else 12.0, 1e-3, 0.1 * step)
            kernel.assign(original * np.nan)
            if at_end:
                assert guard.broken_at_end(model)
            else:
                assert not guard.take(model, step=32) and guard.broken == 32
            kept = 16 if own < 4 * 1.3 else 0
            assert guard.restore(model, keep=[]) == kept, (at_end, own)
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(kernel), original + (1.0 if kept else 0.0))


@pytest.mark.keras
def test_nan_guard_judges_a_copy_by_the_next_batch_that_returned_a_loss() -> None:
    """A batch with no loss (a NaN row) leaves the copy to the next batch that has one."""
    model, history, guard, kernel, original = guarded_model()
    guard.take(model, step=0)
    history.record_step(float("nan"), 1e-3, 0.0)  # no loss returned
    history.record_step(1.0, 1e-3, 0.1)  # the next loss: healthy, confirms the copy of step 0
    kernel.assign(original + 1.0)
    history.record_step(float("nan"), 1e-3, 0.2)  # a real NaN loss: the fit ends here
    assert guard.restore(model, keep=[]) == 0
    np.testing.assert_array_equal(kernel.numpy(), original)


@pytest.mark.keras
def test_nan_guard_keeps_copies_from_before_a_blow_up_for_a_rewind() -> None:
    """A copy judged healthy after a blow-up (its loss back within 4x the best) replaced the last one
    before it: a `rewind` found nothing from before. With `keeps_more` the copy before the last and
    the fit's first stay kept; after a rewind, copies of the trajectory it left are not."""
    model, history, guard, kernel, original = guarded_model()
    guard.keeps_more = True
    for step, loss in [(0, 2.3), (10, 1.0), (20, 0.9)]:  # healthy copies, each confirmed by the next
        kernel.assign(original + step)
        guard.take(model, step=step)
        for s in range(step, step + 10):
            history.record_step(loss if s < 25 else 1.5, 1e-3, 0.01 * s)  # blown up from step 25
    kernel.assign(original + 30)
    # After the blow-up, yet within 4x the best (0.9) and under half the fall from the start (1.6):
    # healthy by that rule.
    guard.take(model, step=30)
    history.record_step(1.5, 1e-3, 0.3)
    assert guard.healthy_before(31).step == 30  # the latest, when it comes before the step asked
    before = guard.healthy_before(25)  # the one before it: not the fit's start
    assert before is not None and before.step == 20
    np.testing.assert_array_equal(before.weights[0], original + 20)
    assert guard.healthy_before(1).step == 0  # the fit's first, kept for the whole fit
    guard.rewound(before)  # step 20's state put back
    assert guard.healthy_before(100).step == 20  # not 30: the trajectory left behind
    assert guard.restore(model, keep=[]) == 20  # and a NaN restore puts back the same
    guard.begin_fit()
    assert guard.healthy_before(100) is None  # a new fit keeps nothing of the last


@pytest.mark.keras
@pytest.mark.parametrize("raised_at", [0, 5], ids=["at the copy's batch", "5 batches after it"])
def test_a_copy_taken_before_a_raise_is_judged_by_the_batches_its_weights_made(raised_at: int) -> None:
    """A copy taken for the raised rate's first batch (at an epoch's start), or a few batches before
    the raise, was judged by the raised rate's blown-up batches and never confirmed: a rewind went
    back to the copy before it, an epoch earlier (``bench_rewind.py``'s raised runs: step 45, not
    90). The batches after the first one at a raised rate judge that rate, not the copy: they are
    left out, and the batches before the copy count instead; its own up to the raise must pass too."""

    def judged(before: list[float], after: list[float], rates_after: list[float], gap: bool = False) -> Any:
        """The copy the guard keeps (None: not confirmed) after these losses and rates; ``gap``: the
        copy's batch returned no loss (a NaN row)."""
        model, history, guard, kernel, original = guarded_model()
        for step, loss in enumerate(before):
            history.record_step(loss, 1e-3, 0.01 * step)
        kernel.assign(original + 1.0)
        guard.take(model, step=len(before))
        for i, (loss, rate) in enumerate(zip(after, rates_after, strict=True)):
            history.record_step(float("nan") if gap and i == 0 else loss, rate, 0.01 * (len(before) + i))
        kept = guard.healthy_before(history.num_steps)
        if kept is not None:
            np.testing.assert_array_equal(kept.weights[0], original + 1.0)
        return kept

    healthy = [2.0 - 0.05 * step for step in range(20)]  # 2.0 down to 1.05
    rates = [1e-3 if i < raised_at else 1.0 for i in range(20)]
    # Its own batch and those up to the raise still ran on weights the old rate made; then blown up.
    up = [1.0 if i <= raised_at else 30.0 for i in range(20)]
    assert judged(healthy, up, rates) is not None
    assert judged(healthy, up, rates, gap=True) is not None  # its own row a gap: from the copy's step on
    # The copy's own batches blown up already (its weights were): not confirmed.
    assert judged(healthy, [30.0] * 20, rates) is None
    # A cut does not shorten them: a copy 3 batches into a blow-up, the rate then cut 10x (by hand,
    # ReduceLROnPlateau) and the loss left high, is judged by its own trajectory: not confirmed.
    rising = [0.4] * 20 + [0.54]
    cut = [1e-3] * 3 + [1e-4] * 17
    assert judged(rising, [0.73, 0.98, 1.33, *[2.3] * 17], cut) is None
    assert judged(rising, [0.41] * 20, cut) is not None  # a healthy one at a cut: as any


@pytest.mark.keras
def test_a_copy_taken_after_a_rewind_is_not_judged_by_the_trajectory_it_left() -> None:
    """Batches before a copy fill in for those after a raise: never ones from before a rewind
    since, which are of the blown-up trajectory the rewind left."""
    model, history, guard, kernel, original = guarded_model()
    guard.keeps_more = True
    for step in range(20):
        history.record_step(1.0, 1e-3, 0.01 * step)
    guard.take(model, step=20)
    for step in range(20, 40):
        history.record_step(1.0 if step < 32 else 30.0, 1e-3, 0.01 * step)  # blown up from step 32
    state = guard.healthy_before(32)
    assert state is not None and state.step == 20
    guard.rewound(state)  # step 20's state put back at step 40, and the rate raised there (a fix)
    kernel.assign(original + 2.0)
    guard.take(model, step=40)
    for step in range(40, 60):
        history.record_step(1.0 if step == 40 else 30.0, 1.0, 0.01 * step)
    # Its own batch is fine, but only the batches before it since the rewind may fill in: none.
    kept = guard.healthy_before(60)
    assert kept is not None and kept.step == 40


@pytest.mark.keras
def test_a_rate_and_an_action_queued_together_are_carried_out_at_one_batch_boundary() -> None:
    """A rate and an action left together (a rewind's state and its rate) are both carried out at
    the next batch boundary and recorded at its step; idle, nothing is left (the caller does them)."""
    import lrwidgets as lrw

    x, y = regression_data(64)
    session = lrw.TrainingSession(linear_model())
    controller = session.controller
    assert not controller.queue_for_next_batch(1e-2, "test")  # idle: nothing left
    with pytest.raises(ValueError, match="Argument `learning_rate`"):
        controller.queue_for_next_batch(-1.0, "test")
    seen: list[int] = []
    run = session.fit(x, y, epochs=50, batch_size=8)
    session.pause()
    wait_for(lambda: session.state == "paused")
    assert controller.queue_for_next_batch(5e-3, "test", lambda model: seen.append(session.history.num_steps), "probe")
    session.resume()
    wait_for(lambda: bool(seen))
    session.stop()
    run.wait(60)
    (action,) = [e for e in session.history.events if e.message == "probe"]
    (rate,) = [e for e in session.history.events if e.source == "test"]
    assert action.step == rate.step == seen[0] and rate.value == pytest.approx(5e-3)


@pytest.mark.keras
def test_controller_requests_queue_while_running_and_apply_at_once_when_idle() -> None:
    import lrwidgets as lrw

    x, y = regression_data(64)
    session = lrw.TrainingSession(linear_model())
    controller = session.controller
    controller.set_learning_rate(2e-3, source="test")  # idle: at once, recorded
    assert controller.learning_rate == pytest.approx(2e-3)
    assert [e.source for e in session.history.events] == ["test"]
    seen: list[str] = []
    controller.submit(lambda model: seen.append(model.name), description="probe")
    assert seen == [session.model.name] and session.history.events[-1].message == "probe"
    assert controller.call(lambda model: model.count_params()) == session.model.count_params()
    with pytest.raises(TypeError, match="Argument `action`"):
        controller.submit("not callable")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Argument `description` must be a str"):
        controller.submit(lambda model: None, 3)  # type: ignore[arg-type]
    session.fit(x, y, epochs=1, batch_size=32).wait(60)
    assert not controller.running and controller.state == "idle"


# ---- Listeners: the views' share of the training thread's time ------------------------------------


class _Clock:
    """A recorder whose clock is set by the test; errors are kept."""

    def __init__(self) -> None:
        self.t = 0.0
        self.events: list[str] = []

    def clock(self) -> float:
        return self.t

    def event(self, kind: str, message: str) -> None:
        self.events.append(message)


@pytest.mark.parametrize(
    ("cost", "gap"), [(0.0, 0.1), (0.0005, 0.1), (0.001, 0.1), (0.002, 0.2), (0.004, 0.4), (0.008, 0.8), (0.5, 1.0)]
)
def test_slow_listeners_are_called_less_often_so_that_they_take_a_bounded_share(cost: float, gap: float) -> None:
    from lrwidgets.training.listeners import MAX_SHARE, MAX_STRETCH, Listeners

    assert (MAX_SHARE, MAX_STRETCH) == (0.01, 10.0)  # the gaps below are for these
    clock = _Clock()
    listeners = Listeners(0.1, clock)

    def view() -> None:
        clock.t += cost  # the view takes `cost` seconds of the training thread

    listeners.add(view)
    assert listeners.due() is False  # a round is due `interval` after the last (the first at 0.1 s)
    calls = 0
    while clock.t < 60.0:  # a minute of training in 0.5 ms batches
        clock.t += 0.0005
        if listeners.due():
            listeners.notify()
            calls += 1
    assert listeners.gap == pytest.approx(gap)
    assert calls == pytest.approx(60.0 / gap, rel=0.02)
    # The share of the time the views took: at most MAX_SHARE, unless the stretch is at its limit.
    assert calls * cost / 60.0 <= max(MAX_SHARE, cost / (MAX_STRETCH * 0.1)) * 1.01


def test_a_slower_round_spreads_the_next_at_once_and_a_faster_one_by_halves() -> None:
    """A fit's first rounds have few rows to draw: the slower ones after them count at once."""
    from lrwidgets.training.listeners import Listeners

    clock = _Clock()
    listeners = Listeners(0.1, clock)
    costs = iter([0.0003, 0.004, 0.001, 0.001, 0.001])

    def view() -> None:
        clock.t += next(costs)

    listeners.add(view)
    gaps = []
    for _ in range(5):
        listeners.notify()
        gaps.append(round(listeners.gap, 6))
    assert gaps == [0.1, 0.4, 0.25, 0.175, 0.1375]


def test_a_failing_listener_is_recorded_and_the_others_still_run() -> None:
    from lrwidgets.training.listeners import Listeners

    clock = _Clock()
    listeners = Listeners(0.1, clock)
    seen: list[int] = []
    listeners.add(lambda: 1 / 0)
    listeners.add(lambda: seen.append(1))
    listeners.notify()
    assert seen == [1]
    assert clock.events == ["display update failed: ZeroDivisionError: division by zero"]


def test_which_callbacks_keep_a_stop_from_cutting_the_validation_pass() -> None:
    """Those that compare a `val_` result from epoch to epoch (a NaN would be their best, or an epoch
    without improvement); not a checkpoint that saves every epoch, nor a `monitor` that is no key."""
    import keras

    from lrwidgets.training.validation_cut import watches_validation

    class Own(keras.callbacks.Callback):
        def __init__(self, monitor: object) -> None:
            super().__init__()
            self.monitor = monitor

    watching = [
        keras.callbacks.EarlyStopping(),
        keras.callbacks.ReduceLROnPlateau(),
        keras.callbacks.ModelCheckpoint("m.keras", save_best_only=True),
        Own("val_accuracy"),
    ]
    not_watching = [
        keras.callbacks.ModelCheckpoint("m.keras"),
        keras.callbacks.EarlyStopping(monitor="loss"),
        keras.callbacks.ModelCheckpoint("m.keras", monitor="loss", save_best_only=True),
        Own(["val_loss"]),
        keras.callbacks.History(),
    ]
    assert [watches_validation(cb) for cb in watching] == [True] * 4
    assert [watches_validation(cb) for cb in not_watching] == [False] * 5


@pytest.mark.parametrize("one_more_start", [False, True], ids=["torch", "jax, tensorflow"])
def test_a_stop_at_the_last_batch_of_data_of_unknown_length_cuts_nothing_once_a_pass_was_whole(
    one_more_start: bool,
) -> None:
    """Keras does not know how many batches a generator or a filtered `tf.data` set holds: a Stop
    at a pass's last batch, as long as the fit's last whole pass, leaves the results whole; the
    first pass, of no known length, is cut wherever Stop comes before its end, and so is a pass
    longer than the last whole one, past that length. jax's and tensorflow's trainers start one
    batch more after the last and find no data: a Stop seen there cuts nothing."""
    from types import SimpleNamespace

    from lrwidgets.training.validation_cut import ValidationCut

    def run_pass(cut: ValidationCut, model: SimpleNamespace, batches: int, stop_at: int | None) -> tuple[bool, int]:
        cut.begin_pass(False)
        logs = {"loss": 1.0}
        step = 0
        while not model.stop_evaluating:
            if step >= batches and not one_more_start:
                break
            cut.before_batch(model, step, stop_at is not None and step >= stop_at)
            if step >= batches:
                break  # the start with no data
            cut.after_batch(model)
            step += model.steps_per_execution
        model.stop_evaluating = False
        cut.end_pass(logs)
        cut.end_epoch(0, {})
        return math.isnan(logs["loss"]), min(step, batches)

    for per_call in (1, 3):
        model = SimpleNamespace(steps_per_execution=per_call, stop_evaluating=False)  # no known length
        cut = ValidationCut()
        cut.begin_fit(True, [])
        last = (10 - 1) // per_call * per_call  # the first batch of the pass's last call
        assert run_pass(cut, model, 10, stop_at=last) == (True, 10)  # first pass: its length unknown
        assert run_pass(cut, model, 10, stop_at=10) == (False, 10)  # asked after its last batch
        assert run_pass(cut, model, 10, stop_at=None) == (False, 10)  # a whole pass: 10 batches
        assert run_pass(cut, model, 10, stop_at=last) == (False, 10)  # the last batch: nothing cut
        assert run_pass(cut, model, 10, stop_at=last - per_call) == (True, last)  # one call before it: cut
        assert run_pass(cut, model, 100, stop_at=30) == (True, 30 + per_call)  # past the learned length: cut
        cut.begin_fit(True, [])  # a new fit learns its data's length again
        assert run_pass(cut, model, 10, stop_at=last) == (True, 10)


# ---- LearningRateWriter: a rate set mid-epoch is the next step's, with no wrapper otherwise -------


@pytest.mark.keras
def test_a_rate_set_mid_epoch_is_taken_by_the_next_step_and_a_fit_left_alone_runs_keras_own_step() -> None:
    """On jax a rate written mid-epoch reaches the next step through a wrapper of the train function:
    it is there for that step only, so a fit whose rate nobody changes runs Keras's own. Each step
    ran with the rate the history records for it: on SGD for w on (x=1, y=1), each batch's loss is
    the last one times (1 - 2 lr)^2 of the last step's rate."""
    import keras

    import lrwidgets as lrw

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    session = lrw.TrainingSession(model)
    wrapped: list[bool] = []

    class Probe(keras.callbacks.Callback):  # before the rate reader, which makes the change it asks for this batch
        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            wrapped.append(getattr(self.model.train_function, "_lrwidgets", False))
            if batch == 5:
                session.learning_rate = 0.05

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            wrapped.append(getattr(self.model.train_function, "_lrwidgets", False))

    x, y = np.ones((16, 1), "float32"), np.ones((16, 1), "float32")
    session.fit(x, y, epochs=1, batch_size=1, shuffle=False, callbacks=[Probe()]).wait(60)
    assert session.history.num_steps == 16
    losses = session.history.column("loss")
    rates = session.history.column("learning_rate")
    np.testing.assert_allclose(rates, [0.01] * 5 + [0.05] * 11, rtol=1e-6)
    np.testing.assert_allclose(losses[1:] / losses[:-1], (1 - 2 * rates[:-1]) ** 2, rtol=1e-3)
    assert wrapped == [False] * 32  # on jax the change's step ran the wrapper, which took itself out
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)


@pytest.mark.keras
@pytest.mark.parametrize("how", ["schedule", "live"])
def test_a_rate_written_before_the_batch_past_the_end_of_data_of_unknown_length_is_the_next_epochs(how: str) -> None:
    """With data of unknown length Keras calls each epoch's batch start once more, for a batch that
    does not exist, whose step raises StopIteration. On jax a rate written there (a schedule's
    next step; a live change made at the last batch's end, by a callback that read `self.model`,
    which syncs the state) was lost with that step: Keras put back the last step's state, the rate
    read back was recorded as "changed by another callback", and a schedule's rest scaled by it."""
    tf = pytest.importorskip("tensorflow")
    import keras

    import lrwidgets as lrw

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    session = lrw.TrainingSession(model)
    ones = np.ones((8, 1), "float32")
    data = tf.data.Dataset.from_tensor_slices((ones, ones)).filter(lambda a, b: True).batch(1)  # 8 batches, unknown

    class Live(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if batch == 7 and self.model is not None:  # (`Callback.model` syncs the state on jax)
                session.learning_rate = 0.05

    if how == "schedule":
        session.fit(data, epochs=2, schedule=lambda step: 0.01 if step < 8 else 0.05).wait(120)
    else:
        session.fit(data, epochs=2, callbacks=[Live()]).wait(120)
    assert session.history.num_steps == 16
    losses, rates = session.history.column("loss"), session.history.column("learning_rate")
    np.testing.assert_allclose(rates, [0.01] * 8 + [0.05] * 8, rtol=1e-6)
    np.testing.assert_allclose(losses[1:] / losses[:-1], (1 - 2 * rates[:-1]) ** 2, rtol=1e-3)
    changes = [e.message for e in session.history.events if e.kind == "learning_rate"]
    assert changes == ([] if how == "schedule" else ["learning rate set to 0.05 (user)"])
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)


@pytest.mark.keras
def test_a_rate_set_between_epochs_gives_way_to_a_later_callbacks_change() -> None:
    """A rate set at an epoch's end (a callback calling the session) and then reduced by Keras's
    ReduceLROnPlateau after it: the next epoch runs at the reduction, recorded as another
    callback's change. On jax a write there waited behind the step's wrapper, which put the set
    rate back over the reduction, unrecorded (a review's finding)."""
    import keras

    import lrwidgets as lrw

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    session = lrw.TrainingSession(model)

    class SetAtEnd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if epoch == 1:
                session.learning_rate = 0.05

    halve = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9)
    ones = np.ones((4, 1), "float32")
    session.fit(ones, ones, batch_size=1, epochs=3, callbacks=[SetAtEnd(), halve]).wait(60)
    losses, rates = session.history.column("loss"), session.history.column("learning_rate")
    np.testing.assert_allclose(rates, [0.01] * 8 + [0.025] * 4, rtol=1e-6)
    np.testing.assert_allclose(losses[1:] / losses[:-1], (1 - 2 * rates[:-1]) ** 2, rtol=1e-3)
    changes = [(e.step, e.message) for e in session.history.events if e.kind == "learning_rate"]
    assert changes[:2] == [
        (8, "learning rate set to 0.05 (user)"),
        (8, "learning rate changed to 0.025 by another callback"),
    ]
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0125)


def test_the_rates_watch_leaves_a_write_another_patch_holds_at_its_end() -> None:
    """A fit abandoned in its thread is ended from wherever its state is read next: its watch's end could take a
    `LayerwiseOptimizer` step's own patch of the inner optimizer's writes off mid-step (a frozen layer then
    moved). A name another patch holds is left to it; the watch's own hooks go."""
    import keras

    from lrwidgets.training.assign_watch import AssignWatch

    optimizer = keras.optimizers.SGD(1e-3)
    optimizer.build([keras.Variable(1.0)])
    variable = optimizer._learning_rate
    watch = AssignWatch()
    watch.watch(variable, optimizer)

    def theirs(value: Any) -> None:  # another patch, put in front of the watch's
        pass

    vars(variable)["assign"] = theirs
    watch.unwatch()
    assert vars(variable).get("assign") is theirs
    assert not {"assign_add", "assign_sub"} & set(vars(variable))
    assert not {"assign", "assign_add", "assign_sub"} & set(vars(optimizer))


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.floats(-1.0, 1e4), st.just(math.inf)), min_size=1, max_size=30),
    short_last=st.booleans(),
    floor=st.sampled_from([None, 0.0]),
    data=st.data(),
)
def test_a_few_raw_rows_are_written_as_many_are_bit_for_bit(
    values: list[Any], short_last: bool, floor: Any, data: Any
) -> None:
    """An epoch of a few rows is written in plain Python (numpy's calls cost more than the arithmetic there),
    a round of many in numpy: the same steps to the bit (the true loss, the loss floor, the rate, the time),
    and the progress meter counts the same batches (with `steps_per_execution` 3: Keras numbers a short
    last call as a full one)."""
    from lrwidgets.core import batch_loss
    from lrwidgets.core.batch_loss import BatchLossRecovery
    from lrwidgets.training import raw_rows
    from lrwidgets.training.progress import ProgressMeter

    ups = data.draw(st.lists(st.integers(1, 3), min_size=len(values), max_size=len(values)))
    numbers = np.cumsum(ups).tolist()  # Keras's numbers go up by 1, or by `steps_per_execution`
    epoch = data.draw(st.integers(1, numbers[-1] + 1))  # below the last: short calls clipped to the data's end
    rows = [(b, v, 1e-3 * (1 + i % 3), 100.0 + 0.37 * i) for i, (b, v) in enumerate(zip(numbers, values, strict=True))]
    made = []
    for few in (True, False):
        recovery, meter = BatchLossRecovery(batch_size=32, samples_per_epoch=32 * epoch - 7), ProgressMeter()
        meter.begin_fit(2, epoch, 0, data_ends_epochs=short_last)
        original = raw_rows.FEW
        raw_rows.FEW = batch_loss.FEW = 1000 if few else 0  # the path forced, the recovery's too
        try:
            steps, batches = raw_rows.written(rows, len(rows), recovery, floor, 100.0)
        finally:
            raw_rows.FEW = batch_loss.FEW = original
        assert isinstance(batches, list) == few
        meter.end_batches(batches)
        made.append((steps, meter.fit_step, meter.step_in_epoch, recovery.per_batch))
    (few_steps, *few_counts), (many_steps, *many_counts) = made
    assert few_steps.shape == many_steps.shape == (len(rows), 3)
    np.testing.assert_array_equal(np.isnan(few_steps), np.isnan(many_steps))
    bits = [np.nan_to_num(s, nan=0.0).view(np.int64) for s in (few_steps, many_steps)]
    np.testing.assert_array_equal(*bits)
    assert few_counts == many_counts
