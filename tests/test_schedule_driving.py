"""A schedule driven from the host, one write per step, trains exactly like Keras's in-graph schedule."""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.helpers import kernel_of, linear_model, regression_data

pytestmark = pytest.mark.keras


def staircase(step: int) -> float:
    return 0.05 * 0.5 ** (step // 3)


@contextlib.contextmanager
def floatx(dtype: str) -> Iterator[None]:
    """``keras.config.floatx()`` at ``dtype`` inside, put back after (a model built inside has a rate of it)."""
    import keras

    before = keras.config.floatx()
    keras.config.set_floatx(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(before)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_host_schedule_matches_keras_schedule(optimizer: str) -> None:
    import keras

    import lrwidgets as lrw

    x, y = regression_data(320)
    keras_schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=3, decay_rate=0.5, staircase=True)
    reference = linear_model(getattr(keras.optimizers, optimizer)(keras_schedule))
    reference.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0)

    model = linear_model(getattr(keras.optimizers, optimizer)(0.05))
    dash = lrw.TrainingDashboard(model)
    dash.fit(x, y, epochs=2, batch_size=32, shuffle=False, schedule=staircase).wait(timeout=60)

    np.testing.assert_allclose(dash.history.learning_rate, [staircase(s) for s in range(20)], rtol=1e-6)
    np.testing.assert_allclose(kernel_of(model), kernel_of(reference), rtol=1e-5, atol=1e-7)
    assert len(dash.plots.plan_mark.x) == 20  # the planned curve is drawn with the actual one


def test_a_keras_schedule_object_given_as_schedule_gives_its_rates() -> None:
    """Keras's own schedule object, given as `schedule=`, is followed step for step (to float32
    rounding, as lrwidgets' own schedules: README)."""
    import keras

    import lrwidgets as lrw

    x, y = regression_data(320)
    decay = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=7, decay_rate=0.5)
    reference = linear_model(keras.optimizers.Adam(decay))
    reference.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0)
    model = linear_model(keras.optimizers.Adam(0.05))
    session = lrw.TrainingSession(model)
    session.fit(x, y, epochs=2, batch_size=32, shuffle=False, schedule=decay).wait(60)
    keras_rates = [float(keras.ops.convert_to_numpy(decay(step))) for step in range(20)]
    np.testing.assert_allclose(session.history.learning_rate, keras_rates, rtol=1e-6)  # float32 rounding
    np.testing.assert_allclose(kernel_of(model), kernel_of(reference), rtol=1e-5)


def test_live_change_scales_the_rest_of_the_schedule() -> None:
    import lrwidgets as lrw

    x, y = regression_data(64 * 32)
    dash = lrw.TrainingDashboard(linear_model())
    seen: list[int] = []

    def schedule(step: int) -> float:
        seen.append(step)
        return 1e-3 * 0.99**step

    from tests.helpers import wait_for

    run = dash.fit(x, y, epochs=100, batch_size=32, schedule=schedule)
    wait_for(lambda: dash.history.num_steps >= 10)
    dash.learning_rate = 1e-2
    wait_for(lambda: any(e.kind == "learning_rate" for e in dash.history.events))
    k = next(e for e in dash.history.events if e.kind == "learning_rate").step
    wait_for(lambda: dash.history.num_steps >= k + 10)
    run.stop()
    run.wait(timeout=60)
    lr = dash.history.learning_rate.astype(np.float64)
    np.testing.assert_allclose(lr[:k], [1e-3 * 0.99**s for s in range(k)], rtol=1e-5)
    np.testing.assert_allclose(lr[k:], [1e-2 * 0.99 ** (s - k) for s in range(k, len(lr))], rtol=1e-5)


def test_live_change_trains_exactly_like_a_keras_piecewise_schedule() -> None:
    """No callback here touches the model: the change must reach the jitted step by itself."""
    import keras

    import lrwidgets as lrw

    x, y = regression_data(64 * 32)
    model = linear_model(keras.optimizers.SGD(1e-4))
    session = lrw.TrainingSession(model, update_interval=0.001)
    # The change is made while a view holds the training thread at a batch's end (30+ steps in):
    # however busy the machine, the fit cannot end before it, and it applies from the next batch.
    reached, go, held = threading.Event(), threading.Event(), []

    def hold(snapshot: Any) -> None:
        if not held and snapshot.num_steps >= 30:
            held.append(snapshot.num_steps)
            reached.set()
            assert go.wait(60)

    session.subscribe(hold)
    run = session.fit(x, y, epochs=3, batch_size=32, shuffle=False)
    assert reached.wait(60)
    session.learning_rate = 2e-3
    go.set()
    history = run.wait(timeout=120)
    k = next(e for e in session.history.events if e.kind == "learning_rate").step
    assert k == held[0] < 64 * 3

    piecewise = keras.optimizers.schedules.PiecewiseConstantDecay([k - 1], [1e-4, 2e-3])
    reference = linear_model(keras.optimizers.SGD(piecewise))
    reference.fit(x, y, epochs=3, batch_size=32, shuffle=False, verbose=0)
    np.testing.assert_allclose(kernel_of(model), kernel_of(reference), rtol=1e-5, atol=1e-7)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(2e-3)
    assert history.history["learning_rate"][-1] == pytest.approx(2e-3)


def test_plateau_trains_exactly_like_keras_reduce_lr_on_plateau() -> None:
    import keras

    import lrwidgets as lrw

    x, y = regression_data(320)
    # min_delta so large that nothing counts as an improvement after the first epoch: the
    # reductions then do not hang on float noise, and both runs must reduce at the same epochs.
    args = dict(factor=0.5, patience=2, min_delta=1e6, cooldown=1, min_lr=1e-4)
    reference = linear_model(keras.optimizers.SGD(0.01))
    ref_history = reference.fit(
        x,
        y,
        epochs=9,
        batch_size=32,
        shuffle=False,
        validation_split=0.25,
        verbose=0,
        callbacks=[keras.callbacks.ReduceLROnPlateau(monitor="val_loss", **args)],
    )

    model = linear_model(keras.optimizers.SGD(0.01))
    dash = lrw.TrainingDashboard(model)
    plateau = lrw.schedules.ReduceOnPlateau(0.01, **args)
    history = dash.fit(x, y, epochs=9, batch_size=32, shuffle=False, validation_split=0.25, schedule=plateau).wait(
        timeout=120
    )

    np.testing.assert_allclose(history.history["learning_rate"], ref_history.history["learning_rate"], rtol=1e-6)
    np.testing.assert_allclose(kernel_of(model), kernel_of(reference), rtol=1e-5, atol=1e-7)
    # The last epoch's end reduces too (epochs 2, 4, 6 and 8): the rate a next fit starts at is Keras's.
    after = float(keras.ops.convert_to_numpy(reference.optimizer.learning_rate))
    assert after < ref_history.history["learning_rate"][-1]
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(after, rel=1e-6)
    assert dash.learning_rate == pytest.approx(after, rel=1e-6)
    reductions = [e for e in dash.history.events if e.source == "plateau"]
    assert len(reductions) == len(set(ref_history.history["learning_rate"])) >= 3
    assert reductions[-1].step == dash.history.num_steps and reductions[-1].value == pytest.approx(after, rel=1e-6)
    assert all("val_loss" in e.message for e in reductions)


def test_plateau_skips_the_epochs_without_validation_as_keras_does() -> None:
    """With `validation_freq=2` half the epochs log no `val_loss`: Keras's ReduceLROnPlateau skips
    them; watching `loss` there instead mixed two curves (and said the fit had no validation)."""
    import keras

    import lrwidgets as lrw

    x, y = regression_data(320)
    args = dict(factor=0.5, patience=1, min_delta=1e6)
    fit = dict(epochs=8, batch_size=32, shuffle=False, validation_split=0.25, validation_freq=2, verbose=0)
    reference = linear_model(keras.optimizers.SGD(0.01))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns at each epoch without `val_loss`
        ref = reference.fit(x, y, callbacks=[keras.callbacks.ReduceLROnPlateau(monitor="val_loss", **args)], **fit)
    session = lrw.TrainingSession(linear_model(keras.optimizers.SGD(0.01)))
    history = session.fit(x, y, schedule=lrw.schedules.ReduceOnPlateau(0.01, **args), **fit).wait(timeout=60)
    np.testing.assert_allclose(history.history["learning_rate"], ref.history["learning_rate"], rtol=1e-6)
    assert len(set(ref.history["learning_rate"])) >= 3
    assert not [e for e in session.history.events if "no validation data" in e.message]
    # `validation_freq` as a list of (1-based) epochs, as Keras takes it too.
    fit["validation_freq"] = [2, 3, 6, 7]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = linear_model(keras.optimizers.SGD(0.01)).fit(
            x, y, callbacks=[keras.callbacks.ReduceLROnPlateau(monitor="val_loss", **args)], **fit
        )
    session = lrw.TrainingSession(linear_model(keras.optimizers.SGD(0.01)))
    history = session.fit(x, y, schedule=lrw.schedules.ReduceOnPlateau(0.01, **args), **fit).wait(timeout=60)
    np.testing.assert_allclose(history.history["learning_rate"], ref.history["learning_rate"], rtol=1e-6)


def test_the_designers_replay_of_a_run_that_validates_every_other_epoch_gives_the_rates_it_used() -> None:
    """The designer replayed `val_loss` with NaN at the epochs without validation, each taken as
    "no improvement": it reduced earlier than the fit (which skips them, as Keras does)."""
    import keras

    import lrwidgets as lrw

    x, y = regression_data(320)
    args = dict(factor=0.5, patience=1, min_delta=1e6)
    fit = dict(epochs=8, batch_size=32, shuffle=False, validation_split=0.25, validation_freq=2, verbose=0)
    session = lrw.TrainingSession(linear_model(keras.optimizers.SGD(0.01)))
    history = session.fit(x, y, schedule=lrw.schedules.ReduceOnPlateau(0.01, **args), **fit).wait(timeout=60)
    used = history.history["learning_rate"]
    assert len(set(used)) >= 3
    designer = lrw.ScheduleDesigner(kind="plateau", initial_learning_rate=0.01, epochs=8, steps_per_epoch=8, **args)
    designer.set_monitored(session)
    assert np.isnan(designer.monitored()[::2]).all()  # no `val_loss` at the 1st, 3rd, ... epoch
    np.testing.assert_allclose(designer.preview()[::8], used, rtol=1e-6)
    np.testing.assert_array_equal(designer._plot.loss.x, [2, 4, 6, 8])  # drawn where it was logged
    # One value per epoch, None where an epoch logged none: the same replay.
    val = session.history.epoch_logs["val_loss"]
    designer.set_monitored([None if np.isnan(v) else v for v in val])
    np.testing.assert_allclose(designer.preview()[::8], used, rtol=1e-6)
    # Keras's History lists the 4 values for 8 epochs with nothing to place them: refused, as it was.
    before = designer.preview()
    with pytest.raises(ValueError, match="4 values of 'val_loss' for 8 epochs"):
        designer.set_monitored(history)
    np.testing.assert_array_equal(designer.preview(), before)


def test_plateau_multiplies_the_rest_of_a_schedule() -> None:
    import lrwidgets as lrw

    x, y = regression_data(320)
    dash = lrw.TrainingDashboard(linear_model())
    decay = lrw.schedules.ExponentialDecay(0.01, decay_steps=10, decay_rate=0.5)
    plateau = lrw.schedules.ReduceOnPlateau(1.0, factor=0.1, patience=1, min_delta=1e6)
    dash.fit(x, y, epochs=4, batch_size=32, validation_split=0.25, schedule=decay, plateau=plateau).wait(timeout=60)
    steps_per_epoch = 8
    factor = np.repeat([1.0, 1.0, 0.1, 0.01], steps_per_epoch)  # reductions at the ends of epochs 1 and 2
    expected = decay(np.arange(4 * steps_per_epoch)) * factor
    np.testing.assert_allclose(dash.history.learning_rate, expected, rtol=1e-5)
    # ... and at the end of epoch 3, the last: the rate the fit leaves (as ReduceLROnPlateau's).
    assert [e.step for e in dash.history.events if e.source == "plateau"] == [16, 24, 32]
    assert dash.learning_rate == pytest.approx(expected[-1] * 0.1, rel=1e-5)


def test_a_reduction_at_the_epoch_where_early_stopping_ends_the_fit_is_the_rate_it_leaves() -> None:
    """Both rules fire at the end of epoch 1; EarlyStopping (after the session's callback) ends
    the fit there. As with Keras's ReduceLROnPlateau before it, the optimizer is left at the
    reduced rate, the one a next fit starts at; the event says so at the step after the last."""
    import keras

    import lrwidgets as lrw

    x, y = regression_data(320)
    args = dict(factor=0.5, patience=1, min_delta=1e6)
    fit = dict(epochs=6, batch_size=32, validation_split=0.25, verbose=0)
    reference = linear_model(keras.optimizers.SGD(0.01))
    stop = dict(monitor="val_loss", patience=1, min_delta=1e6)
    rlrop = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", **args)
    reference.fit(x, y, callbacks=[rlrop, keras.callbacks.EarlyStopping(**stop)], **fit)
    model = linear_model(keras.optimizers.SGD(0.01))
    session = lrw.TrainingSession(model)
    plateau = lrw.schedules.ReduceOnPlateau(0.01, **args)
    stopper = keras.callbacks.EarlyStopping(**stop)
    history = session.fit(x, y, schedule=plateau, callbacks=[stopper], **fit).wait(timeout=60)
    assert len(history.history["loss"]) == 2  # stopped at the end of epoch 1
    np.testing.assert_allclose(session.history.learning_rate, 0.01, rtol=1e-6)
    (event,) = [e for e in session.history.events if e.source == "plateau"]
    assert event.step == 16 == session.history.num_steps and event.value == pytest.approx(0.005)
    assert event.fit == 1 == session.history.num_fits  # the step after the last: the next fit's first
    after = float(keras.ops.convert_to_numpy(reference.optimizer.learning_rate))
    assert after == pytest.approx(0.005)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(after)

    # Without the stop, the same reduction is recorded at the first step that uses it (and the
    # last epoch's at the step after the fit's last).
    session = lrw.TrainingSession(linear_model(keras.optimizers.SGD(0.01)))
    plateau = lrw.schedules.ReduceOnPlateau(0.01, factor=0.5, patience=1, min_delta=1e6)
    session.fit(x, y, epochs=3, batch_size=32, validation_split=0.25, schedule=plateau).wait(timeout=60)
    event, last = [e for e in session.history.events if e.source == "plateau"]
    assert event.step == 16 and event.epoch == 1 and session.history.learning_rate[16] == pytest.approx(0.005)
    assert last.step == 24 == session.history.num_steps and session.learning_rate == pytest.approx(0.0025)

    # A rate set after the reduction, at the same epoch's end (a callback after the session's):
    # the reduction is recorded first, as made, and the rate set last is the one used.
    session = lrw.TrainingSession(linear_model(keras.optimizers.SGD(0.01)))

    class SetRate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if epoch == 1:
                session.submit(lambda model: None, "noted")
                session.set_learning_rate(1e-4)

    plateau = lrw.schedules.ReduceOnPlateau(0.01, factor=0.5, patience=1, min_delta=1e6)
    session.fit(x, y, epochs=3, batch_size=32, validation_split=0.25, schedule=plateau, callbacks=[SetRate()]).wait(
        timeout=60
    )
    changes = [(e.step, e.source or e.message, e.value) for e in session.history.events if e.kind != "info"]
    assert changes == [
        (16, "plateau", pytest.approx(0.005)),
        (15, "noted", None),  # an action is recorded at the last step taken
        (16, "user", pytest.approx(1e-4)),
        (24, "plateau", pytest.approx(5e-5)),  # the last epoch's end: the rate the fit leaves
    ]
    # A fit of `callbacks=[session.callback]` after it does not take the session fit's validation.
    assert session.controller.driver.validation_freq == 1
    session.model.fit(x, y, epochs=1, batch_size=32, callbacks=[session.callback], verbose=0)
    assert session.controller.driver.validation_freq is None
    np.testing.assert_allclose(session.history.learning_rate[16:24], 1e-4, rtol=1e-6)
    np.testing.assert_allclose(session.history.learning_rate[24:], 5e-5, rtol=1e-6)


def test_designer_edit_during_a_fit_replans_from_the_current_step() -> None:
    import lrwidgets as lrw
    from tests.helpers import wait_for

    x, y = regression_data(64 * 32)
    dash = lrw.TrainingDashboard(linear_model())
    designer = lrw.ScheduleDesigner(
        kind="exponential", initial_learning_rate=1e-3, decay_steps=64, decay_rate=0.9, epochs=20, steps_per_epoch=64
    )
    run = dash.fit(x, y, epochs=20, batch_size=32, schedule=designer)
    wait_for(lambda: dash.history.num_steps >= 20)
    old = designer.schedule
    designer.update(decay_rate=0.5)  # as a slider edit would
    new = designer.schedule
    wait_for(lambda: any(e.source == "designer" for e in dash.history.events))
    k = next(e for e in dash.history.events if e.source == "designer").step
    wait_for(lambda: dash.history.num_steps >= k + 10)
    run.stop()
    run.wait(timeout=60)
    lr = dash.history.learning_rate
    n = len(lr)
    np.testing.assert_allclose(lr[:k], old(np.arange(k)), rtol=1e-5)
    np.testing.assert_allclose(lr[k:], new(np.arange(k, n)), rtol=1e-5)
    plan_y = np.asarray(dash.plots.plan_mark.y)
    assert plan_y[-1] == pytest.approx(float(new(20 * 64 - 1)), rel=1e-4)  # the plan's tail follows the edit
    designer.update(decay_rate=0.7)  # after the fit: no longer steering, nothing recorded
    assert sum(e.source == "designer" for e in dash.history.events) == 1


def test_schedule_counts_batches_with_steps_per_execution() -> None:
    import keras

    if keras.backend.backend() == "torch":
        pytest.skip("Keras does not support steps_per_execution > 1 on torch")

    import lrwidgets as lrw

    x, y = regression_data(320)
    model = linear_model(keras.optimizers.SGD(0.05))
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", steps_per_execution=2)
    dash = lrw.TrainingDashboard(model)
    dash.fit(x, y, epochs=1, batch_size=32, shuffle=False, schedule=staircase).wait(timeout=60)
    # 10 batches in 5 calls: the rate set before call k is the schedule at batch 2k.
    np.testing.assert_allclose(dash.history.learning_rate, [staircase(2 * k) for k in range(5)], rtol=1e-6)


@pytest.mark.parametrize("steps_per_epoch", [None, 10])
def test_a_schedule_counts_the_batches_steps_per_execution_ran(steps_per_epoch: int | None) -> None:
    """10 batches an epoch at 3 a call. Data of 10 batches: Keras numbers the epoch's last call
    (batch 9 alone) as batch 11, and the schedule's step of each call is the batches run before it,
    from the second epoch on too (30 in all). `steps_per_epoch=10` on data of 40 batches: the data
    runs on across epochs, every call runs 3 batches (12 an epoch), and the schedule counts them all."""
    import keras

    if keras.backend.backend() == "torch":
        pytest.skip("Keras does not support steps_per_execution > 1 on torch")

    import lrwidgets as lrw

    x, y = regression_data(80 if steps_per_epoch is None else 320)
    model = linear_model(keras.optimizers.SGD(1e-3))
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse", steps_per_execution=3)
    session = lrw.TrainingSession(model)
    halving = lrw.schedules.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5)  # rate 0.5**step
    session.fit(x, y, epochs=3, batch_size=8, steps_per_epoch=steps_per_epoch, shuffle=False, schedule=halving).wait(
        timeout=60
    )
    steps = np.round(-np.log2(np.asarray(session.history.learning_rate, np.float64))).astype(int)
    per_epoch = 10 if steps_per_epoch is None else 12
    assert steps.tolist() == [e * per_epoch + b for e in range(3) for b in (0, 3, 6, 9)]
    assert session.fit_step == 3 * per_epoch == int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def test_every_step_trains_with_the_schedule_through_epochs_edits_and_live_changes() -> None:
    """The rate each step uses, read from the optimizer, is the schedule's, bit for bit in float32.

    Across epoch ends and the controller's 1024-step evaluation blocks, after a mid-fit
    ``replace_schedule`` (followed as designed from its step) and a live change (which scales the
    rest of the new schedule); the weights then match Keras's own in-graph schedule of those rates.
    """
    import keras

    import lrwidgets as lrw
    from lrwidgets.training import _state
    from tests.helpers import wait_for

    first = lrw.schedules.ExponentialDecay(0.02, decay_steps=40, decay_rate=0.5)
    second = lrw.schedules.CosineDecay(0.01, decay_steps=1500, alpha=0.1)
    x, y = regression_data(40 * 32)  # 40 steps an epoch
    model = linear_model(keras.optimizers.SGD(0.02))
    _, lr_variable = _state.steerable_optimizer(model)
    used: list[float] = []
    # The training thread waits at the ends of steps 50 and 70 while the test makes its change from
    # its own thread: however busy the machine, each lands at a known step, long before the end.
    reached = {50: threading.Event(), 70: threading.Event()}
    go = {50: threading.Event(), 70: threading.Event()}

    class Probe(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            used.append(_state.read_variable(self._model, lr_variable))  # the rate this step ran with
            if len(used) in reached:
                reached[len(used)].set()
                assert go[len(used)].wait(60)

    dash = lrw.TrainingDashboard(model)
    run = dash.fit(x, y, epochs=40, batch_size=32, shuffle=False, schedule=first, callbacks=[Probe()])
    assert reached[50].wait(120)
    dash.controller.replace_schedule(second, "designer")
    go[50].set()
    wait_for(lambda: any(e.source == "designer" for e in dash.history.events))
    k1 = next(e for e in dash.history.events if e.source == "designer").step
    assert reached[70].wait(120)
    dash.learning_rate = 3e-3
    go[70].set()
    run.wait(timeout=300)
    k2 = next(e for e in dash.history.events if e.source == "user").step
    n = 40 * 40
    assert 50 <= k1 < k1 + 20 <= k2 < n - 1100  # the new schedule's table is refilled at k1 + 1024

    steps = np.arange(n)
    expected = np.where(steps < k1, first(steps), second(steps))
    expected[k2] = 3e-3
    expected[k2 + 1 :] = second(steps[k2 + 1 :]) * (3e-3 / second(k2))
    assert len(used) == dash.history.num_steps == n
    np.testing.assert_array_equal(np.float32(used), expected.astype(np.float32))
    np.testing.assert_array_equal(dash.history.learning_rate, expected.astype(np.float32))

    rates = keras.ops.convert_to_tensor(expected.astype(np.float32))

    class Table(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step: object) -> object:
            return keras.ops.take(rates, keras.ops.cast(step, "int32"))

    reference = linear_model(keras.optimizers.SGD(Table()))
    reference.fit(x, y, epochs=40, batch_size=32, shuffle=False, verbose=0)
    np.testing.assert_allclose(kernel_of(model), kernel_of(reference), rtol=1e-5, atol=1e-7)


def test_a_plateau_in_mode_max_watches_an_accuracy_as_keras_does() -> None:
    """`mode="max"` watched `val_loss` (no `monitor` argument): the rate was cut each epoch while
    the model improved. It watches `val_accuracy` by default now, or the `monitor` named, and cuts
    the rate exactly when Keras's ReduceLROnPlateau on the same key does."""
    import keras
    from sklearn.datasets import load_digits

    import lrwidgets as lrw

    digits = load_digits()
    x, y = (digits.data[:640] / 16.0).astype("float32"), digits.target[:640].astype("int32")

    def model() -> Any:
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
        m.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return m

    args = dict(mode="max", factor=0.5, patience=1, min_delta=0.04)
    fit = dict(epochs=8, batch_size=64, shuffle=False, validation_split=0.25, verbose=0)
    reference = model()
    ref = reference.fit(x, y, callbacks=[keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", **args)], **fit)
    session = lrw.TrainingSession(model())
    history = session.fit(x, y, schedule=lrw.schedules.ReduceOnPlateau(0.05, **args), **fit).wait(timeout=60)
    np.testing.assert_allclose(history.history["learning_rate"], ref.history["learning_rate"], rtol=1e-6)
    # Cut when the accuracy rose by less than min_delta (the epochs differ by backend); each event
    # names `val_accuracy` (watching val_loss in mode max, the rate was cut at every epoch from the second).
    # The rates each epoch ran at, then the one the fit leaves (a cut at the last epoch's end).
    rates = [*ref.history["learning_rate"], float(keras.ops.convert_to_numpy(reference.optimizer.learning_rate))]
    assert session.learning_rate == pytest.approx(rates[-1], rel=1e-6)
    reductions = [e for e in session.history.events if e.source == "plateau"]
    assert len(reductions) == sum(a != b for a, b in itertools.pairwise(rates)) >= 1
    assert all("val_accuracy" in e.message for e in reductions)
    # With no validation data it watches `accuracy`, and says so once.
    fit.pop("validation_split")
    ref = model().fit(x, y, callbacks=[keras.callbacks.ReduceLROnPlateau(monitor="accuracy", **args)], **fit)
    session = lrw.TrainingSession(model())
    history = session.fit(x, y, schedule=lrw.schedules.ReduceOnPlateau(0.05, **args), **fit).wait(timeout=60)
    np.testing.assert_allclose(history.history["learning_rate"], ref.history["learning_rate"], rtol=1e-6)
    assert len([e for e in session.history.events if "watches `accuracy`" in e.message]) == 1


@pytest.mark.parametrize("scheduled", [False, True])
@pytest.mark.parametrize("mode", ["session", "callback"])
def test_a_rate_another_callback_sets_at_a_batch_end_is_recorded_from_the_next_batch(
    scheduled: bool, mode: str
) -> None:
    """A change made in another callback's `on_train_batch_end` was read only at the next epoch's
    start: the rest of the epoch was recorded at the old rate, the event dated there; under a
    schedule it was overwritten at the next batch, unrecorded. So was one made by a `submit` action."""
    import keras

    import lrwidgets as lrw
    from lrwidgets.training import _state

    x, y = regression_data(32 * 8)  # 32 steps an epoch
    model = linear_model(keras.optimizers.SGD(1e-3))
    _, variable = _state.steerable_optimizer(model)
    used: list[float] = []
    session = lrw.TrainingSession(model)
    reached, go = threading.Event(), threading.Event()

    class Drop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            used.append(_state.read_variable(self._model, variable))  # the rate this batch ran with
            if len(used) == 10:
                self.model.optimizer.learning_rate.assign(1e-4)
            if len(used) == 40:  # held while the test leaves an action that sets the rate
                reached.set()
                assert go.wait(60)

    def submit() -> None:
        assert reached.wait(120)
        session.submit(lambda m: m.optimizer.learning_rate.assign(5e-5), "by hand")  # for the next batch
        go.set()

    helper = threading.Thread(target=submit)
    helper.start()
    schedule = (lambda step: 1e-3 * 0.99**step) if scheduled else None
    if mode == "session":
        session.fit(x, y, epochs=2, batch_size=8, shuffle=False, schedule=schedule, callbacks=[Drop()]).wait(120)
    else:
        if scheduled:
            session.replace_schedule(schedule, "test")  # idle: the schedule of the fits to come
        model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, callbacks=[session.callback, Drop()])
    helper.join(60)
    np.testing.assert_array_equal(session.history.learning_rate, np.float32(used))
    changes = [(e.step, e.source) for e in session.history.events if e.kind == "learning_rate"]
    assert changes[:2] == [(10, "callback"), (40, "action")], changes
    if scheduled:  # the rest of the schedule scaled by as much (1e-4 / its rate at step 9)
        assert used[10] == pytest.approx(1e-4 * 0.99, rel=1e-5) and used[11] == pytest.approx(1e-4 * 0.99**2, rel=1e-5)
        first = next(e for e in session.history.events if e.source == "callback")
        assert first.value == pytest.approx(used[10], rel=1e-6)  # the event: a rate the step ran with
    else:
        assert used[11] == pytest.approx(1e-4, rel=1e-6) and used[-1] == pytest.approx(5e-5, rel=1e-6)


@pytest.mark.parametrize("other", ["scheduler", "plateau"])
def test_another_callbacks_relative_change_keeps_a_staircase_schedules_drops(other: str) -> None:
    """Keras's callbacks set a rate relative to the last batch's (`lr * 0.9`, ReduceLROnPlateau's
    `lr * factor`): the schedule is scaled by as much, its own drops kept. Setting the schedule to
    that rate at the next step cancelled a staircase's drop at the same epoch start."""
    import keras

    import lrwidgets as lrw

    x, y = regression_data(32)  # 4 batches an epoch of 8
    session = lrw.TrainingSession(linear_model(keras.optimizers.SGD(1e-2)))
    halving = lrw.schedules.ExponentialDecay(1e-2, decay_steps=4, decay_rate=0.5, staircase=True)
    if other == "scheduler":
        callback = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.9 if epoch else lr)
        expected = [0.01, 0.0045, 0.002025, 0.00091125]
    else:
        callback = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9)
        expected = [0.01, 0.005, 0.00125, 0.0003125]  # reductions at the ends of epochs 1 and 2
    session.fit(x, y, epochs=4, batch_size=8, shuffle=False, schedule=halving, callbacks=[callback]).wait(60)
    rates = session.history.learning_rate.reshape(4, 4)
    np.testing.assert_allclose(rates[:, 0], expected, rtol=1e-5)
    assert np.all(rates == rates[:, :1])  # each epoch at one rate


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_rate_variable_of_16_bits_rounds_what_is_written_without_that_being_read_as_a_change(dtype: str) -> None:
    """With `keras.config.floatx()` at float16 or bfloat16 the optimizer's rate is a variable of that dtype: 3e-3
    is held as 0.00299 in bfloat16. Read back at each epoch's start, that rounding was taken for another callback's
    change: an event at every epoch and the schedule's rest scaled by the rounding each time (its rates drifting
    from the schedule's). Another callback's real change is still seen."""
    import keras

    import lrwidgets as lrw
    from lrwidgets.training import _state

    with floatx(dtype):
        x, y = regression_data(64)  # 8 batches an epoch
        model = linear_model(keras.optimizers.SGD(3e-3))
        _, variable = _state.steerable_optimizer(model)
        assert keras.backend.standardize_dtype(variable.dtype) == dtype
        session = lrw.TrainingSession(model)
        halve = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch == 2 else lr)

        def schedule(step: int) -> float:
            return 3e-3 * 0.97**step

        session.fit(x, y, epochs=4, batch_size=8, shuffle=False, schedule=schedule, callbacks=[halve]).wait(60)
        assert session.run.exception is None
        changes = [(e.step, e.source) for e in session.history.events if e.kind == "learning_rate"]
        assert changes == [(16, "callback")], changes
        rates = session.history.learning_rate
        np.testing.assert_allclose(rates[:16], [schedule(s) for s in range(16)], rtol=1e-6)
        np.testing.assert_allclose(rates[16:], [0.5 * schedule(s) for s in range(16, 32)], rtol=1e-2)
        scale = rates[16:] / np.float32([schedule(s) for s in range(16, 32)])
        np.testing.assert_allclose(scale, scale[0], rtol=1e-6)  # one scaling, not one an epoch
        last = float(rates[-1])
        assert session.learning_rate == pytest.approx(last, rel=1e-6)  # idle: the rate as set, not as rounded
        session.learning_rate = _state.held(variable, last)  # the rate the variable holds already
        assert [e.kind for e in session.history.events].count("learning_rate") == 1


def test_a_16_bit_rate_variable_keeps_the_rate_as_set_through_a_fit_and_a_request_it_holds_already() -> None:
    """bfloat16 holds 3e-3 as 0.00299: a fit's start took that rounding for the rate (the history recorded
    0.00299, not the 3e-3 set), and a request for the rate in effect, compared in float32, was recorded as a
    change although the variable did not change."""
    import keras

    import lrwidgets as lrw

    with floatx("bfloat16"):
        x, y = regression_data(64)  # 8 batches an epoch
        session = lrw.TrainingSession(linear_model(keras.optimizers.SGD(1e-2)))
        session.learning_rate = 3e-3  # idle: written (1e-2 held before)

        class Ask(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: object = None) -> None:
                if epoch == 0:
                    session.learning_rate = 3.001e-3  # held as 0.00299 too

        session.fit(x, y, epochs=2, batch_size=8, shuffle=False, callbacks=[Ask()]).wait(60)
        np.testing.assert_allclose(session.history.learning_rate, 3e-3, rtol=1e-6)
        changes = [(e.value, e.source) for e in session.history.events if e.kind == "learning_rate"]
        assert changes == [(pytest.approx(3e-3), "user")], changes  # the idle one only


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_a_warm_up_callback_changing_a_16_bit_rate_each_batch_is_one_run_of_changes(dtype: str) -> None:
    """A callback that sets the rate at each batch (a linear warm-up) is one run of changes: an event at its
    first change, one when it ends. A 16-bit variable holds neighbouring steps' rates as the same value
    (bfloat16 holds 1.0e-3 and 1.005e-3 alike): each such step was read as no change and ended the run, 128
    events in 200 steps against 2 in float32. The history records each step's rate as the callback set it."""
    import keras

    import lrwidgets as lrw

    def warm_up(step: int) -> float:
        return 1e-3 + 1e-3 * step / 200

    class WarmUp(keras.callbacks.Callback):
        steps = 0

        def on_train_batch_begin(self, batch: int, logs: object = None) -> None:
            self.model.optimizer.learning_rate = warm_up(self.steps)
            self.steps += 1

    with floatx(dtype):
        x, y = regression_data(8 * 200)
        session = lrw.TrainingSession(linear_model(keras.optimizers.SGD(1e-3)))
        session.fit(x, y, epochs=1, batch_size=8, shuffle=False, callbacks=[WarmUp()]).wait(120)
    assert session.run.exception is None
    changes = [(e.step, e.value) for e in session.history.events if e.kind == "learning_rate"]
    assert changes == [(1, pytest.approx(warm_up(1))), (199, pytest.approx(warm_up(199)))], changes
    rates = session.history.learning_rate
    np.testing.assert_allclose(rates[1:], [warm_up(s) for s in range(1, 200)], rtol=1e-6)
    assert rates[0] == pytest.approx(1e-3, rel=1e-2)  # the rate compiled, as the variable holds it


@pytest.mark.parametrize("case", ["held-as-0", "held-as-inf", "through-a-rate-held-exactly"])
def test_a_callbacks_16_bit_rate_is_recorded_as_the_steps_run_with_it(case: str) -> None:
    """A callback's rate that a 16-bit variable holds as 0 or inf (float16: 1e-8, 1e5) is recorded as 0 or
    inf, what the steps run with (the rate asked was recorded: the history said 1e-8 while no weight moved).
    A warm-up that passes through a rate the variable holds exactly (bfloat16: 2**-10) stays one run of
    changes at the rates asked (its next steps, held alike, were recorded at the old rate: three events)."""
    import keras

    import lrwidgets as lrw

    def rate(step: int) -> float | None:
        if case == "through-a-rate-held-exactly":
            return 2.0**-10 * (1 + 0.001 * step)
        return (1e-8 if case == "held-as-0" else 1e5) if step >= 3 else None

    class SetRate(keras.callbacks.Callback):
        steps = 0

        def on_train_batch_begin(self, batch: int, logs: object = None) -> None:
            asked = rate(self.steps)
            if asked is not None:
                self.model.optimizer.learning_rate = asked
            self.steps += 1

    with floatx("bfloat16" if case == "through-a-rate-held-exactly" else "float16"):
        x, y = regression_data(8 * 16)
        session = lrw.TrainingSession(linear_model(keras.optimizers.SGD(1e-3)))
        session.fit(x, y, epochs=1, batch_size=16, shuffle=False, callbacks=[SetRate()]).wait(120)
    rates = session.history.learning_rate
    if case == "through-a-rate-held-exactly":
        np.testing.assert_allclose(rates, [rate(s) for s in range(8)], rtol=1e-6)
        changes = [e.step for e in session.history.events if e.kind == "learning_rate"]
        assert changes == [0, 7], changes  # from the 1e-3 compiled to 2**-10, then one run
        return
    held = 0.0 if case == "held-as-0" else math.inf
    assert len(rates) > 3 and set(rates[3:].tolist()) == {held}  # (inf: the loss is NaN at once, the fit stops)
    assert session.learning_rate == held
    assert [e.value for e in session.history.events if e.kind == "learning_rate"] == [held]


def test_a_rate_a_16_bit_rate_variable_would_hold_as_0_or_inf_is_refused_by_name() -> None:
    """float16 holds 2e-8 as 0 (and 1e5 as inf): such a rate was accepted, the fit then moved no weight and
    `session.learning_rate` read 2e-8. Refused now, naming the argument, and nothing changes."""
    import keras

    import lrwidgets as lrw

    with floatx("float16"):
        session = lrw.TrainingSession(linear_model(keras.optimizers.SGD(1e-2)))
        for value in (2e-8, 1e5):
            with pytest.raises(ValueError, match=r"Argument `learning_rate` must be a rate the optimizer's float16"):
                session.learning_rate = value
        assert session.learning_rate == pytest.approx(1e-2, rel=1e-3)
        assert not [e for e in session.history.events if e.kind == "learning_rate"]
        session.learning_rate = 1e-4  # one it can hold
        assert session.learning_rate == 1e-4


@pytest.mark.parametrize("how", ["setter", "optimizer.assign"])
@pytest.mark.parametrize("mode", ["session", "callback"])
def test_beside_a_per_batch_callback_the_rate_is_read_only_after_its_variable_is_assigned(
    mode: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beside another callback acting at each batch the rate was read before every batch, to see whether that
    callback changed it: ~50 us a batch on TensorFlow (6% of a small model's step). It is read when its variable
    was assigned since the last read; a change made with `optimizer.learning_rate = ...`, or with Keras's
    `optimizer.assign(variable, value)` (which on TensorFlow writes the tf.Variable under the Keras one), still
    applies from the next batch. The variable's and the optimizer's `assign` are left as they were when the fit
    ends, also when it fails."""
    import keras

    import lrwidgets as lrw
    from lrwidgets.training import _state

    reads = []
    read = _state.read_variable
    monkeypatch.setattr(_state, "read_variable", lambda *a: reads.append(1) or read(*a))
    x, y = regression_data(16 * 8)  # 16 batches an epoch
    model = linear_model(keras.optimizers.SGD(1e-3))
    _, variable = _state.steerable_optimizer(model)
    session = lrw.TrainingSession(model)

    class Logger(keras.callbacks.Callback):
        def __init__(self, fail_at: int | None = None) -> None:
            super().__init__()
            self.seen, self.fail_at = 0, fail_at

        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            self.seen += 1
            marks.append(len(reads))  # the reads before each batch end
            if self.seen == 21 and how == "setter":
                self.model.optimizer.learning_rate = 5e-4
            elif self.seen == 21:
                self.model.optimizer.assign(self.model.optimizer.learning_rate, 5e-4)
            if self.seen == self.fail_at:
                raise RuntimeError("the logger failed")

    def fit(logger: Logger) -> None:
        with pytest.raises(RuntimeError, match="logger failed") if logger.fail_at else contextlib.nullcontext():
            if mode == "session":
                session.fit(x, y, epochs=2, batch_size=8, shuffle=False, callbacks=[logger]).wait(60)
            else:
                model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, callbacks=[session.callback, logger])

    marks: list[int] = []
    fit(Logger())
    rates = session.history.learning_rate
    np.testing.assert_allclose(rates, [1e-3] * 21 + [5e-4] * 11, rtol=1e-6)
    changes = [(e.step, e.source) for e in session.history.events if e.kind == "learning_rate"]
    assert changes == [(21, "callback")], changes
    assert marks[-1] - marks[0] == 2, marks  # between the first batch and the last: epoch 1's start, the change
    assert "assign" not in variable.__dict__
    fit(Logger(fail_at=5))
    assert session.history.num_fits == 2 and not session.running
    assert not {"assign", "assign_add", "assign_sub"} & {*variable.__dict__, *model.optimizer.__dict__}


@pytest.mark.parametrize("scheduled", [False, True])
def test_a_rate_written_under_keras_is_read_at_the_epochs_start_or_before_a_schedules_next_write(
    scheduled: bool,
) -> None:
    """TensorFlow: a change written to the tf.Variable under the Keras one (graph code, a `tf.function`, writes
    there) bypasses Keras's `assign`: with no schedule it is read at the next epoch's start; under a schedule,
    whose next write would replace it unseen, the rate is read before each batch, so it is not lost."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the backend's own variable is written under Keras's on TensorFlow")
    import lrwidgets as lrw
    from lrwidgets.training import _state

    x, y = regression_data(16 * 8)  # 16 batches an epoch
    model = linear_model(keras.optimizers.SGD(1e-3))
    _, variable = _state.steerable_optimizer(model)
    session = lrw.TrainingSession(model)

    class Halve(keras.callbacks.Callback):
        seen = 0

        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            self.seen += 1
            if self.seen == 5:
                variable.value.assign(0.5 * variable.value.numpy())

    schedule = (lambda step: 1e-3 * 0.99**step) if scheduled else None
    session.fit(x, y, epochs=2, batch_size=8, shuffle=False, schedule=schedule, callbacks=[Halve()]).wait(60)
    changes = [e.step for e in session.history.events if e.kind == "learning_rate"]
    assert changes == ([5] if scheduled else [16]), changes
    if scheduled:  # the rest of the schedule scaled by as much
        np.testing.assert_allclose(session.history.learning_rate[5:], 0.5 * 1e-3 * 0.99 ** np.arange(5, 32), rtol=1e-5)


def test_a_fit_a_schedule_drives_says_what_its_steps_are_when_the_optimizer_accumulates_gradients() -> None:
    """With `gradient_accumulation_steps=4` the optimizer applies an update every 4 batches, with the rate of the
    batch that applies it, and Keras's own schedules count updates: a schedule here counts batches, 4 times as fast.
    A fit a schedule drives says so as it starts; one that no schedule drives does not."""
    import keras

    import lrwidgets as lrw

    x, y = regression_data(64)  # 8 batches an epoch
    model = linear_model(keras.optimizers.SGD(1e-2, gradient_accumulation_steps=4))
    session = lrw.TrainingSession(model)

    def halving(step: int) -> float:
        return 1e-2 * 0.5 ** (step // 4)

    session.fit(x, y, epochs=2, batch_size=8, shuffle=False).wait(60)
    session.fit(x, y, epochs=2, batch_size=8, shuffle=False, schedule=halving).wait(60)
    notes = [(e.fit, e.message) for e in session.history.events if "gradient_accumulation_steps=4" in e.message]
    assert [fit for fit, _ in notes] == [1], notes
    assert "the schedule counts batches, 4 an update" in notes[0][1]
    rates = session.history.learning_rate[16:]
    np.testing.assert_allclose(rates, [halving(s) for s in range(16)], rtol=1e-6)  # a rate a batch, as given
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 8  # 32 batches, 8 updates


@pytest.mark.parametrize("wrapper", ["LossScaleOptimizer", "LayerwiseOptimizer"])
def test_an_inner_optimizers_assign_of_the_rate_is_seen_at_the_next_batch_under_a_wrapper(wrapper: str) -> None:
    """TensorFlow: `inner.assign(rate, value)` writes the tf.Variable under the Keras one, seen through the
    optimizer's own `assign`. A `LayerwiseOptimizer` patches its inner optimizer's writes for each step and took
    them all off after it, the rate's watch with them: the change was read at the next epoch's start."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("elsewhere Keras's optimizer.assign calls the variable's own assign")
    import lrwidgets as lrw

    x, y = regression_data(16 * 8)  # 16 batches an epoch
    inner = keras.optimizers.SGD(1e-3, momentum=0.9)  # momentum: the layerwise step patches the writes
    opt = (
        keras.optimizers.LossScaleOptimizer(inner) if wrapper == "LossScaleOptimizer" else lrw.LayerwiseOptimizer(inner)
    )
    session = lrw.TrainingSession(linear_model(opt))

    class SetInner(keras.callbacks.Callback):
        seen = 0

        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            self.seen += 1
            if self.seen == 5:
                inner.assign(inner.learning_rate, 5e-4)

    session.fit(x, y, epochs=2, batch_size=8, shuffle=False, callbacks=[SetInner()]).wait(60)
    changes = [e.step for e in session.history.events if e.kind == "learning_rate"]
    assert changes == [5], changes
    np.testing.assert_allclose(session.history.learning_rate[5:], 5e-4, rtol=1e-6)
    assert not {"assign", "assign_add", "assign_sub"} & set(vars(inner))
