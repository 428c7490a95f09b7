"""LRRangeTest on real Keras models: the sweep as a TrainingSession fit, the bitwise restore after
every way of ending, n_runs, refusals, apply; the LRFinder widget and the dashboard's Find LR."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from typing import Any

import numpy as np
import pytest

from tests.helpers import linear_model, regression_data

pytestmark = pytest.mark.keras


def bn_model(optimizer=None, dropout: bool = True, fitted: bool = True, metrics=None):
    """Dense + BatchNormalization + Dropout, trained one epoch (unless not ``fitted``): moments,
    moving statistics and the dropout seed state all hold values a restore must bring back."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu", name="hidden"),
            keras.layers.BatchNormalization(name="norm"),
            *([keras.layers.Dropout(0.1, name="drop")] if dropout else []),
            keras.layers.Dense(1, name="out"),
        ]
    )
    model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3), loss="mse", metrics=metrics)
    if fitted:
        x, y = regression_data(512)
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    return model


def rate_of(model) -> float:
    import keras

    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def snapshot(model):
    from lrwidgets.training.finder import ModelState

    return ModelState(model)


def test_the_optimizers_a_custom_step_keeps_as_attributes_are_put_back() -> None:
    """keras.io's GAN steps `self.d_optimizer` and `self.g_optimizer` in its `train_step`: the range
    test put back `model.optimizer` only, and a fit after it differed from one without it. One built
    during the test (the model never fit) gets the values a new build gives."""
    import keras

    from lrwidgets.training.model_state import ModelState

    model = bn_model()
    hidden, out = model.get_layer("hidden").trainable_variables, model.get_layer("out").trainable_variables
    built = keras.optimizers.Adam(1e-2)
    unbuilt = keras.optimizers.Adagrad(0.1, initial_accumulator_value=0.25)  # state that does not start at 0
    model.own = {"d": built}  # in a dict attribute too
    model.g_optimizer = unbuilt

    def step(optimizer, variables) -> None:
        optimizer.apply([keras.ops.ones(v.shape) for v in variables], variables)

    step(built, hidden)
    before = [np.array(keras.ops.convert_to_numpy(v)) for v in built.variables]
    state = ModelState(model)
    for _ in range(3):
        step(built, hidden)
        step(unbuilt, out)
    moved = state.differences()
    assert built.iterations.path in moved and any("momentum" in p for p in moved), moved
    state.restore()
    assert state.differences() == []
    assert all(np.array_equal(a, keras.ops.convert_to_numpy(v)) for a, v in zip(before, built.variables, strict=True))
    assert unbuilt.built and int(keras.ops.convert_to_numpy(unbuilt.iterations)) == 0
    accumulators = [keras.ops.convert_to_numpy(v) for v in unbuilt.variables[2:]]
    assert accumulators and all(np.all(a == 0.25) for a in accumulators)


def test_a_sweep_runs_the_ramp_exactly_and_restores_every_variable() -> None:
    from lrwidgets.core.finder import Ramp
    from lrwidgets.training import LRRangeTest

    model = bn_model()
    before = snapshot(model)
    iterations = int(model.optimizer.iterations.numpy())
    x, y = regression_data(1024)
    test = LRRangeTest(model, start_learning_rate=1e-5, end_learning_rate=1e-3, num_steps=20)
    suggestions = test.run(x, y, batch_size=32).wait(120)
    assert test.reason == "finished" and test.sweeps[0].message.startswith("all 20 steps were run; no clear fall")
    # Every step's rate as used, from step 0 on: the exact ramp (as the float32 the optimizer holds).
    np.testing.assert_array_equal(test.learning_rates, Ramp(1e-5, 1e-3, 20)(np.arange(20)).astype(np.float32))
    assert len(test.losses) == len(test.smoothed_losses) == 20 and np.isfinite(test.losses).all()
    from lrwidgets.core.finder import SMOOTHING, smooth_losses

    # The curve at the default smoothing (the core's: 0.95), the one the suggestions are read from.
    assert test.smoothing == SMOOTHING
    np.testing.assert_array_equal(test.smoothed_losses, smooth_losses(test.losses, SMOOTHING))
    assert before.differences() == []
    assert int(model.optimizer.iterations.numpy()) == iterations
    assert model.stop_training is False  # the stop rule's, put back
    # Rates this low move the loss less than its batch-to-batch noise: nothing is
    # suggested, and the message says why (not "too few steps").
    assert suggestions == {} and test.suggestion is None and "too few steps" not in test.message
    assert "this sweep suggests no rate; widen the range" in test.message
    frame = test.to_dataframe()
    assert list(frame.columns) == ["sweep", "step", "learning_rate", "loss", "smoothed_loss"] and len(frame) == 20


class InterruptOnce:
    """Stands in for the run's done-event: the first wait raises KeyboardInterrupt (a kernel interrupt)."""

    def __init__(self, event: threading.Event) -> None:
        self._event = event
        self._raised = False

    def wait(self, timeout=None):
        if not self._raised:
            self._raised = True
            raise KeyboardInterrupt
        return self._event.wait(timeout)

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


def PyBatches(x, y):
    import keras

    class Batches(keras.utils.PyDataset):
        def __len__(self) -> int:
            return len(x) // 32

        def __getitem__(self, i: int):
            return x[i * 32 : (i + 1) * 32], y[i * 32 : (i + 1) * 32]

    return Batches()


def failing_data(x, y, at: int):
    import keras

    class Failing(keras.utils.PyDataset):
        def __len__(self) -> int:
            return len(x) // 32

        def __getitem__(self, i: int):
            if i == at:
                raise ValueError("a broken batch")
            return x[i * 32 : (i + 1) * 32], y[i * 32 : (i + 1) * 32]

    return Failing()


@pytest.mark.parametrize("metrics", [None, ["mae", "mae"]], ids=["loss-only", "with-metrics"])
def test_a_model_of_several_outputs_never_fit_logs_each_outputs_loss_after_the_finder(metrics) -> None:
    """Its compiled loss tracks each output's loss: the finder must not leave it to be built again
    (a second set of trackers, logged as 0). With metrics, the fit after it is exact too."""
    import keras

    from lrwidgets.training import LRRangeTest

    x, y = regression_data(256)

    def train(find: bool) -> tuple[dict, list[str], list[np.ndarray]]:
        keras.utils.set_random_seed(0)
        inputs = keras.Input((8,))
        model = keras.Model(
            inputs, [keras.layers.Dense(1, name="o1")(inputs), keras.layers.Dense(1, name="o2")(inputs)]
        )
        model.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mse", metrics=metrics)
        if find:
            LRRangeTest(model, num_steps=20).run(x, [y, y], batch_size=32).wait(120)
        logs = model.fit(x, [y, y], epochs=2, batch_size=32, verbose=0).history
        weights = [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.variables]
        return logs, [m.name for m in model.metrics], weights

    (logs, names, weights), (logs_after, names_after, weights_after) = train(False), train(True)
    assert names_after == names
    assert logs_after.keys() == logs.keys() and min(min(v) for v in logs_after.values()) > 0
    if metrics is not None:
        assert logs_after == logs
        assert all(a.tobytes() == b.tobytes() for a, b in zip(weights, weights_after, strict=True))


@pytest.mark.parametrize("data", ["arrays", "generator", "tf.data"])
def test_with_steps_per_execution_each_recorded_step_runs_at_its_ramp_rate(data: str) -> None:
    """Keras records one step a call of N batches: step i of the sweep runs at ramp(i), across an
    epoch whose last call is shorter (10 batches an epoch, 3 a call), and for data of unknown length."""
    import keras

    from lrwidgets.training import LRRangeTest

    if keras.backend.backend() == "torch":
        pytest.skip("Keras requires steps_per_execution=1 on torch")
    x, y = regression_data(160)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse", steps_per_execution=3)
    test = LRRangeTest(model, start_learning_rate=1e-6, end_learning_rate=1e-3, num_steps=12)

    def batches():  # type: ignore[no-untyped-def]
        while True:
            for k in range(0, 160, 16):
                yield x[k : k + 16], y[k : k + 16]

    if data == "tf.data":
        tf = pytest.importorskip("tensorflow")
        run = test.run(tf.data.Dataset.from_tensor_slices((x, y)).batch(16))  # 10 batches, its length known
    else:
        run = test.run(x, y, batch_size=16) if data == "arrays" else test.run(batches())
    run.wait(120)
    assert test.reason == "finished" and len(test.learning_rates) == 12
    np.testing.assert_array_equal(test.learning_rates, np.float32(test.ramp(np.arange(12))))


@pytest.mark.parametrize("counted", [0, 1], ids=["at-an-update", "mid-update"])
def test_with_gradient_accumulation_each_step_is_an_update_of_its_batches_at_one_rate(counted: int) -> None:
    """With `gradient_accumulation_steps=4` the optimizer updates every 4 batches, with the rate of the batch
    that applies it. The ramp rose each batch: 3 of 4 rates were never applied and each update ran at the
    rate of its last batch, its loss paired with four rates. Now step i of the sweep is the i-th update, its
    4 batches at ramp(i), its loss their mean: the same losses as a plain fit of batches 4 times larger at
    the ramp's rates. An optimizer that counted batches before the test (`counted`) is taken back to an
    update's start, its accumulated gradient emptied: its first update is the sweep's own 4 batches."""
    import keras

    from lrwidgets.training import LRRangeTest

    x, y = regression_data(128)  # 8 batches of 16 an epoch: 2 updates

    def make(every: int | None) -> Any:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(1e-3, gradient_accumulation_steps=every), loss="mse")
        return model

    model = make(4)
    if counted:  # one batch at rate 0: the weights as they were, a gradient accumulated, the count at 1
        model.optimizer.learning_rate = 0.0
        model.train_on_batch(x[:16], 10 * y[:16])
        model.optimizer.learning_rate = 1e-3
    before = [np.asarray(v).copy() for v in model.optimizer.variables]
    test = LRRangeTest(model, start_learning_rate=1e-4, end_learning_rate=1e-1, num_steps=12)
    test.run(x, y, batch_size=16, shuffle=False).wait(120)
    assert test.reason == "finished" and len(test.learning_rates) == 12, test.message
    np.testing.assert_array_equal(test.learning_rates, np.float32(test.ramp(np.arange(12))))
    reference = make(None)
    losses = []
    for i in range(12):  # a plain fit of batches of 64, one an update, at the ramp's rates
        reference.optimizer.learning_rate = float(test.ramp(i))
        chunk = slice(64 * (i % 2), 64 * (i % 2) + 64)
        reference.reset_metrics()  # (Keras 3.11's `train_on_batch` gives the mean over its calls since a reset)
        losses.append(float(reference.train_on_batch(x[chunk], y[chunk])))
    np.testing.assert_allclose(test.losses, losses, rtol=1e-4)
    if counted:  # the count and the gradient accumulated before, put back
        after = [np.asarray(v) for v in model.optimizer.variables]
        assert all(a.tobytes() == b.tobytes() for a, b in zip(before, after, strict=True))


def test_with_gradient_accumulation_under_a_loss_scale_each_step_is_the_update_keras_applied() -> None:
    """Under a loss scale (mixed precision's `LossScaleOptimizer`) a batch whose gradients overflow is
    skipped, not counted by the optimizer: the updates' batches moved off the sweep's grid of 4 and most
    updates ran their batches at two rates, recorded at another. Each row is now numbered by the
    optimizer's own count: a step is the update Keras applied, at the rate of the batch that applied it."""
    import keras

    from lrwidgets.training import LRRangeTest, _range_sweep, _state

    x, y = regression_data(128)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    inner = keras.optimizers.SGD(1e-3, gradient_accumulation_steps=4)
    model.compile(optimizer=keras.optimizers.LossScaleOptimizer(inner, initial_scale=2.0**126), loss="mse")
    applied: list[float] = []  # the rate of each batch that applied an update, as Keras counted them
    counts = [0]
    end = _range_sweep.SweepStopper.on_train_batch_end

    def spied(self: Any, batch: int, logs: Any = None) -> None:
        count = _state.optimizer_steps(self.model, self.model.optimizer) or 0
        if count != counts[-1] and count % 4 == 0:
            applied.append(float(self._history.last("learning_rate")))
        counts.append(count)
        end(self, batch, logs)

    _range_sweep.SweepStopper.on_train_batch_end = spied  # type: ignore[method-assign]
    try:
        test = LRRangeTest(model, start_learning_rate=1e-4, end_learning_rate=1e-1, num_steps=12)
        test.run(x, 100 * y, batch_size=16, shuffle=False).wait(120)
    finally:
        _range_sweep.SweepStopper.on_train_batch_end = end  # type: ignore[method-assign]
    assert counts.count(0) > 2  # batches skipped at the start (the scale too large), not counted
    assert test.reason == "finished" and len(test.learning_rates) == 12, test.message
    np.testing.assert_array_equal(test.learning_rates, np.float32(applied[:12]))


def test_a_range_test_refuses_steps_per_execution_with_gradient_accumulation() -> None:
    """One rate is set a call of `steps_per_execution` batches: an update every `gradient_accumulation_steps`
    batches cannot be a step of its own; refused by name, nothing run."""
    import keras

    from lrwidgets.training import LRRangeTest

    if keras.backend.backend() == "torch":
        pytest.skip("Keras requires steps_per_execution=1 on torch")
    x, y = regression_data(128)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(
        optimizer=keras.optimizers.SGD(1e-3, gradient_accumulation_steps=4), loss="mse", steps_per_execution=2
    )
    before = model.get_weights()
    test = LRRangeTest(model, start_learning_rate=1e-4, end_learning_rate=1e-1, num_steps=12)
    with pytest.raises(ValueError, match=r"Argument `model` is compiled with steps_per_execution=2 and its optimizer"):
        test.run(x, y, batch_size=16)
    assert not test.running and not test.sweeps and int(model.optimizer.iterations) == 0
    assert all(a.tobytes() == b.tobytes() for a, b in zip(before, model.get_weights(), strict=True))


@pytest.mark.parametrize("ending", ["diverged", "nan", "stopped", "run.stop", "error", "interrupt"])
def test_every_way_of_ending_restores_bitwise(ending: str) -> None:
    from lrwidgets.training import LRRangeTest

    model = bn_model()
    before = snapshot(model)
    x, y = regression_data(2048)
    kwargs: dict = {"start_learning_rate": 1e-4, "end_learning_rate": 1e3, "num_steps": 60}
    if ending == "nan":
        kwargs.update(end_learning_rate=1e20, diverge_threshold=1e38)
    if ending in ("stopped", "run.stop", "interrupt"):
        kwargs.update(end_learning_rate=1e-3, num_steps=5000, update_interval=0.01)
    test = LRRangeTest(model, **kwargs)
    if ending == "stopped":
        test.subscribe(lambda: test.stop() if test.curves() and len(test.curves()[-1][1]) >= 5 else None)
    data = (failing_data(x, y, at=7),) if ending == "error" else (x, y)
    run = test.run(*data, batch_size=None if ending == "error" else 32)
    if ending == "interrupt":
        from tests.helpers import wait_for

        wait_for(lambda: bool(test.curves()) and len(test.curves()[-1][1]) >= 5)
        run._done = InterruptOnce(run._done)
        with pytest.raises(KeyboardInterrupt):
            run.wait()
        assert run.done
    elif ending == "run.stop":  # the handle's own stop (a TrainingRun's): it raised a TypeError
        from tests.helpers import wait_for

        wait_for(lambda: bool(test.curves()) and len(test.curves()[-1][1]) >= 5)
        run.stop()
        run.wait(120)
    elif ending == "error":
        # TensorFlow raises it wrapped in an InvalidArgumentError.
        with pytest.raises(Exception, match="a broken batch"):
            run.wait(120)
    else:
        run.wait(120)
    expected = {"interrupt": "stopped", "run.stop": "stopped"}.get(ending, ending)
    assert test.reason == expected, test.sweeps[-1].message
    assert test.restored and before.differences() == []
    if ending == "nan":
        assert not np.isfinite(test.losses[-1])
    if ending == "error":  # it failed at step 7: the failure is the reason given, not the steps' number
        assert test.suggestion is None and test.message.startswith("training failed:")
        assert "too few steps" not in test.message
        with pytest.raises(ValueError, match=r"(?s)There is no suggestion to apply: training failed: .*a broken batch"):
            test.apply(model)
    if ending in ("stopped", "run.stop", "interrupt"):
        assert 5 <= len(test.losses) < 5000
    if ending == "run.stop":  # a finished run's handle does not stop the next run of the test
        again = test.run(x, y, batch_size=32)
        run.stop()
        assert not test._stop_requested and not again.done
        test.stop()
        again.wait(120)


@pytest.mark.parametrize("fitted", [True, False], ids=["fitted-before", "never-fitted"])
def test_a_fit_after_the_finder_gives_the_same_weights_as_one_without(fitted: bool) -> None:
    """Also on a model never fit (compile, find, fit: the common order), whose first fit Keras
    begins by building the compiled loss and metrics from one pass of the data."""
    import keras

    x, y = regression_data(512)

    def train(find: bool) -> tuple[list[np.ndarray], dict]:
        from lrwidgets.training import LRRangeTest

        model = bn_model(fitted=fitted, metrics=["mae"])
        if find:
            test = LRRangeTest(model, num_steps=30, n_runs=2)
            test.run(x, y, batch_size=32).wait(120)
        # Shuffled: the batch order must be the same too.
        history = model.fit(x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=0).history
        return [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.variables], history

    (without, logs_without), (after, logs_after) = train(False), train(True)
    assert len(without) == len(after)
    for a, b in zip(without, after, strict=True):
        assert a.tobytes() == b.tobytes()
    assert logs_after == logs_without  # the metrics too


def test_a_fit_after_the_finder_draws_keras_global_random_numbers_as_one_without() -> None:
    """A noise layer that calls ``keras.random.normal`` with no seed draws from Keras's global
    ``SeedGenerator``: the test puts its state back (an audit's run on tensorflow: weights 0.035
    apart). jax refuses such ops in a traced step."""
    import keras

    if keras.backend.backend() == "jax":
        pytest.skip("jax traces no unseeded random op")

    class Noise(keras.layers.Layer):
        def call(self, inputs: Any, training: bool = False) -> Any:
            return inputs + 0.1 * keras.random.normal(keras.ops.shape(inputs)) if training else inputs

    x, y = regression_data(256)

    def train(find: bool, fitted: bool, batch_size: int) -> list[np.ndarray]:
        from lrwidgets.training import LRRangeTest

        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((x.shape[1],)), Noise(), keras.layers.Dense(8), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        if fitted:
            model.fit(x, y, epochs=1, batch_size=32, verbose=0)  # the global generator is made here
        if find:
            LRRangeTest(model, num_steps=20).run(x, y, batch_size=batch_size).wait(120)
        model.fit(x, y, epochs=1, batch_size=batch_size, shuffle=False, verbose=0)
        return [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.variables]

    # Fitted first (the generator is the test thread's); never fitted (compile, find, fit): then
    # the test's own fits traced the step, and the fit after it must trace its own, as without the
    # test; fitted first and found at another batch size: the test's fits trace the step again, in
    # their own thread, with the caller's generator (with one of their own, TensorFlow refused it).
    for fitted, batch_size in ((True, 32), (False, 32), (True, 24)):
        without, after = train(False, fitted, batch_size), train(True, fitted, batch_size)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(without, after, strict=True)), (fitted, batch_size)


def test_n_runs_repeat_from_the_same_weights_and_report_the_spread() -> None:
    from lrwidgets.training import LRRangeTest

    # No dropout: on torch an unseeded Dropout draws from torch's global generator, which runs on
    # from sweep to sweep (it is put back after the last).
    model = bn_model(dropout=False)
    before = snapshot(model)
    x, y = regression_data(1024)
    # Data in a fixed order (a PyDataset, unshuffled): every sweep starts from the
    # same weights, so the three curves are the same.
    same = LRRangeTest(model, start_learning_rate=1e-4, end_learning_rate=1.0, num_steps=30, n_runs=3)
    same.run(PyBatches(x, y), shuffle=False).wait(120)
    assert len(same.sweeps) == 3
    for sweep in same.sweeps[1:]:
        np.testing.assert_array_equal(sweep.losses, same.sweeps[0].losses)
    # Arrays: another batch order each sweep, other curves; each suggestion is their median, with the spread.
    other = LRRangeTest(model, start_learning_rate=1e-4, end_learning_rate=1.0, num_steps=30, n_runs=3)
    other.run(x, y, batch_size=32, shuffle=False).wait(120)
    assert not np.array_equal(other.sweeps[0].losses, other.sweeps[1].losses)
    assert not np.array_equal(other.sweeps[1].losses, other.sweeps[2].losses)
    for method, s in other.suggestion_details.items():
        runs = [sweep.suggestions[method].learning_rate for sweep in other.sweeps]
        assert s.runs == tuple(runs)
        assert s.learning_rate == pytest.approx(10 ** np.median(np.log10(runs)), rel=1e-12)
        assert s.spread == pytest.approx(np.ptp(np.log10(runs)))
        assert f"{s.spread:.2f} decade apart" in s.explanation
    assert before.differences() == []
    # The view: the first sweep in the legend's marks, the others drawn beside them, out of the legend.
    import lrwidgets as lrw

    view = lrw.LRFinder(other)
    np.testing.assert_array_equal(view.raw_mark.x, other.learning_rates)
    # one legend entry per kind of line, in the legend row; bqplot draws none
    assert view.legend.labels[:2] == ["loss (batch)", "loss (smoothed)"]
    assert not any(m.display_legend for m in view.figure.marks)
    assert view.raw_more.x.shape == (2, max(len(sweep.losses) for sweep in other.sweeps[1:]))
    for i, sweep in enumerate(other.sweeps[1:]):
        np.testing.assert_array_equal(view.raw_more.y[i][: len(sweep.losses)], sweep.losses)


def test_a_sweep_cut_short_is_left_out_of_the_suggestions_when_a_whole_one_is_there() -> None:
    """With `n_runs=2`, a second sweep cut short (here: a generator that runs out in it, at a rate it
    reached by chance) voted in the median: the suggestions moved by decades toward its partial
    curve's."""
    from lrwidgets.training import LRRangeTest

    model = bn_model(dropout=False)
    x, y = regression_data(1024)

    def batches(n: int):
        for i in range(n):
            j = (i * 32) % (len(x) - 32)
            yield x[j : j + 32], y[j : j + 32]

    test = LRRangeTest(model, start_learning_rate=1e-4, end_learning_rate=1.0, num_steps=60, n_runs=2)
    test.run(batches(115)).wait(120)  # 60 for the first sweep, the rest (Keras peeks at some) for the second
    whole, cut = test.sweeps
    assert whole.reason in ("finished", "diverged") and whole.suggestions and cut.reason == "data"
    assert cut.suggestions and cut.suggestions["robust_valley"] != whole.suggestions["robust_valley"]
    assert {m: s.learning_rate for m, s in test.suggestion_details.items()} == {
        m: s.learning_rate for m, s in whole.suggestions.items()
    }
    assert test.message.endswith("; 1 sweep(s) cut short (data) left out of the suggestions")
    import lrwidgets as lrw

    status = lrw.LRFinder(test)._status.value  # the view says it too, not the last sweep's words alone
    assert "the data ran out" in status and "left out of the suggestions" in status


def test_a_weak_fall_s_suggestions_say_they_are_uncertain(monkeypatch) -> None:
    from lrwidgets.training import LRRangeTest, _range_sweep

    weak = "a weak fall of the loss (the loss fell 1, 3x its batch-to-batch noise): its suggestions are uncertain"
    monkeypatch.setattr(_range_sweep, "judge_fall", lambda *args, **kwargs: ("weak", weak, "a weak fall"))
    x, y = regression_data(512)
    test = LRRangeTest(linear_model(), start_learning_rate=1e-4, end_learning_rate=1.0, num_steps=30)
    test.run(x, y, batch_size=16).wait(120)
    assert test.sweeps[0].fall == "weak" and test.message.endswith(weak) and test.suggestions
    assert all(s.explanation.endswith("; uncertain: a weak fall") for s in test.suggestion_details.values())


def test_a_sweep_too_short_to_judge_says_so_in_its_suggestions() -> None:
    """A 15-step sweep (9 steps looked at) was never judged and passed as a clear fall."""
    from lrwidgets.training import LRRangeTest

    x, y = regression_data(1024)
    test = LRRangeTest(linear_model(), start_learning_rate=3e-2, end_learning_rate=0.5, num_steps=15)
    test.run(x, y, batch_size=32).wait(120)
    assert test.sweeps[0].fall == "weak" and "a sweep too short to tell a fall" in test.message
    assert test.suggestions
    assert all(
        s.explanation.endswith("; uncertain: a sweep too short to judge") for s in test.suggestion_details.values()
    )


@pytest.mark.parametrize("kind", ["backend tensor", "pandas"])
def test_n_runs_reorder_tensors_and_frames_as_arrays(kind: str) -> None:
    """Each sweep after the first sees the rows in another order: tensors (a tf.Tensor, a jax or
    torch array) and pandas frames kept theirs, so the sweeps were identical (shuffle=False, or
    TensorFlow's shuffle, alike in each fit) and every spread read 0.00 decade."""
    import keras
    import pandas as pd

    from lrwidgets.training import LRRangeTest

    x, y = regression_data(512)

    def as_kind(a: np.ndarray):
        return keras.ops.convert_to_tensor(a) if kind == "backend tensor" else pd.DataFrame(a)

    runs = {}
    for name, xs, ys in (("numpy", x, y), (kind, as_kind(x), as_kind(y))):
        test = LRRangeTest(linear_model(), start_learning_rate=1e-4, end_learning_rate=1.0, num_steps=30, n_runs=2)
        test.run(xs, ys, batch_size=16, shuffle=False).wait(120)
        runs[name] = [s.losses for s in test.sweeps]
    assert not np.array_equal(*runs[kind])  # the second sweep's rows in another order
    np.testing.assert_allclose(runs[kind][1], runs["numpy"][1], rtol=1e-5)  # the same order as an array's


def test_a_sweep_over_losses_recovered_approximately_says_so() -> None:
    """A PyDataset with a short batch that Keras shuffles: steps up to 1.5x off, the finder silent."""
    from lrwidgets.training import LRRangeTest
    from tests.test_keras_workloads import py_dataset

    x, y = regression_data(100)
    test = LRRangeTest(linear_model(), start_learning_rate=1e-4, end_learning_rate=1.0, num_steps=20)
    test.run(py_dataset(x, y)).wait(120)
    assert "; note: Keras shuffles this PyDataset's batches and one is short" in test.message
    test.run(py_dataset(x, y), shuffle=False).wait(120)  # the short batch stays last: exact
    assert "note:" not in test.message
    test.run((x[i : i + 20], y[i : i + 20]) for i in range(0, 100, 20)).wait(120)  # no short batch
    assert "note:" not in test.message


def test_the_sweeps_combined_are_the_whole_ones_that_suggest() -> None:
    from lrwidgets.core.finder import Suggestion
    from lrwidgets.training._range_sweep import Sweep, combined

    def sweep(reason: str, rate: float | None, reached: float = 1.0) -> Sweep:
        lrs = np.array([1e-6, reached], np.float32)
        suggestions = {} if rate is None else {"robust_valley": Suggestion("robust_valley", rate, 1.0, "why")}
        return Sweep(lrs, np.ones(2, np.float32), np.ones(2, np.float32), reason, "", suggestions)

    whole, cut, nan_early = sweep("finished", 1e-2), sweep("stopped", 1e-6, 1e-5), sweep("nan", None)
    rates = lambda c: {m: s.learning_rate for m, s in c[0].items()}  # noqa: E731
    assert rates(combined([whole, cut])) == {"robust_valley": 1e-2}
    assert combined([whole, cut])[1] == "; 1 sweep(s) cut short (stopped) left out of the suggestions"
    assert rates(combined([whole, sweep("diverged", 1e-1)])) == {"robust_valley": pytest.approx(10**-1.5)}
    # A whole sweep with no suggestion (NaN at its second step) does not push out a cut one's.
    assert rates(combined([nan_early, cut])) == {"robust_valley": 1e-6}
    said = combined([nan_early, cut])[1]
    assert said == "; suggested from a sweep cut short (its rate reached 1e-05): it may be too low"
    assert combined([nan_early]) == ({}, "") and combined([]) == ({}, "")
    # With several sweeps, the last one's message speaks of it only: what the others showed is said.
    flat = dataclasses.replace(sweep("finished", None), fall="none")
    weak = dataclasses.replace(sweep("finished", 1e-3), fall="weak")
    assert rates(combined([whole, flat, weak])) == {"robust_valley": pytest.approx(10**-2.5)}
    assert combined([whole, flat, weak])[1] == (
        "; 1 of the 3 sweeps showed no clear fall and suggest nothing"
        "; the fall was weak in 1 of the 2 sweeps combined: the suggestions are uncertain"
    )
    assert combined([whole])[1] == combined([weak])[1] == ""  # one sweep: its own message says it


def test_layerwise_multipliers_are_kept_and_the_base_rate_swept() -> None:
    import keras

    from lrwidgets.core.finder import Ramp
    from lrwidgets.training import LayerwiseOptimizer, LRRangeTest

    model = bn_model(LayerwiseOptimizer(keras.optimizers.Adam(1e-3), multipliers={"out": 0.5}))
    multipliers = dict(model.optimizer.multipliers)
    before = snapshot(model)
    x, y = regression_data(1024)
    test = LRRangeTest(model, start_learning_rate=1e-5, end_learning_rate=1e-2, num_steps=20)
    test.run(x, y, batch_size=32).wait(120)
    np.testing.assert_array_equal(test.learning_rates, Ramp(1e-5, 1e-2, 20)(np.arange(20)).astype(np.float32))
    assert dict(model.optimizer.multipliers) == multipliers and before.differences() == []


@pytest.mark.parametrize("fitted", [True, False])
def test_a_monitor_better_higher_is_refused(fitted: bool) -> None:
    """`monitor="accuracy"` was swept as a loss: its suggestions placed where accuracy fell."""
    from lrwidgets.training import LRRangeTest

    model = bn_model(metrics=["mae", "r2_score"], fitted=fitted)
    before = snapshot(model)
    x, y = regression_data(256)
    for monitor in ("r2_score", "val_r2_score", "accuracy", "val_binary_accuracy"):
        test = LRRangeTest(model, monitor=monitor, num_steps=12)
        with pytest.raises(ValueError, match=rf"`monitor` must be a loss .* Received: monitor='{monitor}'"):
            test.run(x, y, batch_size=32)
        assert test.sweeps == [] and not test.running
    assert before.differences() == []
    LRRangeTest(model, monitor="mae", num_steps=12).run(x, y, batch_size=32).wait(120)  # lower is better


def test_what_it_cannot_do_is_refused_clearly() -> None:
    import keras

    import lrwidgets as lrw

    x, y = regression_data(256)
    model = linear_model()
    with pytest.raises(ValueError, match=r"Argument `end_learning_rate` must be > start_learning_rate"):
        lrw.LRRangeTest(model, start_learning_rate=1.0, end_learning_rate=0.5)
    with pytest.raises(ValueError, match=r"Argument `num_steps` must be >= 11. Received: num_steps=5"):
        lrw.LRRangeTest(model, num_steps=5)
    with pytest.raises(ValueError, match=r"Argument `n_runs` must be >= 1. Received: n_runs=0"):
        lrw.LRRangeTest(model, n_runs=0)
    with pytest.raises(TypeError):
        lrw.LRRangeTest(model, lr=0.1)  # type: ignore[call-arg]
    test = lrw.LRRangeTest(model)
    with pytest.raises(TypeError, match=r"the sweep's length is `num_steps`. Received: epochs=3"):
        test.run(x, y, epochs=3)
    with pytest.raises(TypeError, match=r"could change the rate the sweep sets"):
        test.run(x, y, callbacks=[keras.callbacks.History()])
    with pytest.raises(ValueError, match=r"There is no suggestion to apply: run the range test first"):
        test.apply(model)
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 100, 0.9)
    read_only = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    read_only.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    with pytest.raises(
        ValueError,
        match=r"^Argument `model` must .*Keras schedule \(ExponentialDecay\).*read-only.*Received: optimizer=Adam",
    ):
        lrw.LRRangeTest(read_only)
    if hasattr(keras.optimizers, "MultiOptimizer"):
        multi = keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(keras.optimizers.Adam(1e-3)))
        read_only.compile(optimizer=multi, loss="mse")
        with pytest.raises(ValueError, match=r"`MultiOptimizer` has none"):
            lrw.LRRangeTest(read_only)
    unbuilt = keras.Sequential([keras.layers.Dense(1)])
    unbuilt.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"must be built"):
        lrw.LRRangeTest(unbuilt)
    # The finder widget's Apply target: refused when given, not at the first Apply.
    with pytest.raises(TypeError, match=r"Argument `target` must be a TrainingSession.*Received: target=42"):
        lrw.LRFinder(model, target=42)
    assert lrw.LRFinder(model, target=lrw.TrainingSession(model)).target is not None


@contextlib.contextmanager
def mid_fit(trainer, x, y):
    """``trainer.fit`` (a session or a dashboard) held at its third batch for the duration of the block."""
    from tests.test_session import Gate

    gate = Gate(at=2)
    run = trainer.fit(x, y, epochs=1, batch_size=32, callbacks=[gate])
    assert gate.reached.wait(60)
    try:
        yield
    finally:
        gate.go.set()
        run.wait(60)


def test_not_while_the_model_trains() -> None:
    import lrwidgets as lrw

    x, y = regression_data(256)
    model = linear_model()
    with mid_fit(lrw.TrainingSession(model), x, y), pytest.raises(RuntimeError, match=r"between two fits"):
        lrw.LRRangeTest(model).run(x, y)


def test_apply_sets_the_rate_of_a_session_a_model_or_anything_with_a_learning_rate() -> None:
    import lrwidgets as lrw

    x, y = regression_data(1024)
    model = linear_model()
    test = lrw.LRRangeTest(model, start_learning_rate=1e-5, end_learning_rate=10.0, num_steps=40)
    test.run(x, y, batch_size=16).wait(120)
    rate = test.suggestion.learning_rate
    session = lrw.TrainingSession(model)
    assert test.apply(session) == rate and session.learning_rate == rate
    assert session.history.events[-1].source == "finder"
    assert test.apply(model, method="steep") == test.suggestions["steep"]
    assert rate_of(model) == np.float32(test.suggestions["steep"])

    class Holder:
        learning_rate = 0.0

    holder = Holder()
    test.apply(holder, method="minimum")
    assert holder.learning_rate == test.suggestions["minimum"]
    with pytest.raises(ValueError, match=r"Argument `method` must be one of"):
        test.apply(model, method="fastest")
    with pytest.raises(TypeError, match=r"Argument `target` must be a TrainingSession"):
        test.apply(object())
    import keras

    uncompiled = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"Argument `target` must be compiled with an optimizer"):
        test.apply(uncompiled)


# ---- the widget and the dashboard ------------------------------------------------------------------


def test_finder_widget_draws_the_curve_suggestions_and_why_it_stopped() -> None:
    import lrwidgets as lrw

    x, y = regression_data(1024)
    model = linear_model()
    finder = lrw.LRFinder(model, start_learning_rate=1e-5, end_learning_rate=10.0, num_steps=60, update_interval=0.01)
    seen: list[int] = []
    finder.test.subscribe(lambda: seen.append(len(finder.raw_mark.x)))
    finder.run(x, y, batch_size=16).wait(120)
    # The curve grew during the sweep (the view followed the training thread's updates).
    assert len(set(seen)) >= 2
    assert len(finder.raw_mark.x) == len(finder.losses)
    np.testing.assert_array_equal(finder.raw_mark.x, finder.learning_rates)
    assert len(finder.smooth_mark.y) == len(finder.smoothed_losses)
    assert list(finder.suggestion_mark.names) == ["robust_valley", "valley", "slide", "minimum", "steep"]
    np.testing.assert_allclose(finder.suggestion_mark.x[0], finder.suggestion.learning_rate, rtol=1e-6)
    details = finder.suggestion_details  # each method's rate, explanation and per-sweep rates, as the test's
    assert details == finder.test.suggestion_details and details["slide"].learning_rate == finder.suggestions["slide"]
    assert "stopped: the loss" in finder._status.value and "restored" in finder._status.value
    # The test's status, on the widget too (an AttributeError: only through `finder.test`).
    assert (finder.reason, finder.message, finder.restored, finder.error, finder.running) == (
        finder.test.reason, finder.test.message, True, None, False
    )  # fmt: skip
    assert finder.reason in ("diverged", "nan")
    assert finder.suggestion.explanation.split(";")[0][:30] in finder._table.value.replace("&#x27;", "'")
    button = finder._apply_buttons["robust_valley"]
    assert not button.disabled
    button.click()  # no target given: the model's own optimizer
    assert rate_of(model) == np.float32(finder.suggestion.learning_rate)


def test_finder_applies_to_a_schedule_designer_and_shows_refusals() -> None:
    import lrwidgets as lrw

    x, y = regression_data(1024)
    designer = lrw.ScheduleDesigner(kind="cosine", initial_learning_rate=1e-3, epochs=5, steps_per_epoch=10)
    finder = lrw.LRFinder(linear_model(), target=designer, start_learning_rate=1e-5, num_steps=40)
    finder.run(x, y, batch_size=16).wait(120)
    finder._apply_buttons["valley"].click()
    assert designer.value["config"]["initial_learning_rate"] == pytest.approx(finder.suggestions["valley"])
    table = lrw.ScheduleDesigner(kind="piecewise", epochs=5, steps_per_epoch=10)
    finder.target = table
    finder._apply_buttons["valley"].click()
    assert "no single learning rate to set" in finder._error.value


def test_dashboard_find_lr_runs_on_the_last_fit_data_restores_and_applies() -> None:
    import lrwidgets as lrw

    x, y = regression_data(1024)
    model = linear_model()
    dash = lrw.TrainingDashboard(model)
    assert dash._find_button.disabled  # no fit yet: no data to run on
    dash.fit(x, y, epochs=1, batch_size=32).wait(60)
    assert not dash._find_button.disabled
    before = snapshot(model)
    steps = dash.history.num_steps
    dash._find_button.click()
    finder = dash.finder
    assert finder is not None and finder in dash.children
    finder.wait(120)
    assert before.differences() == [] and dash.history.num_steps == steps
    assert finder.test.sweeps[0].losses.size > 0
    finder._apply_buttons["robust_valley"].click()
    assert dash.learning_rate == finder.suggestion.learning_rate
    assert dash.history.events[-1].source == "finder"
    # Between fits only.
    with mid_fit(dash, x, y):
        assert dash._find_button.disabled
        with pytest.raises(RuntimeError, match="between two fits"):
            dash.find_learning_rate()


def test_find_lr_after_a_fit_called_with_the_dashboards_callback_sweeps_that_fits_data() -> None:
    """`model.fit(callbacks=[dash.callback])` in the kernel: its data (the training part, when
    `validation_split` took the rest) is what the next range test runs on, not an older fit's."""
    import lrwidgets as lrw

    dash = lrw.TrainingDashboard(linear_model())
    assert dash._find_button.disabled and dash.session.fit_data is None
    x, y = regression_data(1024)
    dash.model.fit(x, y, epochs=1, batch_size=64, validation_split=0.25, callbacks=[dash.callback], verbose=0)
    assert not dash._find_button.disabled
    data = dash.session.fit_data
    assert data is not None and len(data["x"]) == len(data["y"]) == 768 and data["batch_size"] == 64
    np.testing.assert_array_equal(data["x"], x[:768])
    dash.fit(x, y, epochs=1, batch_size=32, validation_split=0.5).wait(60)  # the same from a session's fit
    assert len(dash.session.fit_data["x"]) == 512
    np.testing.assert_array_equal(dash.session.fit_data["y"], y[:512])

    def once():
        yield from ((x[i : i + 64], y[i : i + 64]) for i in range(0, 256, 64))

    dash.model.fit(once(), epochs=1, callbacks=[dash.callback], verbose=0)  # read to its end: nothing left
    assert dash.session.fit_data is None and dash._find_button.disabled
    with pytest.raises(ValueError, match="a generator the fit read to its end"):
        dash.find_learning_rate()
    x2, y2 = regression_data(256, seed=1)
    dash.model.fit(x2, y2, epochs=1, batch_size=16, callbacks=[dash.callback], verbose=0)
    assert dash.session.fit_data["x"] is x2 and dash.session.fit_data["batch_size"] == 16
    with pytest.raises(TypeError, match=r"`target` cannot be given\. Received: target="):
        dash.find_learning_rate(target=dash)
    with pytest.raises(TypeError, match=r"Unknown arguments \['bogus'\] of the range test .* it takes \["):
        dash.find_learning_rate(bogus=1)  # it named LRRangeTest.__init__, which the caller never called
    finder = dash.find_learning_rate(num_steps=12, start_learning_rate=1e-4, end_learning_rate=1e-1)
    finder.wait(120)
    assert finder.test.sweeps[0].losses.size > 0


@pytest.mark.parametrize("how", ["its own monitor", "the session's"])
def test_a_range_test_sweeps_the_monitored_log_key(how: str) -> None:
    """A custom step logging `d_loss` (absolute error) and `g_loss` (squared error): the sweep's
    first loss is the first batch's squared error, taken before any update."""
    import keras

    import lrwidgets as lrw
    from tests.test_keras_workloads import custom_step_model

    x, y = regression_data(512)
    model = custom_step_model(("d_loss", "g_loss"))
    ramp = {"start_learning_rate": 1e-4, "end_learning_rate": 1.0, "num_steps": 12}
    if how == "its own monitor":
        test = lrw.LRRangeTest(model, monitor="g_loss", **ramp)
        start = keras.ops.convert_to_numpy(model(x[:32]))
        test.run(x, y, batch_size=32, shuffle=False).wait(120)
    else:
        session = lrw.TrainingSession(model, monitor="g_loss")
        session.fit(x, y, epochs=1, batch_size=32, shuffle=False).wait(60)
        test = lrw.LRRangeTest(model, **ramp)
        start = keras.ops.convert_to_numpy(model(x[:32]))
        test.run_like(session).wait(120)
    first = test.sweeps[0].losses[0]
    np.testing.assert_allclose(first, np.mean((start - y[:32]) ** 2), rtol=1e-4)
    assert not np.isclose(first, np.mean(np.abs(start - y[:32])), rtol=1e-2)
    with pytest.raises(TypeError, match="Argument `monitor` must be a non-empty str"):
        lrw.LRRangeTest(model, monitor=3)


def test_a_monitored_key_the_train_step_does_not_log_is_said_so_not_taken_for_a_nan() -> None:
    """`monitor="val_loss"` (a key no training batch logs) ended the sweep as `nan`, "the loss
    became nan at step 0"; the session's warning naming the key and what is logged never showed."""
    import lrwidgets as lrw

    model = bn_model(dropout=False)
    before = snapshot(model)
    x, y = regression_data(512)
    test = lrw.LRRangeTest(model, monitor="val_loss", num_steps=20, n_runs=2)
    assert test.run(x, y, batch_size=32).wait(120) == {}
    assert test.reason == "monitor" and len(test.sweeps) == 1  # no second sweep: it would say the same
    assert test.message.startswith("the train step logs no `val_loss`") and "Logged: ['loss']" in test.message
    assert test.message.endswith("no learning rate is suggested") and "too few steps" not in test.message
    assert test.restored and before.differences() == []
    widget = lrw.LRFinder(test)
    assert "the train step logs no value of the monitored key" in widget._status.value


@pytest.mark.parametrize("how", ["run", "run_like"])
def test_a_train_step_that_logs_no_loss_is_said_so_not_swept_by_its_first_key(how: str) -> None:
    """A custom step logging `total_loss` and `accuracy`: the default monitor is `loss`, not the first
    key in order (a session's choice, with a warning): sweeping `accuracy` as the loss suggested a rate
    that left the model worse than chance (an audit's run: Adam at 1.38)."""
    import lrwidgets as lrw
    from tests.test_keras_workloads import custom_step_model

    x, y = regression_data(512)
    model = custom_step_model(("total_loss", "accuracy"))
    before = snapshot(model)
    test = lrw.LRRangeTest(model, num_steps=20)
    if how == "run":
        assert test.run(x, y, batch_size=32).wait(120) == {}
    else:
        session = lrw.TrainingSession(model)  # no monitor: the session records its first key, and says so
        session.fit(x, y, epochs=1, batch_size=32).wait(60)
        assert any("returns no `loss`" in e.message for e in session.history.events)
        before = snapshot(model)
        assert test.run_like(session).wait(120) == {}
    assert test.reason == "monitor" and test.message.startswith("the train step logs no `loss`")
    assert "choose one with `monitor=`" in test.message and test.restored and before.differences() == []


def test_a_run_refused_at_its_start_keeps_the_last_runs_results(monkeypatch) -> None:
    """Copying the model's state, or reserving the model, can raise (a variable that cannot be read,
    a reservation taken since the check): the last run's curve and suggestions were cleared first."""
    import lrwidgets as lrw
    from lrwidgets.training import finder, ownership

    x, y = regression_data(128)
    model = linear_model()
    test = lrw.LRRangeTest(model, start_learning_rate=1e-4, end_learning_rate=1.0, num_steps=60)
    test.run(x, y, batch_size=16).wait(timeout=60)
    last = (test.sweeps, test.suggestions, test.message)
    assert last[0] and last[1]

    def broken(*args: object) -> None:
        raise RuntimeError("cannot copy")

    for name, module in (("ModelState", finder), ("reserve", ownership)):
        with monkeypatch.context() as m:
            m.setattr(module, name, broken)
            with pytest.raises(RuntimeError, match="cannot copy"):
                test.run(x, y, batch_size=16)
        assert (test.sweeps, test.suggestions, test.message) == last
        assert test.error is None and not test.running
        assert not ownership.reserved(model) and ownership.owner(model) is None
        assert test.wait() == last[1]
    # Data Keras would refuse in the background (targets of another length): refused at run().
    with pytest.raises(ValueError, match=r"Arguments `x`, `y` must have the same number of samples: `x` has 128, `y`"):
        test.run(x, y[:100], batch_size=16)
    with pytest.raises(ValueError, match=r"Argument `x` must hold at least one batch"):
        test.run(x[:0], y[:0])  # it raised ZeroDivisionError
    assert (test.sweeps, test.suggestions, test.message) == last and not test.running


def test_a_generator_that_runs_out_ends_the_sweep_with_its_data() -> None:
    """Keras serves a spent generator's peeked batches again each epoch: the sweep ends when the
    generator does (reason ``data``), not at ``num_steps`` on those batches, and the test with it."""
    import lrwidgets as lrw

    x, y = regression_data(30 * 16)
    model = linear_model()

    def batches():
        for i in range(30):
            yield x[i * 16 : (i + 1) * 16], y[i * 16 : (i + 1) * 16]

    test = lrw.LRRangeTest(model, start_learning_rate=1e-5, end_learning_rate=1e-2, num_steps=50)
    test.run(batches()).wait(120)
    assert test.reason == "data" and len(test.losses) == 30 and "30 of 50" in test.message
    np.testing.assert_allclose(test.learning_rates, [test.ramp(i) for i in range(30)], rtol=1e-6)
    # Nothing is left for a second sweep: the test ends with the first (no error from Keras's empty generator).
    twice = lrw.LRRangeTest(model, start_learning_rate=1e-5, end_learning_rate=1e-2, num_steps=50, n_runs=2)
    twice.run(batches()).wait(120)
    assert [(s.reason, len(s.losses)) for s in twice.sweeps] == [("data", 30)] and twice.restored

    def forever():
        while True:
            yield from batches()

    endless = lrw.LRRangeTest(model, start_learning_rate=1e-5, end_learning_rate=1e-2, num_steps=40, n_runs=2)
    endless.run(forever()).wait(120)  # a generator that does not run out feeds every sweep
    assert [(s.reason, len(s.losses)) for s in endless.sweeps] == [("finished", 40)] * 2


def test_compiled_metrics_are_restored_with_the_model() -> None:
    """``get_metrics_result()`` after a range test reads what it read before it."""
    import lrwidgets as lrw

    model = bn_model(metrics=["mae"])
    before = {k: float(v) for k, v in model.get_metrics_result().items()}
    x, y = regression_data(512)
    lrw.LRRangeTest(model, num_steps=30).run(x, y, batch_size=16).wait(120)
    assert {k: float(v) for k, v in model.get_metrics_result().items()} == before


def test_the_finder_widget_clears_the_last_runs_error_when_a_run_ends_well() -> None:
    import lrwidgets as lrw

    x, y = regression_data(640)
    finder = lrw.LRFinder(linear_model(), num_steps=60)
    with pytest.raises(ValueError, match="must have the same number of samples"):
        finder.run(x, y, batch_size=32, sample_weight=np.ones(5))  # refused before it starts

    def failing():  # data that fails in the background, at its second batch
        yield x[:32], y[:32]
        raise ValueError("a corrupt record")

    with contextlib.suppress(ValueError):
        finder.run(failing()).wait(120)
    assert "ValueError" in finder._error.value
    assert finder._status.value.count("a corrupt record") == 1  # the message once, no "too few steps"
    assert "too few steps" not in finder._status.value
    finder.run(x, y, batch_size=32).wait(120)
    finder.refresh()
    assert finder._error.value == "" and finder.suggestion is not None


def test_evaluate_and_predict_from_another_thread_are_refused_while_the_model_trains() -> None:
    """From the notebook (the main thread) they would reset the fit's metrics (the running means its
    batch losses are recovered from) or read a stale state: refused by name during a background fit
    and during a range test; from the training thread (Keras's validation, a callback at an epoch's
    end), from another thread (a data pipeline's worker) and after the fit, they run."""
    import keras

    import lrwidgets as lrw

    x, y = regression_data(256)
    model = linear_model()
    session = lrw.TrainingSession(model)
    seen: list = []
    with mid_fit(session, x, y):
        # From another thread than the notebook's (a data pipeline's worker): left to Keras, as before.
        def peek_from_worker() -> None:
            try:
                model.predict_on_batch(x[:1])
            except Exception as e:
                seen.append(repr(e))
            else:
                seen.append("ran")

        worker = threading.Thread(target=peek_from_worker)
        worker.start()
        worker.join(60)
        # Not refused here (what Keras does with it is as without lrwidgets: on jax it fails mid-epoch).
        assert len(seen) == 1 and "would race the fit" not in seen[0], seen
        for call in (lambda: model.evaluate(x, y, verbose=0), lambda: model.predict(x, verbose=0),
                     lambda: model.predict_on_batch(x[:4]), lambda: model.test_on_batch(x[:4], y[:4])):  # fmt: skip
            with pytest.raises(RuntimeError, match=r"training in the background .*would race the fit"):
                call()
    assert session.history.num_steps == 8 and np.isfinite(session.history.loss).all()

    seen.clear()
    peek = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: seen.append(float(model.evaluate(x, y, verbose=0)))
    )
    session.fit(x, y, epochs=1, batch_size=32, validation_split=0.25, callbacks=[peek]).wait(60)
    assert len(seen) == 1 and "val_loss" in session.history.epochs[-1]
    assert model.predict(x[:4], verbose=0).shape == (4, 1)

    test = lrw.LRRangeTest(model, num_steps=400, update_interval=0.01)
    reached, go = threading.Event(), threading.Event()
    test.subscribe(lambda: (reached.set(), go.wait(60)))  # holds the test's thread at its first update
    test.run(x, y, batch_size=2)
    try:
        assert reached.wait(60)
        with pytest.raises(RuntimeError, match=r"range test.*`evaluate` it before or after the test"):
            model.evaluate(x, y, verbose=0)
    finally:
        go.set()
        test.stop()
        test.wait(60)
