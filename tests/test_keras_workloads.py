"""Keras code as people write it, run through lrwidgets: one small workload of each kind.

Each test trains a tiny model on tiny data (a few batches) and checks what lrwidgets recorded
against what Keras did: one history row per batch run (per execution with
``steps_per_execution``), each batch's true loss where it can be computed from the weights the
batch started with, a live change of the learning rate made while a gate callback holds batch
``k`` is the rate recorded from batch ``k + 1`` on and the rate the optimizer holds afterwards,
no NaN, error or warning events that did not happen, and a model that still predicts.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tests.helpers import linear_model, regression_data
from tests.test_session import Gate

pytestmark = pytest.mark.keras

UNWANTED = ("nan", "restore", "error", "warning")


# ---- helpers -----------------------------------------------------------------------------------
def held_rate(model: Any) -> float:
    """The learning rate the model's optimizer uses (inside a ``LossScaleOptimizer`` too)."""
    import keras

    import lrwidgets as lrw

    opt = model.optimizer
    while isinstance(getattr(opt, "inner_optimizer", None), keras.optimizers.Optimizer) and not isinstance(
        opt, lrw.LayerwiseOptimizer
    ):
        opt = opt.inner_optimizer
    return float(keras.ops.convert_to_numpy(opt.learning_rate))


def to_numpy(value: Any) -> Any:
    import keras

    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_numpy(v) for v in value]
    return np.asarray(keras.ops.convert_to_numpy(value))


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in leaves(v)]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in leaves(v)]
    return [value]


def mse(pred: Any, y: Any) -> float:
    return float(np.mean((np.asarray(pred, np.float64) - np.asarray(y, np.float64)) ** 2))


def true_losses(batches: list[tuple[Any, Any]], loss: Callable[[Any, Any], float] = mse) -> Any:
    """A callback computing each batch's loss from the weights it starts with (batches in fit order).

    ``values`` gets one loss a batch; ``batches`` is cycled (one epoch's worth).
    """
    import keras

    class TrueLoss(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.values: list[float] = []

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            x, y = batches[len(self.values) % len(batches)]
            self.values.append(loss(to_numpy(self.model(x, training=False)), y))

    return TrueLoss()


def rate_probe() -> Any:
    """A callback reading the rate the optimizer holds at the end of each batch (the rate it ran with)."""
    import keras

    class RateProbe(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.values: list[float] = []

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.values.append(held_rate(self.model))

    return RateProbe()


def fit_with_change(target: Any, *args: Any, at: int, to: float, callbacks: Any = (), **kwargs: Any) -> Any:
    """``target.fit(...)`` (a session or a dashboard) with ``learning_rate = to`` set while batch ``at`` is held."""
    gate = Gate(at=at)
    run = target.fit(*args, callbacks=[*callbacks, gate], **kwargs)
    while not gate.reached.wait(0.05):
        if run.done:  # failed or ended before the gate: show why
            run.wait(1)
            pytest.fail(f"the fit ended before batch {at}")
    target.learning_rate = to
    gate.go.set()
    return run.wait(120)


def check_fit(
    target: Any,
    model: Any,
    *,
    rows: int,
    at: int,
    before: float,
    after: float,
    x_predict: Any,
    allowed: tuple[str, ...] = (),
) -> None:
    """The checks every workload shares (``at``: the row held when ``after`` was set)."""
    h = target.history
    assert h.num_steps == rows
    assert np.all(np.isfinite(h.loss)), h.loss
    np.testing.assert_allclose(h.learning_rate[: at + 1], before, rtol=1e-6)
    np.testing.assert_allclose(h.learning_rate[at + 1 :], after, rtol=1e-6)
    (event,) = [e for e in h.events if e.kind == "learning_rate" and e.source == "user"]
    assert event.step == at + 1 and event.value == pytest.approx(after)
    assert held_rate(model) == pytest.approx(after, rel=1e-6)
    assert target.learning_rate == pytest.approx(after, rel=1e-6)
    unwanted = [(e.kind, e.message) for e in h.events if e.kind in UNWANTED and e.message not in allowed]
    assert not unwanted
    assert all(np.all(np.isfinite(out)) for out in leaves(to_numpy(model.predict(x_predict, verbose=0))))


def check_true_loss(recorded: np.ndarray, true: list[float], rows: Any = slice(None)) -> None:
    np.testing.assert_allclose(np.asarray(recorded)[rows], np.asarray(true)[rows], rtol=2e-4, atol=1e-6)


def kernel(model: Any, name: str) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(model.get_layer(name).kernel.value))


def dense_model(optimizer: Any = None, features: int = 8, **compile_kwargs: Any) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((features,)), keras.layers.Dense(1, name="dense")])
    model.compile(optimizer=optimizer or keras.optimizers.SGD(1e-2), loss="mse", **compile_kwargs)
    return model


def py_dataset(x: np.ndarray, y: np.ndarray, size: int = 32) -> Any:
    """A ``keras.utils.PyDataset`` of ``x`` and ``y`` in batches of ``size`` (the last one short)."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __len__(self) -> int:
            return -(-len(x) // size)

        def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
            return x[i * size : (i + 1) * size], y[i * size : (i + 1) * size]

    return Batches()


def split(x: np.ndarray, y: Any, size: int) -> list[tuple[Any, Any]]:
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


# ---- models and data -----------------------------------------------------------------------------
def test_functional_model_with_dict_inputs_and_two_outputs() -> None:
    import keras

    import lrwidgets as lrw

    x, y = regression_data(100)  # batches of 32, 32, 32, 4
    xs = {"a": x[:, :5], "b": x[:, 5:]}
    ys = {"out1": y, "out2": np.concatenate([y, -0.5 * y], axis=1)}
    keras.utils.set_random_seed(0)
    a, b = keras.Input((5,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Dense(8, activation="tanh")(keras.layers.Concatenate()([a, b]))
    outputs = {"out1": keras.layers.Dense(1, name="out1")(h), "out2": keras.layers.Dense(2, name="out2")(h)}
    model = keras.Model({"a": a, "b": b}, outputs)
    model.compile(
        optimizer=keras.optimizers.SGD(1e-2),
        loss={"out1": "mse", "out2": "mse"},
        loss_weights={"out1": 1.0, "out2": 0.5},
    )
    batches = [
        ({k: v[i : i + 32] for k, v in xs.items()}, {k: v[i : i + 32] for k, v in ys.items()})
        for i in range(0, 100, 32)
    ]
    true = true_losses(batches, lambda p, t: mse(p["out1"], t["out1"]) + 0.5 * mse(p["out2"], t["out2"]))
    dash = lrw.TrainingDashboard(model)
    fit_with_change(dash, xs, ys, at=1, to=5e-3, epochs=2, batch_size=32, shuffle=False, callbacks=[true])
    check_fit(dash, model, rows=8, at=1, before=1e-2, after=5e-3, x_predict={k: v[:4] for k, v in xs.items()})
    check_true_loss(dash.history.loss, true.values)  # the short last batches too
    assert {"out1_loss", "out2_loss"} <= set(dash.history.epochs[-1])


def test_py_dataset() -> None:
    import lrwidgets as lrw

    x, y = regression_data(100)

    model = dense_model()
    true = true_losses(split(x, y, 32))
    session = lrw.TrainingSession(model)
    fit_with_change(session, py_dataset(x, y), at=2, to=2e-2, epochs=2, shuffle=False, callbacks=[true])
    check_fit(session, model, rows=8, at=2, before=1e-2, after=2e-2, x_predict=x[:4])
    check_true_loss(session.history.loss, true.values)


def test_a_dashboards_fit_reads_a_py_datasets_sizes_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PyDataset's first and last batch are read before the fit for its batch sizes: once, not
    again where the dashboard looks for validation arguments."""
    import lrwidgets as lrw
    from lrwidgets.training import fit_args

    x, y = regression_data(100)

    sized = fit_args._py_dataset_batches
    calls: list[int] = []

    def counted(*args: Any) -> Any:
        calls.append(1)
        return sized(*args)

    monkeypatch.setattr(fit_args, "_py_dataset_batches", counted)
    dash = lrw.TrainingDashboard(dense_model())
    dash.fit(py_dataset(x, y), epochs=1, validation_data=(x[:8], y[:8])).wait(60)
    assert len(calls) == 1 and dash.history.num_steps == 4
    # Shuffled by Keras (fit's default), its short batch may come anywhere: said so, not "last"
    [info] = [e.message for e in dash.history.events if e.kind == "info"]
    assert info.startswith("Keras shuffles this PyDataset's batches and one is short: its loss and those")


def test_a_short_batch_that_steps_per_epoch_carries_into_an_epoch_is_said_approximate() -> None:
    """With array data and a `steps_per_epoch` that cuts its passes, Keras carries the batches on
    across epochs: the short batch came mid-epoch and its loss was recovered as if it ended the
    epoch (0.4-0.5% off), with no word of it."""
    import lrwidgets as lrw

    x, y = regression_data(100)  # 4 batches of 32, the last of 4 rows
    for steps, said in ((3, True), (4, False), (8, False)):
        session = lrw.TrainingSession(dense_model())
        session.fit(x, y, epochs=2, batch_size=32, steps_per_epoch=steps, shuffle=False).wait(60)
        info = [e.message for e in session.history.events if e.kind == "info"]
        assert [m.startswith("with this `steps_per_epoch` Keras carries the data's batches on") for m in info] == (
            [True] if said else []
        ), (steps, info)


def test_what_a_fits_set_up_says_is_recorded_under_that_fit() -> None:
    """A session's notes on a fit's data and Keras's warnings before its first callback are
    events of that fit, at its first step (they were the last fit's); a fit whose set-up fails
    has them before its error."""
    import warnings

    import keras

    import lrwidgets as lrw

    x, y = regression_data(100)

    class NoSuper(type(py_dataset(x, y))):  # type: ignore[misc]
        def __init__(self) -> None:  # no `super().__init__()`: Keras warns in the fit's set-up
            pass

    session = lrw.TrainingSession(dense_model())
    session.fit(x, y, epochs=2, batch_size=32).wait(60)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        session.fit(NoSuper(), epochs=1).wait(60)
    h = session.history
    assert h.num_fits == 2 and h.num_steps == 12
    made = [(e.kind, e.fit, e.step, e.epoch) for e in h.events if e.kind in ("info", "warning")]
    assert ("info", 1, 8, 0) in made and ("warning", 1, 8, 0) in made  # tensorflow and torch warn again later
    assert all(fit == 1 and step >= 8 for _, fit, step, _ in made)

    model = keras.Sequential([keras.layers.Dense(2)])  # 2 outputs, 3 targets: Keras's set-up raises
    model.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mse")
    failed = lrw.TrainingSession(model)
    with pytest.raises(Exception, match=r"shape|broadcast|size"):  # each backend its own type
        failed.fit(py_dataset(x, np.zeros((100, 3), np.float32)), epochs=1).wait(60)
    kinds = [e.kind for e in failed.history.events]
    assert kinds.index("info") < kinds.index("error") == len(kinds) - 1
    assert failed.history.num_steps == 0


def test_python_generator_with_steps_per_epoch() -> None:
    import lrwidgets as lrw

    x, y = regression_data(128)

    def batches():
        while True:
            yield from split(x, y, 32)

    model = dense_model()
    true = true_losses(split(x, y, 32))
    session = lrw.TrainingSession(model)
    fit_with_change(session, batches(), at=1, to=2e-2, epochs=2, steps_per_epoch=4, shuffle=False, callbacks=[true])
    check_fit(session, model, rows=8, at=1, before=1e-2, after=2e-2, x_predict=x[:4])
    check_true_loss(session.history.loss, true.values)


def test_tf_data_dataset() -> None:
    tf = pytest.importorskip("tensorflow")

    import lrwidgets as lrw

    x, y = regression_data(100)
    model = dense_model()
    true = true_losses(split(x, y, 32))
    session = lrw.TrainingSession(model)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    fit_with_change(session, data, at=1, to=2e-2, epochs=2, shuffle=False, callbacks=[true])
    check_fit(session, model, rows=8, at=1, before=1e-2, after=2e-2, x_predict=x[:4])
    full = np.arange(8) % 4 != 3  # a tf.data batch's size is unknown before it runs: the short one is approximate
    check_true_loss(session.history.loss, true.values, full)
    assert [e for e in session.history.events if e.kind == "info" and "approximate" in e.message]


def test_torch_data_loader() -> None:
    import keras

    if keras.backend.backend() != "torch":
        pytest.skip("a torch DataLoader is tested on the torch backend")
    torch = pytest.importorskip("torch")

    import lrwidgets as lrw

    x, y = regression_data(100)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=32, shuffle=False
    )
    model = dense_model()
    true = true_losses(split(x, y, 32))
    session = lrw.TrainingSession(model)
    fit_with_change(session, loader, at=1, to=2e-2, epochs=2, shuffle=False, callbacks=[true])
    check_fit(session, model, rows=8, at=1, before=1e-2, after=2e-2, x_predict=x[:4])
    check_true_loss(session.history.loss, true.values)  # sizes read from the loader: the short batch too


# ---- custom train steps ------------------------------------------------------------------------
def custom_step_model(
    names: tuple[str, ...],
    manual: bool = False,
    raw: bool = False,
    unused: tuple[str, ...] = (),
    keys: tuple[str, ...] | None = None,
    keras_metrics: bool = False,
) -> Any:
    """A subclassed model with a keras.io-style ``train_step`` for the backend in use.

    The step minimises the mean squared error and returns one ``keras.metrics.Mean`` per name:
    ``("loss",)`` is keras.io's regression example; ``("d_loss", "g_loss")`` logs like its GANs
    (``g_loss``: the squared error, ``d_loss``: the absolute error), with no ``loss`` at all.
    ``manual``: the step updates the weights itself (``w - 0.01 * g``), never with ``model.optimizer``.
    ``raw``: the step returns each batch's own values, with no tracker (keras.io's WGAN-GP and
    CycleGAN log so); ``unused``: names of trackers the model has and the step never updates (a
    model compiled with a loss whose own step returns the raw one); ``keys``: the log keys of the
    values (default: ``names``; keras.io's VAE returns its ``total_loss`` tracker as ``loss``);
    ``keras_metrics``: ``metrics`` is Keras's own list (its ``loss`` tracker first, then the trackers
    it tracks as attributes), not overridden (keras.io's WGAN-GP leaves it so).
    """
    keys = names if keys is None else keys
    import keras

    backend = keras.backend.backend()

    class Custom(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = keras.layers.Dense(1, name="dense")
            self.trackers = [] if raw else [keras.metrics.Mean(name=n) for n in names]
            self.unused = [keras.metrics.Mean(name=n) for n in unused]

        def call(self, x: Any, training: bool = False) -> Any:
            return self.dense(x)

        if not keras_metrics:

            @property
            def metrics(self) -> list[Any]:
                return self.trackers + self.unused

        def step_losses(self, y: Any, y_pred: Any) -> tuple[Any, list[Any]]:
            squared = keras.ops.mean((y_pred - y) ** 2)
            absolute = keras.ops.mean(keras.ops.abs(y_pred - y))
            return squared, [squared] if len(names) == 1 else [absolute, squared]

        if backend == "jax":

            def train_step(self, state: Any, data: Any) -> Any:
                import jax

                trainable, non_trainable, optimizer_vars, metrics_vars = state
                x, y = data

                def loss_fn(trainable: Any, non_trainable: Any) -> Any:
                    y_pred, non_trainable = self.stateless_call(trainable, non_trainable, x, training=True)
                    loss, values = self.step_losses(y, y_pred)
                    return loss, (values, non_trainable)

                (_, (values, non_trainable)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                    trainable, non_trainable
                )
                if manual:
                    trainable = [v - 0.01 * g for v, g in zip(trainable, grads, strict=True)]
                else:
                    trainable, optimizer_vars = self.optimizer.stateless_apply(optimizer_vars, grads, trainable)
                if raw:
                    return dict(zip(keys, values, strict=True)), (
                        trainable,
                        non_trainable,
                        optimizer_vars,
                        metrics_vars,
                    )
                starts, at = {}, 0  # each metric's variables in `metrics_vars` (Keras's own come first, if any)
                for metric in self.metrics:
                    starts[id(metric)], at = at, at + len(metric.variables)
                logs, new_metrics_vars = {}, list(metrics_vars)
                for key, tracker, value in zip(keys, self.trackers, values, strict=True):
                    start, end = starts[id(tracker)], starts[id(tracker)] + len(tracker.variables)
                    mine = tracker.stateless_update_state(new_metrics_vars[start:end], value)
                    logs[key] = tracker.stateless_result(mine)
                    new_metrics_vars[start:end] = mine
                return logs, (trainable, non_trainable, optimizer_vars, new_metrics_vars)

        elif backend == "tensorflow":

            def train_step(self, data: Any) -> Any:
                import tensorflow as tf

                x, y = data
                with tf.GradientTape() as tape:
                    loss, values = self.step_losses(y, self(x, training=True))
                self.apply_gradients(tape.gradient(loss, self.trainable_variables))
                return self.update_trackers(values)

        else:

            def train_step(self, data: Any) -> Any:
                import torch

                x, y = data
                self.zero_grad()
                loss, values = self.step_losses(y, self(x, training=True))
                loss.backward()
                with torch.no_grad():
                    self.apply_gradients([v.value.grad for v in self.trainable_weights])
                return self.update_trackers(values)

        def apply_gradients(self, grads: list[Any]) -> None:
            if not manual:
                self.optimizer.apply(grads, self.trainable_variables)
                return
            for variable, grad in zip(self.trainable_variables, grads, strict=True):
                variable.assign(variable - 0.01 * grad)

        def update_trackers(self, values: list[Any]) -> dict[str, Any]:
            if raw:
                return dict(zip(keys, values, strict=True))
            for tracker, value in zip(self.trackers, values, strict=True):
                tracker.update_state(value)
            return {key: t.result() for key, t in zip(keys, self.trackers, strict=True)}

    keras.utils.set_random_seed(0)
    model = Custom()
    model.compile(optimizer=keras.optimizers.SGD(1e-2))
    model(np.zeros((1, 8), np.float32))
    return model


def test_custom_train_step_returning_loss() -> None:
    import lrwidgets as lrw

    x, y = regression_data(100)  # a short last batch: keras.io's `Mean` trackers weigh each batch the same
    model = custom_step_model(("loss",))
    true = true_losses(split(x, y, 32))
    session = lrw.TrainingSession(model)
    fit_with_change(session, x, y, at=1, to=2e-2, epochs=2, batch_size=32, shuffle=False, callbacks=[true])
    check_fit(session, model, rows=8, at=1, before=1e-2, after=2e-2, x_predict=x[:4])
    check_true_loss(session.history.loss, true.values)
    (info,) = [e.message for e in session.history.events if e.kind == "info"]
    assert "own `train_step`" in info and "may be approximate" in info


def test_a_subclass_fit_that_passes_its_arguments_on() -> None:
    """A model whose ``fit(self, *args, **kwargs)`` passes them on to Keras's: the session's
    callbacks, the batch size given by position (so a short last batch's true loss) and the
    validation reach Keras's fit; a dashboard keeps the best epoch's weights; a range test runs
    on the session's data. A ``fit`` of named parameters is given only those; one with no
    ``callbacks`` is refused by name."""
    import keras

    import lrwidgets as lrw

    class Forwarding(keras.Sequential):
        def fit(self, *args: Any, **kwargs: Any) -> Any:
            return super().fit(*args, **kwargs)

    class NamedOnly(keras.Sequential):  # takes no `verbose`: none is passed
        def fit(self, x: Any, y: Any = None, epochs: int = 1, callbacks: Any = None) -> Any:
            return super().fit(x, y, epochs=epochs, callbacks=callbacks, verbose=0)

    class NoCallbacks(keras.Sequential):
        def fit(self, x: Any, y: Any = None, epochs: int = 1) -> Any:
            return super().fit(x, y, epochs=epochs, verbose=0)

    class NoEpochs(keras.Sequential):  # a range test sets the epochs by name
        def fit(self, x: Any, y: Any = None, callbacks: Any = None) -> Any:
            return super().fit(x, y, callbacks=callbacks, verbose=0)

    class OwnDefaults(keras.Sequential):  # a batch size of its own: a short last batch of 36
        def fit(self, x: Any, y: Any = None, batch_size: int = 64, **kwargs: Any) -> Any:
            return super().fit(x, y, batch_size=batch_size, **kwargs)

    class ThreeEpochs(keras.Sequential):  # `initial_epoch` is checked against its own default
        def fit(self, x: Any, y: Any = None, epochs: int = 3, **kwargs: Any) -> Any:
            return super().fit(x, y, epochs=epochs, **kwargs)

    def model(cls: type = Forwarding) -> Any:
        keras.utils.set_random_seed(0)
        m = cls([keras.Input((8,)), keras.layers.Dense(1, name="dense")])
        m.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mse")
        return m

    x, y = regression_data(100)
    named = lrw.TrainingSession(model(NamedOnly))
    named.fit(x, y, 2).wait(60)
    assert named.history.num_steps == 8  # 4 batches of 32 (the last one short), 2 epochs
    finder = lrw.LRRangeTest(named.model, start_learning_rate=1e-4, end_learning_rate=1e-1, num_steps=11)
    finder.run(x, y).wait(60)
    assert len(finder.sweeps) == 1 and len(finder.sweeps[0].learning_rates) > 1
    closed = lrw.TrainingSession(model(NoCallbacks))
    with pytest.raises(TypeError, match="takes no `callbacks` argument"):
        closed.fit(x, y)
    assert closed.history.num_steps == 0 and not closed.running
    with pytest.raises(TypeError, match="run\\(\\): the `fit` of NoCallbacks takes no `callbacks`"):
        lrw.LRRangeTest(closed.model, num_steps=11).run(x, y)
    with pytest.raises(TypeError, match="run\\(\\): the `fit` of NoEpochs takes no `epochs` argument \\(by name\\)"):
        lrw.LRRangeTest(model(NoEpochs), num_steps=11).run(x, y)
    own = lrw.TrainingSession(model(OwnDefaults))
    true = true_losses(split(x, y, 64))
    own.fit(x, y, epochs=2, shuffle=False, callbacks=[true]).wait(60)
    assert own.history.num_steps == 4 and not [e for e in own.history.events if e.kind == "info"]
    check_true_loss(own.history.loss, true.values)
    three = lrw.TrainingSession(model(ThreeEpochs))
    three.fit(x, y, initial_epoch=2).wait(60)  # one epoch, its 3rd (refused against Keras's default of 1)
    assert three.history.num_steps == 4 and three.history.epochs[0]["epoch"] == 2
    with pytest.raises(ValueError, match=r"`initial_epoch` must be < `epochs` .* initial_epoch=3, epochs=3"):
        three.fit(x, y, initial_epoch=3)

    first = model()
    true = true_losses(split(x[:80], y[:80], 32))  # validation_split=0.2: the first 80 rows train
    session = lrw.TrainingSession(first)
    fit_with_change(session, x, y, 32, at=1, to=2e-2, epochs=2, shuffle=False, validation_split=0.2, callbacks=[true])
    check_fit(session, first, rows=6, at=1, before=1e-2, after=2e-2, x_predict=x[:4])
    check_true_loss(session.history.loss, true.values)  # batches of 32, 32 and 16: the size was known
    assert not [e.message for e in session.history.events if e.kind == "info"]
    assert all("val_loss" in row for row in session.history.epochs)
    finder = lrw.LRRangeTest(first, start_learning_rate=1e-4, end_learning_rate=1e-1, num_steps=11)
    finder.run_like(session).wait(60)
    assert len(finder.sweeps) == 1 and len(finder.sweeps[0].learning_rates) > 1

    dash = lrw.TrainingDashboard(model())
    dash.fit(x, y, 16, 2, validation_split=0.25).wait(60)
    assert dash.history.num_steps == 10 and dash.diagnostician.best_epoch is not None


@pytest.mark.parametrize("monitor", ["g_loss", None])
def test_gan_style_step_without_loss_is_never_a_nan_stop(monitor: str | None) -> None:
    import lrwidgets as lrw

    x, y = regression_data(100)
    model = custom_step_model(("d_loss", "g_loss"))
    if monitor == "g_loss":
        true = true_losses(split(x, y, 32))
        allowed: tuple[str, ...] = ()
    else:  # no `loss`: the first scalar the step returns, `d_loss`, is recorded, and an event says so
        true = true_losses(split(x, y, 32), lambda p, t: float(np.mean(np.abs(p - t))))
        allowed = (
            "the train step returns no `loss`: recording `d_loss` as the loss (of ['d_loss', 'g_loss']);"
            " choose another with `monitor=`",
        )
    session = lrw.TrainingSession(model, monitor=monitor)
    fit_with_change(session, x, y, at=1, to=2e-2, epochs=2, batch_size=32, shuffle=False, callbacks=[true])
    check_fit(session, model, rows=8, at=1, before=1e-2, after=2e-2, x_predict=x[:4], allowed=allowed)
    check_true_loss(session.history.loss, true.values)
    warned = [e.message for e in session.history.events if e.kind == "warning"]
    assert warned == list(allowed)
    assert {"d_loss", "g_loss"} <= set(session.history.epochs[-1])


@pytest.mark.parametrize("keras_metrics", [False, True])
def test_a_step_returning_raw_batch_losses_is_recorded_as_it_is(keras_metrics: bool) -> None:
    """keras.io's WGAN-GP and CycleGAN return each batch's own losses, no running mean: taken as
    they are (de-averaged, their noise grew with the batch's index and went below 0). Whether the
    model's `metrics` is its own empty list or Keras's (with Keras's unused `loss` tracker)."""
    import lrwidgets as lrw

    x, y = regression_data(256)
    model = custom_step_model(("d_loss", "g_loss"), raw=True, keras_metrics=keras_metrics)
    assert [m.name for m in model.metrics] == (["loss"] if keras_metrics else [])
    true = true_losses(split(x, y, 8))
    session = lrw.TrainingSession(model, monitor="g_loss")
    session.fit(x, y, epochs=2, batch_size=8, shuffle=False, callbacks=[true]).wait(120)
    check_true_loss(session.history.loss, true.values)
    (info,) = [e.message for e in session.history.events if e.kind == "info"]
    assert "returns `g_loss` as each batch's own value" in info
    assert not [e for e in session.history.events if e.kind in ("warning", "diverging", "nan", "error")]


@pytest.mark.parametrize("keras_metrics", [False, True])
def test_a_tracker_returned_under_another_key_is_read_as_its_mean(keras_metrics: bool) -> None:
    """keras.io's VAE returns its `total_loss` tracker as `loss`: a running mean, as Keras's own.
    Without a `metrics` property Keras's own `loss` tracker stays at no sample beside it: that
    alone made it read as each batch's own value."""
    import lrwidgets as lrw

    x, y = regression_data(256)
    model = custom_step_model(("total_loss",), keys=("loss",), keras_metrics=keras_metrics)
    true = true_losses(split(x, y, 32))
    session = lrw.TrainingSession(model)
    session.fit(x, y, epochs=2, batch_size=32, shuffle=False, callbacks=[true]).wait(120)
    check_true_loss(session.history.loss, true.values)
    assert not [e for e in session.history.events if e.kind in ("info", "warning")]


@pytest.mark.parametrize("keras_metrics", [False, True])
def test_a_raw_loss_beside_a_tracker_of_its_name_is_found_and_taken_as_it_is(keras_metrics: bool) -> None:
    """A model whose metrics include a `loss` tracker its step never updates (its own, or Keras's:
    `return {"loss": loss}` from a step that updates no metric), returning the raw batch loss as
    `loss`: found at the first step (the tracker counted nothing), every batch's loss as it is. It
    was recovered as a running mean until a loss below 0 gave it away, or never (no floor)."""
    import lrwidgets as lrw

    x, y = regression_data(256)
    if keras_metrics:  # Keras's own `loss` tracker, no loss compiled: nothing to find it by before
        model = custom_step_model(("loss",), raw=True, keras_metrics=True)
    else:
        model = custom_step_model(("loss",), raw=True, unused=("loss",))
        model.compile(optimizer=model.optimizer, loss="mse")
    true = true_losses(split(x, y, 8))
    session = lrw.TrainingSession(model)
    session.fit(x, y, epochs=2, batch_size=8, shuffle=False, callbacks=[true]).wait(120)
    (info,) = [e for e in session.history.events if e.kind == "info" and "each batch's own value" in e.message]
    assert info.step == 0 and "tracker" in info.message
    assert not [e for e in session.history.events if e.kind == "warning"]
    check_true_loss(session.history.loss, true.values)


def test_a_train_step_that_never_steps_the_optimizer_is_flagged() -> None:
    """keras.io's GANs step optimizers of their own: the model's, whose rate is shown, takes no step."""
    import lrwidgets as lrw

    x, y = regression_data(128)
    model = custom_step_model(("loss",), manual=True)
    start = kernel(model, "dense")
    session = lrw.TrainingSession(model)
    session.fit(x, y, epochs=2, batch_size=32).wait(120)
    assert session.history.num_steps == 8 and np.all(np.isfinite(session.history.loss))
    assert not np.allclose(kernel(model, "dense"), start)
    (warning,) = [e.message for e in session.history.events if e.kind == "warning"]
    assert "took no step in this fit's 8 batches" in warning and "(SGD)" in warning
    assert not [e for e in session.history.events if e.kind in ("nan", "restore", "error")]
    assert "optimizers of its own" in warning
    # A frozen model takes no step either: said so, not blamed on optimizers of its own.
    frozen = linear_model()
    frozen.trainable = False
    frozen.compile(optimizer="sgd", loss="mse")
    quiet = lrw.TrainingSession(frozen)
    quiet.fit(x, y, epochs=1, batch_size=32).wait(120)
    (warning,) = [e.message for e in quiet.history.events if e.source == "idle_optimizer"]
    assert "no trainable weights (frozen: `trainable=False`)" in warning and "GANs" not in warning
    frozen_test = lrw.LRRangeTest(frozen, num_steps=20)
    frozen_test.run(x, y, batch_size=8).wait(120)
    assert frozen_test.reason == "optimizer" and "no trainable weights" in frozen_test.message
    assert "GANs" not in frozen_test.message and frozen_test.message.endswith("no learning rate is suggested")

    # A range test on it sweeps a rate nothing uses: it suggests none (it gave confident ones).
    finder = lrw.LRRangeTest(model, num_steps=20)
    finder.run(x, y, batch_size=8).wait(120)
    assert finder.reason == "optimizer" and "no learning rate is suggested" in finder.message
    assert finder.suggestions == {} and finder.suggestion is None
    status = lrw.LRFinder(finder)._status.value  # the widget says why in words, not the reason's key
    assert "no suggestion: the model's optimizer took no step" in status and "too few steps" not in status


# ---- layers ------------------------------------------------------------------------------------
def architecture(kind: str) -> tuple[Any, np.ndarray, np.ndarray, bool]:
    """(compiled model, x, y, whether a batch's loss can be computed outside the step)."""
    import keras

    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    if kind == "conv_batchnorm":
        x = rng.normal(size=(64, 6, 6, 1)).astype("float32")
        y = (x.mean(axis=(1, 2, 3)) > 0).astype("int32")
        layers = [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dense(2, activation="softmax"),
        ]
        loss, exact = "sparse_categorical_crossentropy", False  # batch statistics in training
    elif kind == "gru":
        x = rng.normal(size=(64, 5, 3)).astype("float32")
        y = x.sum(axis=(1, 2))[:, None].astype("float32") * 0.1
        layers = [keras.Input((5, 3)), keras.layers.GRU(4), keras.layers.Dense(1)]
        loss, exact = "mse", True
    else:  # embedding
        x = rng.integers(0, 20, size=(64, 6)).astype("int32")
        y = (x.mean(axis=1, keepdims=True) / 20).astype("float32")
        layers = [
            keras.Input((6,), dtype="int32"),
            keras.layers.Embedding(20, 4),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(1),
        ]
        loss, exact = "mse", True
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
    return model, x, y, exact


@pytest.mark.parametrize("kind", ["conv_batchnorm", "gru", "embedding"])
def test_layers(kind: str) -> None:
    import lrwidgets as lrw

    model, x, y, exact = architecture(kind)
    true = true_losses(split(x, y, 16))
    session = lrw.TrainingSession(model)
    callbacks = [true] if exact else []
    fit_with_change(session, x, y, at=1, to=3e-3, epochs=1, batch_size=16, shuffle=False, callbacks=callbacks)
    check_fit(session, model, rows=4, at=1, before=1e-2, after=3e-3, x_predict=x[:4])
    if exact:
        check_true_loss(session.history.loss, true.values)


# ---- optimizers ----------------------------------------------------------------------------------
OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Ftrl", "Lion", "Lamb"]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_with_clipnorm(name: str) -> None:
    import keras

    import lrwidgets as lrw

    cls = getattr(keras.optimizers, name, None)
    if cls is None:
        pytest.skip(f"keras {keras.__version__} has no {name}")
    extra = {"momentum": 0.9} if name == "SGD" else {}
    x, y = regression_data(96)
    model = dense_model(cls(learning_rate=1e-2, clipnorm=1.0, **extra))
    start = kernel(model, "dense")
    session = lrw.TrainingSession(model)
    fit_with_change(session, x, y, at=1, to=2e-2, epochs=1, batch_size=32)
    check_fit(session, model, rows=3, at=1, before=1e-2, after=2e-2, x_predict=x[:4])
    assert not np.allclose(kernel(model, "dense"), start)  # it trained
    assert model.optimizer.clipnorm == 1.0


@pytest.mark.parametrize("option", [{"use_ema": True}, {"gradient_accumulation_steps": 2}], ids=["ema", "accumulation"])
def test_ema_and_gradient_accumulation(option: dict[str, Any]) -> None:
    import keras

    import lrwidgets as lrw

    x, y = regression_data(128)
    model = dense_model(keras.optimizers.Adam(1e-2, **option))
    true = true_losses(split(x, y, 32))
    session = lrw.TrainingSession(model)
    fit_with_change(session, x, y, at=1, to=2e-2, epochs=2, batch_size=32, shuffle=False, callbacks=[true])
    check_fit(session, model, rows=8, at=1, before=1e-2, after=2e-2, x_predict=x[:4])
    check_true_loss(session.history.loss, true.values)  # EMA weights replace the trained ones only at the end


# ---- how the fit runs ----------------------------------------------------------------------------
@pytest.mark.xfail(
    os.environ.get("KERAS_BACKEND") == "torch",
    reason="Keras: `steps_per_execution` must be 1 with the PyTorch backend",
    raises=ValueError,
    strict=True,
)
def test_steps_per_execution_records_one_row_per_execution() -> None:
    import lrwidgets as lrw
    from lrwidgets import schedules as S

    x, y = regression_data(128)
    model = dense_model(steps_per_execution=4)
    session = lrw.TrainingSession(model)
    # Keras calls back once per execution: begin steps 0, 4, 8, 12. The gate holds the second one.
    fit_with_change(session, x, y, at=4, to=2e-2, epochs=2, batch_size=8)
    check_fit(session, model, rows=8, at=1, before=1e-2, after=2e-2, x_predict=x[:4])
    assert session.fit_step == 32  # batches, not executions
    assert session.progress.steps == 16 and session.progress.step_in_epoch == 16
    # The rows' losses are the mean of each execution's batches: Keras's epoch mean is their mean.
    per_epoch = session.history.loss.reshape(2, 4).mean(axis=1)
    logged = [row["loss"] for row in session.history.epochs]
    np.testing.assert_allclose(per_epoch, logged, rtol=1e-4)
    # A schedule is evaluated at each execution's first batch.
    schedule = S.ExponentialDecay(1e-2, decay_steps=8, decay_rate=0.5)
    session.fit(x, y, epochs=2, batch_size=8, schedule=schedule).wait(120)
    np.testing.assert_allclose(session.history.learning_rate[8:], schedule(np.arange(0, 32, 4)), rtol=1e-6)
    assert session.fit_step == 32 and session.history.num_steps == 16


def test_run_eagerly() -> None:
    import lrwidgets as lrw

    x, y = regression_data(128)
    model = dense_model(run_eagerly=True)
    true = true_losses(split(x, y, 32))
    session = lrw.TrainingSession(model)
    fit_with_change(session, x, y, at=1, to=2e-2, epochs=1, batch_size=32, shuffle=False, callbacks=[true])
    check_fit(session, model, rows=4, at=1, before=1e-2, after=2e-2, x_predict=x[:4])
    check_true_loss(session.history.loss, true.values)


# ---- Keras callbacks -----------------------------------------------------------------------------
def test_early_stopping_restores_the_best_weights() -> None:
    import keras

    import lrwidgets as lrw

    x, y = regression_data(128)
    model = dense_model()
    # No epoch ever improves by 1e9: stops after the second epoch, of the ten asked for, and puts
    # back the weights of the first (the best by that rule).
    stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=1e9, restore_best_weights=True)

    class FirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if epoch == 0:
                self.kernel = kernel(self.model, "dense")

    first = FirstEpoch()
    session = lrw.TrainingSession(model)
    fit_with_change(session, x, y, at=1, to=2e-2, epochs=10, batch_size=32, callbacks=[first, stopper])
    check_fit(session, model, rows=8, at=1, before=1e-2, after=2e-2, x_predict=x[:4])
    assert len(session.history.epochs) == 2 and stopper.stopped_epoch == 1
    np.testing.assert_array_equal(kernel(model, "dense"), first.kernel)
    assert session.state == "idle"


def test_model_checkpoint_and_csv_logger(tmp_path) -> None:
    import keras

    import lrwidgets as lrw

    x, y = regression_data(128)
    model = dense_model()
    path, log = tmp_path / "model.keras", tmp_path / "log.csv"
    callbacks = [keras.callbacks.ModelCheckpoint(str(path)), keras.callbacks.CSVLogger(str(log))]
    dash = lrw.TrainingDashboard(model)
    data = {"validation_data": (x[:64], y[:64])}
    fit_with_change(dash, x, y, at=1, to=2e-2, epochs=2, batch_size=32, callbacks=callbacks, **data)
    check_fit(dash, model, rows=8, at=1, before=1e-2, after=2e-2, x_predict=x[:4])  # no rows for validation
    assert all(np.isfinite(e["val_loss"]) for e in dash.history.epochs)
    loaded = keras.models.load_model(path)  # saved after the last epoch: the final weights
    np.testing.assert_allclose(loaded.predict(x[:4], verbose=0), model.predict(x[:4], verbose=0), rtol=1e-5)
    with open(log, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    # CSVLogger writes the rate each epoch ended with, which is the one recorded for its last batch.
    np.testing.assert_allclose([float(r["learning_rate"]) for r in rows], [2e-2, 2e-2], rtol=1e-6)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose([float(r[key]) for r in rows], [e[key] for e in dash.history.epochs], rtol=1e-6)


def test_reduce_lr_on_plateau_is_recorded_as_used() -> None:
    import keras

    import lrwidgets as lrw

    x, y = regression_data(128)
    model = dense_model()
    # min_delta=1e9: no epoch after the first counts as an improvement: halved after epochs 1, 2.
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9)
    probe = rate_probe()
    dash = lrw.TrainingDashboard(model)
    fit_with_change(dash, x, y, at=1, to=2e-2, epochs=4, batch_size=32, callbacks=[reduce, probe])
    h = dash.history
    assert h.num_steps == 16 and np.all(np.isfinite(h.loss))
    expected = np.repeat([2e-2, 2e-2, 1e-2, 5e-3], 4)
    expected[:2] = 1e-2
    np.testing.assert_allclose(h.learning_rate, expected, rtol=1e-6)
    np.testing.assert_array_equal(h.learning_rate, np.float32(probe.values))  # what the optimizer held
    changes = [(e.step, e.source, e.value) for e in h.events if e.kind == "learning_rate"]
    assert changes == [
        (2, "user", pytest.approx(2e-2)),
        (8, "callback", pytest.approx(1e-2)),
        (12, "callback", pytest.approx(5e-3)),
        (16, "callback", pytest.approx(2.5e-3)),  # after the last epoch too: what the next fit starts from
    ]
    assert held_rate(model) == pytest.approx(2.5e-3)
    assert dash.learning_rate == pytest.approx(2.5e-3)
    assert not [e for e in h.events if e.kind in UNWANTED]


def test_a_plateau_and_reduce_lr_on_plateau_compose_at_the_last_epoch_too() -> None:
    """`plateau=` beside Keras's ReduceLROnPlateau: they composed at every epoch's end but the last,
    where the plateau's reduction was written over the callback's, which was neither applied nor
    recorded (two Keras ReduceLROnPlateau callbacks compose there too)."""
    import keras

    import lrwidgets as lrw
    from lrwidgets import schedules

    x, y = regression_data(128)

    def reduce(factor: float) -> keras.callbacks.Callback:
        return keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=factor, patience=0, min_delta=1e9)

    model = dense_model()
    model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[reduce(0.3), reduce(0.5)])
    keras_rate = held_rate(model)
    model = dense_model()
    session = lrw.TrainingSession(model)
    plateau = schedules.ReduceOnPlateau(held_rate(model), factor=0.3, patience=0, min_delta=1e9, monitor="loss")
    session.fit(x, y, epochs=3, batch_size=32, callbacks=[reduce(0.5)], plateau=plateau).wait(120)
    assert held_rate(model) == pytest.approx(keras_rate) == pytest.approx(1e-2 * 0.15**2)
    assert session.learning_rate == pytest.approx(keras_rate)
    last = [(e.source, e.value) for e in session.history.events if e.kind == "learning_rate" and e.step == 12]
    assert sorted(last) == [("callback", pytest.approx(keras_rate)), ("plateau", pytest.approx(keras_rate))]


def test_learning_rate_scheduler_composes_with_a_live_change() -> None:
    import keras

    import lrwidgets as lrw

    x, y = regression_data(128)
    model = dense_model()
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr / 2)
    probe = rate_probe()
    session = lrw.TrainingSession(model)
    fit_with_change(session, x, y, at=1, to=4e-3, epochs=3, batch_size=32, callbacks=[scheduler, probe])
    h = session.history
    expected = np.repeat([4e-3, 2e-3, 1e-3], 4)
    expected[:2] = 1e-2
    np.testing.assert_allclose(h.learning_rate, expected, rtol=1e-6)
    np.testing.assert_array_equal(h.learning_rate, np.float32(probe.values))
    changes = [(e.step, e.source) for e in h.events if e.kind == "learning_rate"]
    assert changes == [(2, "user"), (4, "callback"), (8, "callback")]
    assert held_rate(model) == pytest.approx(1e-3) and session.learning_rate == pytest.approx(1e-3)
    assert not [e for e in h.events if e.kind in UNWANTED]


# ---- mixed precision, re-compiling -----------------------------------------------------------------
def test_mixed_precision_with_a_layerwise_optimizer() -> None:
    import keras

    import lrwidgets as lrw

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        x, y = regression_data(192)
        y = y * 0.1  # small gradients: the loss scale does not overflow float16 at every step
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((8,)), keras.layers.Dense(4, name="a"), keras.layers.Dense(1, name="b", dtype="float32")]
        )
        model.compile(optimizer=lrw.LayerwiseOptimizer(keras.optimizers.SGD(1e-2)), loss="mse")
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)

        class Kernels(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.a: list[np.ndarray] = []
                self.b: list[np.ndarray] = []

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                self.a.append(kernel(self.model, "a"))
                self.b.append(kernel(self.model, "b"))

        kernels = Kernels()
        session = lrw.TrainingSession(model)
        assert session.multipliers == {"a": 1.0, "b": 1.0} and session.learning_rate == pytest.approx(1e-2)
        gate = Gate(at=1)
        run = session.fit(x, y, epochs=1, batch_size=32, callbacks=[kernels, gate])
        assert gate.reached.wait(60)
        session.set_multipliers({"a": 0.0})
        session.learning_rate = 2e-2
        gate.go.set()
        run.wait(120)
        check_fit(session, model, rows=6, at=1, before=1e-2, after=2e-2, x_predict=x[:4])
        layerwise = model.optimizer.inner_optimizer
        assert isinstance(layerwise, lrw.LayerwiseOptimizer)
        assert layerwise.multipliers == {"a": 0.0, "b": 1.0} == session.multipliers
        # Layer `a` is frozen from batch 2 on (its kernel after batch 1 is its last), `b` trains on.
        for a in kernels.a[2:]:
            np.testing.assert_array_equal(a, kernels.a[1])
        assert not all(np.array_equal(b, kernels.b[1]) for b in kernels.b[2:])
        (event,) = [e for e in session.history.events if e.kind == "action"]
        assert event.step == 2 and "a x0" in event.message
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_mixed_precision_with_a_keras_schedule_is_refused_clearly() -> None:
    import keras

    import lrwidgets as lrw

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=10, decay_rate=0.5)
        model = dense_model(keras.optimizers.Adam(schedule))
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        with pytest.raises(ValueError, match="Keras schedule \\(ExponentialDecay\\)"):
            lrw.TrainingSession(model)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_recompiling_between_fits_for_fine_tuning() -> None:
    import keras

    import lrwidgets as lrw

    x, y = regression_data(128)
    keras.utils.set_random_seed(0)
    base = keras.layers.Dense(8, activation="tanh", name="base")
    model = keras.Sequential([keras.Input((8,)), base, keras.layers.Dense(1, name="head")])
    base.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    frozen = kernel(model, "base")
    dash = lrw.TrainingDashboard(model)
    dash.fit(x, y, epochs=1, batch_size=32).wait(120)
    np.testing.assert_array_equal(kernel(model, "base"), frozen)
    base.trainable = True
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
    fit_with_change(dash, x, y, at=1, to=3e-4, epochs=1, batch_size=32)
    h = dash.history
    assert h.num_steps == 8 and np.all(np.isfinite(h.loss))
    np.testing.assert_allclose(h.learning_rate, [1e-3] * 4 + [1e-4] * 2 + [3e-4] * 2, rtol=1e-6)
    changes = [(e.step, e.source, e.value, e.fit) for e in h.events if e.kind == "learning_rate"]
    assert changes == [(4, "compile", pytest.approx(1e-4), 1), (6, "user", pytest.approx(3e-4), 1)]
    assert held_rate(model) == pytest.approx(3e-4) and dash.learning_rate == pytest.approx(3e-4)
    assert not np.array_equal(kernel(model, "base"), frozen)  # unfrozen: fine-tuned
    assert not [e for e in h.events if e.kind in UNWANTED]
    assert np.all(np.isfinite(model.predict(x[:4], verbose=0)))
