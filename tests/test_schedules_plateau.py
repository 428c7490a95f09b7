"""ReduceOnPlateau against the real keras.callbacks.ReduceLROnPlateau."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrwidgets.schedules import ReduceOnPlateau

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.keras

# Few distinct values, so that ties, plateaus and min_delta edges come up often.
monitored_values = st.lists(
    st.one_of(
        st.sampled_from([1.0, 0.9, 0.8999, 0.5, 0.5001, 0.1]),
        st.floats(0.0, 2.0),
        st.just(float("nan")),
    ),
    min_size=1,
    max_size=40,
)


def keras_plateau_rates(
    plateau: ReduceOnPlateau, monitored: list[float | None], callback: object = None, key: str = "loss"
) -> list[float]:
    """``learning_rate`` as Keras' History records it, from the real callback on a real model and optimizer."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=plateau.initial_learning_rate), loss="mse")
    if callback is None:
        config = plateau.get_config()
        del config["initial_learning_rate"]
        callback = keras.callbacks.ReduceLROnPlateau(**{**config, "monitor": key})
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch, value in enumerate(monitored):
        logs = {key: value} if value is not None else {"other": 0.0}  # None: the epoch logged no `key`
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras warns at an epoch without the monitored value
            callback.on_epoch_end(epoch, logs)
        rates.append(logs["learning_rate"])
    return rates


@settings(max_examples=40, deadline=None)
@given(
    monitored=monitored_values,
    lr=st.floats(1e-4, 1.0),
    mode=st.sampled_from(["min", "max"]),
    factor=st.floats(0.01, 0.99),
    patience=st.integers(0, 5),
    min_delta=st.sampled_from([0.0, 1e-4, 0.1, 0.0001, 0.4999]),
    cooldown=st.integers(0, 3),
    min_lr_fraction=st.sampled_from([0.0, 0.01, 0.3]),
)
def test_simulate_matches_keras_callback(
    monitored: list[float],
    lr: float,
    mode: str,
    factor: float,
    patience: int,
    min_delta: float,
    cooldown: int,
    min_lr_fraction: float,
) -> None:
    plateau = ReduceOnPlateau(lr, mode, factor, patience, min_delta, cooldown, lr * min_lr_fraction)
    assert plateau.simulate(monitored).tolist() == keras_plateau_rates(plateau, monitored)


@settings(max_examples=30, deadline=None)
@given(
    monitored=st.lists(st.one_of(st.none(), st.sampled_from([1.0, 0.9, 0.5, 0.5001]), st.floats(0, 2)), max_size=30),
    patience=st.integers(0, 3),
    cooldown=st.integers(0, 2),
)
def test_an_epoch_without_the_value_is_skipped_as_keras_skips_it(
    monitored: list[float | None], patience: int, cooldown: int
) -> None:
    """A fit that validates every few epochs logs `val_loss` at those only: Keras's callback spends no
    patience and no cooldown at the others."""
    plateau = ReduceOnPlateau(0.1, factor=0.5, patience=patience, cooldown=cooldown)
    assert plateau.simulate(monitored).tolist() == keras_plateau_rates(plateau, monitored)


def test_float32_tie_is_decided_as_keras_decides_it() -> None:
    # 0.5 + 1e-4 < 0.50010001 in float64 but not in float32: Keras compares in float32, no improvement.
    assert 0.5 + 1e-4 < 0.50010001
    monitored = [0.50010001, 0.5, 0.5, 0.5]
    plateau = ReduceOnPlateau(0.1, factor=0.5, patience=1, min_delta=1e-4)
    rates = plateau.simulate(monitored).tolist()
    assert rates == keras_plateau_rates(plateau, monitored)
    assert rates[2] < rates[1]  # a reduction fired after the tie


def test_history_of_a_real_fit() -> None:
    """A real fit with the callback: History's learning_rate is simulate(History's loss)."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 2)), rng.normal(size=(32, 1))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
    # min_delta larger than any change: every epoch but the first is "no improvement".
    plateau = ReduceOnPlateau(0.05, factor=0.5, patience=2, min_delta=10.0, cooldown=1, min_lr=0.01)
    config = plateau.get_config()
    del config["initial_learning_rate"]
    cb = keras.callbacks.ReduceLROnPlateau(**{**config, "monitor": "loss"})
    history = model.fit(x, y, batch_size=8, epochs=12, verbose=0, callbacks=[cb])
    simulated = plateau.simulate(history.history["loss"])
    assert simulated.tolist() == history.history["learning_rate"]
    assert len(set(simulated.tolist())) > 2  # several reductions, then the min_lr floor
    assert simulated[-1] == pytest.approx(0.01)


def test_tracker_drives_epoch_by_epoch_and_follows_outside_changes() -> None:
    plateau = ReduceOnPlateau(1.0, factor=0.5, patience=1, min_delta=0.0)
    t = plateau.tracker()
    assert t.update(1.0) == 1.0
    assert t.last_factor == 1.0
    assert t.update(1.0) == 0.5
    assert t.last_factor == 0.5
    # Someone set the rate to 0.2: the next reduction halves 0.2, as Keras halves the optimizer's rate.
    assert t.update(2.0, learning_rate=0.2) == pytest.approx(0.1)
    assert t.reductions == [1, 2]
    assert t.epoch == 3


def test_to_keras_callback_carries_every_argument() -> None:
    from lrwidgets.training import to_keras_callback

    plateau = ReduceOnPlateau(0.1, mode="max", factor=0.3, patience=4, min_delta=0.01, cooldown=2, min_lr=1e-4)
    cb = to_keras_callback(plateau, monitor="val_accuracy")
    assert isinstance(cb, keras.callbacks.ReduceLROnPlateau)
    got = {k: getattr(cb, k) for k in ("monitor", "mode", "factor", "patience", "min_delta", "cooldown", "min_lr")}
    assert got == {
        "monitor": "val_accuracy",
        "mode": "max",
        "factor": 0.3,
        "patience": 4,
        "min_delta": 0.01,
        "cooldown": 2,
        "min_lr": 1e-4,
    }
    monitored = [0.5, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    rates = keras_plateau_rates(plateau, monitored, callback=cb, key="val_accuracy")
    assert rates == plateau.simulate(monitored).tolist()
    assert min(rates) < 0.1
    with pytest.raises(TypeError, match="Expected a ReduceOnPlateau"):
        to_keras_callback(plateau.tracker())  # type: ignore[arg-type]


def test_the_monitor_follows_the_mode_and_a_contradiction_is_refused() -> None:
    assert ReduceOnPlateau(0.1).monitor == "val_loss" and "monitor" not in ReduceOnPlateau(0.1).get_config()
    assert ReduceOnPlateau(0.1, mode="max").monitor == "val_accuracy"
    named = ReduceOnPlateau(0.1, mode="max", monitor="val_auc")
    assert ReduceOnPlateau.from_config(named.get_config()) == named and named.get_config()["monitor"] == "val_auc"
    with pytest.raises(ValueError, match=r"^Argument `monitor` in mode 'max' must rise .* mode='max'$"):
        ReduceOnPlateau(0.1, mode="max", monitor="val_loss")
    with pytest.raises(ValueError, match=r"Received: monitor='accuracy', mode='min'$"):
        ReduceOnPlateau(0.1, monitor="accuracy")
    # Keys that only contain the words are not taken for them (a multi-output model's losses).
    assert ReduceOnPlateau(0.1, monitor="val_vaccine_head_loss").monitor == "val_vaccine_head_loss"
    assert ReduceOnPlateau(0.1, mode="max", monitor="val_glossiness_auc").monitor == "val_glossiness_auc"
    with pytest.raises(ValueError, match=r"Received: monitor='out_acc', mode='min'$"):
        ReduceOnPlateau(0.1, monitor="out_acc")
    with pytest.raises(TypeError, match=r"Argument `monitor` must be a non-empty string .* Received: monitor=''"):
        ReduceOnPlateau(0.1, monitor="")


@pytest.mark.keras
def test_a_plateau_given_alone_says_its_initial_rate_is_not_the_fits_start() -> None:
    """`plateau=ReduceOnPlateau(5e-2)` on a model at 1e-3 ran at 1e-3 and said nothing (as
    `schedule=` it runs at 5e-2)."""
    import keras

    import lrwidgets as lrw
    from lrwidgets import schedules as S
    from tests.helpers import linear_model, regression_data

    x, y = regression_data(64)
    session = lrw.TrainingSession(linear_model(keras.optimizers.SGD(1e-3)))
    session.fit(x, y, epochs=1, batch_size=16, plateau=S.ReduceOnPlateau(5e-2, monitor="loss")).wait(60)
    (note,) = [e.message for e in session.history.events if "initial_learning_rate" in e.message]
    assert "(0.05) is not used" in note and "(0.001)" in note and "`schedule=`" in note
    assert np.allclose(session.history.learning_rate, 1e-3)
    session.fit(x, y, epochs=1, batch_size=16, plateau=S.ReduceOnPlateau(1e-3, monitor="loss")).wait(60)
    assert len([e for e in session.history.events if "initial_learning_rate" in e.message]) == 1  # the same: nothing
    # With a schedule: its reductions act on the schedule (it said nothing).
    plateau = S.ReduceOnPlateau(1e-4, monitor="loss")
    session.fit(x, y, epochs=1, batch_size=16, schedule=S.Constant(1e-2), plateau=plateau).wait(60)
    notes = [e.message for e in session.history.events if "initial_learning_rate" in e.message]
    assert len(notes) == 2 and "(0.0001) is not used: its reductions act on the schedule given, from (0.01)" in notes[1]
    assert np.allclose(session.history.learning_rate[-4:], 1e-2)


def test_a_plateau_in_a_sweeps_schedules_reduces_the_trials_rate() -> None:
    """A sweep wrapped every schedule to start it at the trial's rate, which hid a ReduceOnPlateau
    from the fit: the trial, labelled a plateau, ran at a constant rate (0.05 every epoch)."""
    from lrwidgets.sweep import Sweep, train_trial

    def build_model() -> Any:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        return model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    plateau = ReduceOnPlateau(1.0, factor=0.5, patience=0, min_delta=10.0, min_lr=0.2, monitor="loss")  # cuts at each
    sweep = Sweep(build_model, [0.05], schedules=[plateau], epochs=4)
    sent: list[dict[str, Any]] = []
    data, fit = {"x": x, "y": y}, {"batch_size": 16, "epochs": 4}
    row = train_trial(sweep.trials[0], build_model, data, fit, send=sent.append, max_points=10_000)
    rates = [r for message in sent for r in message["learning_rate"]]
    assert row["status"] == "done" and len(rates) == 16
    assert [rates[4 * e] for e in range(4)] == pytest.approx([0.05, 0.05, 0.025, 0.0125])  # min_lr 0.2 x 0.05
    best = sweep.trials[0].scaled_schedule()  # what `sweep.best_schedule` hands to a later fit
    assert isinstance(best, ReduceOnPlateau) and best.initial_learning_rate == 0.05 and best.factor == 0.5
    assert best.min_lr == pytest.approx(0.01)  # the floor scaled as the rate (0.2 would hold it at 0.05)
