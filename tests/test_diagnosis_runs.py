"""``Diagnoser.step_many`` and the Diagnostician's runs of rows: the verdicts and the state of
``Diagnoser.step`` called once per row, to the bit, on random curves and on real fits."""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrwidgets.core.detectors import DivergingDetector
from lrwidgets.core.diagnosis import KINDS, Diagnoser, Diagnosis
from lrwidgets.core.loss_track import LossTrack

PIECES = (
    "decay",
    "flat",
    "constant",
    "spikes",
    "diverge",
    "jump",
    "nonfinite",
    "negative",
    "schedule",
    "collapse",
    "burst",
    "warmup",
    "raised",
)
RATE_FACTORS = (1.0, 1.0, 1.2, 1 / 1.2, 1.5, 1 / 1.5, 2.0, 0.5, 10.0, 0.1, 1000.0, 1e-3)


@st.composite
def curves(draw: Any) -> tuple[list[float], list[float]]:
    """Losses and rates: pieces of decay, plateau, exact constant (a collapse), spikes, divergence,
    jumps of the level, NaN/inf rows, negative losses, a decaying schedule, a warm-up (a rate rising
    each step), a raise of 10x with wider noise; rate jumps up and down between pieces (some below
    the jump factor)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    level = draw(st.sampled_from([2.3, 0.5, 14.5, 1e-3, 1e3]))
    rate = draw(st.sampled_from([1e-5, 1e-3, 0.1, 1.0, 0.0]))
    losses: list[float] = []
    rates: list[float] = []
    for piece in draw(st.lists(st.sampled_from(PIECES), min_size=1, max_size=6)):
        n = draw(st.one_of(st.integers(1, 60), st.integers(1, 700), st.integers(2500, 3000)))
        rate *= draw(st.sampled_from(RATE_FACTORS))
        t = np.arange(n)
        noise = 1 + draw(st.sampled_from([0.0, 0.01, 0.05, 0.3])) * rng.normal(size=n)
        step_rates = np.full(n, rate)
        if piece == "decay":
            values = level * (0.05 + np.exp(-t / draw(st.sampled_from([20, 300, 3000])))) * noise
        elif piece == "flat":
            values = level * noise
        elif piece == "constant":
            values = np.full(n, level)
        elif piece == "spikes":
            values = level * noise * np.where(rng.random(n) < 0.05, rng.uniform(2, 8, n), 1.0)
        elif piece == "diverge":
            with np.errstate(over="ignore"):  # to inf: a non-finite loss too
                values = level * draw(st.sampled_from([1.01, 1.1, 1.6])) ** t * noise
        elif piece == "collapse":  # a few steps, one far above, then flat near the level
            values = level * noise
            values[min(int(rng.integers(1, 5)), n - 1)] = level * rng.uniform(3, 30)
        elif piece == "burst":  # a run of steps well above the level that comes back
            values = level * noise
            at = int(rng.integers(0, n))
            values[at : at + int(rng.integers(3, 25))] *= rng.uniform(3, 10)
        elif piece == "jump":
            level *= draw(st.sampled_from([5.0, 0.2, 100.0]))
            values = level * noise
        elif piece == "nonfinite":
            values = level * noise
            at = rng.random(n) < 0.3
            values[at] = rng.choice([math.nan, math.inf, -math.inf], size=int(at.sum()))
        elif piece == "negative":
            values = -level * noise + rng.choice([0.0, level])
        elif piece == "raised":  # raised 10x, flat with wider batch noise (too_slow's raise that did not help)
            rate *= 10.0
            step_rates = np.full(n, rate)
            values = level * (1 + 4 * (noise - 1)) if n > 1 else level * noise
        elif piece == "warmup":  # flat, then a rate rising a little each step (past too_slow's mute)
            values = level * noise
            step_rates = rate * draw(st.sampled_from([1.002, 1.01, 1.05])) ** t
            rate = float(step_rates[-1])
        else:  # "schedule": a gradual decay of the rate, below the jump factor at each step
            values = level * (0.2 + np.exp(-t / 200)) * noise
            step_rates = rate * 0.999**t
            rate = float(step_rates[-1])
        level = float(values[-1]) if math.isfinite(values[-1]) and values[-1] != 0 else level
        losses += np.asarray(values, dtype=np.float64).tolist()
        rates += step_rates.tolist()
    return losses, rates


def make(config: dict[str, Any]) -> Diagnoser:
    """A diagnoser, with the samples a row the Diagnostician sets at a fit's start (``diverging``'s
    and ``oscillating``'s gaps read them)."""
    config = dict(config)
    samples = config.pop("samples")
    made = Diagnoser(**config)
    made.context.batch_size = samples
    for rule in made.detectors:
        if isinstance(rule, DivergingDetector):
            rule.use_samples(samples if made.context.num_classes is not None else None)
    return made


configs = st.fixed_dictionaries(
    {
        "num_classes": st.sampled_from([None, 10]),
        "kinds": st.one_of(
            st.none(), st.lists(st.sampled_from(KINDS), min_size=1, max_size=9, unique=True)
        ),  # any order
        "rate_jump": st.sampled_from([1.5, 1.1, 3.0, 100.0]),
        "divergence_factor": st.sampled_from([4.0, 1.5, 10.0]),
        "samples": st.sampled_from([None, 32, 8, 1]),
    }
)


def state(obj: Any) -> Any:
    """Everything an object of lrwidgets holds, recursively, as a comparable value."""
    if isinstance(obj, (list, tuple)):
        return [state(v) for v in obj]
    if isinstance(obj, set):
        return sorted(obj)
    if isinstance(obj, dict):
        return {k: state(v) for k, v in obj.items()}
    if type(obj).__module__.startswith("lrwidgets") and hasattr(obj, "__dict__"):
        return (type(obj).__name__, {k: state(v) for k, v in vars(obj).items()})
    return obj


def same(a: Any, b: Any) -> bool:
    """Equal to the bit (repr tells -0.0 from 0.0, writes NaN as nan and every float exactly)."""
    return repr(state(a)) == repr(state(b))


def epoch_logs(rng: np.random.Generator, count: int) -> dict[str, float]:
    return {"epoch": count, "loss": float(rng.uniform(0, 3)), "val_loss": float(rng.uniform(0, 3)),
            "accuracy": float(rng.uniform(0, 1))}  # fmt: skip


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(curves(), configs, st.integers(0, 2**32 - 1))
def test_runs_of_rows_give_the_verdicts_and_state_of_one_row_at_a_time(
    curve: tuple[list[float], list[float]], config: dict[str, Any], seed: int
) -> None:
    losses, rates = curve
    rng = np.random.default_rng(seed)
    cuts = sorted({0, len(losses), *rng.integers(0, len(losses) + 1, size=int(rng.integers(0, 12))).tolist()})
    one, many = make(config), make(config)
    by_row: list[Diagnosis] = []
    by_run: list[Diagnosis] = []
    for count, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        for i in range(lo, hi):
            by_row += one.step(i, losses[i], rates[i])
        by_run += many.step_many(lo, losses[lo:hi], rates[lo:hi])
        if rng.random() < 0.3:  # an epoch's logs between two runs
            logs = epoch_logs(rng, count)
            by_row += one.epoch(hi - 1, logs)
            by_run += many.epoch(hi - 1, logs)
    assert repr(by_run) == repr(by_row)
    assert same(many, one)
    assert sum(math.isfinite(v) for v in losses) == one.context.track.steps  # every row was fed


def test_the_edges_of_the_plain_path_take_the_row_by_row_rules() -> None:
    """A few rows at a time, exactly at the rows that leave the plain path: a window rule due, the
    running sums' recomputation (64 windows), a rate jump, a spike, a plateau's patience."""
    rng = np.random.default_rng(3)
    n = 64 * 40 * 2 + 7
    # A fall, then flat (a loss that never fell from the start is `too_slow`, which mutes `plateau`).
    losses = (np.maximum(1.0, 2.3 * np.exp(-np.arange(n) / 150)) * (1 + 0.02 * rng.normal(size=n))).tolist()
    losses[1500] = losses[1510] = losses[1530] = 30.0  # spikes
    rates = [1e-3] * 3000 + [1e-2] * (n - 3000)
    one, many = Diagnoser(num_classes=10), Diagnoser(num_classes=10)
    by_row = [v for i in range(n) for v in one.step(i, losses[i], rates[i])]
    by_run: list[Diagnosis] = []
    for lo in range(0, n, 13):
        by_run += many.step_many(lo, losses[lo : lo + 13], rates[lo : lo + 13])
    kinds = ["plateau", "oscillating", "plateau"]
    assert [v.kind for v in by_row] == kinds and by_row[1].last_step == 1530
    assert repr(by_run) == repr(by_row) and same(many, one)
    assert many.context.track.steps == n and many.step_many(n, [], []) == []


def test_a_window_verdict_mutes_plateau_within_its_row() -> None:
    """``collapsed`` reports on a row where ``plateau`` (after it, muted by it) would have taken a
    new reference: as in ``Diagnoser.step``, plateau's reference stays (3 of these 200 curves)."""
    collapses = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        flat = rng.uniform(2.2, 2.6) * (1 + 0.03 * rng.normal(size=200))
        losses = [2.3, 2.3, 2.3, 2.3, rng.uniform(3, 30), *flat.tolist()]
        one, many = Diagnoser(num_classes=10), Diagnoser(num_classes=10)
        by_row = [v for i, loss in enumerate(losses) for v in one.step(i, loss, 1.0)]
        assert repr(many.step_many(0, losses, [1.0] * len(losses))) == repr(by_row) and same(many, one)
        collapses += [v.kind for v in by_row if v.kind != "spiked"] == ["collapsed"]  # spiked: a jump 2x+
    assert collapses >= 100


@given(st.integers(4, 64), st.lists(st.floats(-1e3, 1e3), max_size=300), st.sets(st.integers(0, 299), max_size=4))
def test_the_newer_half_mean_is_half_means_own_to_the_bit(window: int, losses: list[float], jumps: set[int]) -> None:
    """``too_slow`` reads the newer half from the ring in place: the value ``half_means`` gives, at
    every length of the window (filling, full, wrapped) and after rate jumps that empty it."""
    track = LossTrack(window=window)
    rate = 1e-3
    for step, loss in enumerate(losses):
        rate *= 10.0 if step in jumps else 1.0
        track.update(step, loss, rate, 1.5)
        assert track.newer_mean() == track.half_means()[1]


def test_step_many_refuses_runs_of_two_lengths() -> None:
    with pytest.raises(ValueError, match="Arguments `losses` and `learning_rates` must have the same length"):
        Diagnoser().step_many(0, [1.0, 2.0], [1e-3])


# ---- the Diagnostician: runs between its events, against its row-by-row form -------------------
def row_by_row_doctor() -> Any:
    """A Diagnostician that feeds its diagnoser one row at a time (as it did before runs)."""
    from lrwidgets.training.diagnostician import Diagnostician

    class RowByRow(Diagnostician):
        def _on_snapshot(self, snap: Any) -> None:
            nan_steps = {e.step for e in snap.events if e.kind == "nan"}
            epochs = sorted(snap.epochs, key=lambda row: int(row.get("step", -1)))
            e = 0
            found: list[Diagnosis] = []
            d = self.diagnoser
            fit_start = snap.progress.fit_first_step
            for i, (loss, rate) in enumerate(zip(snap.loss.tolist(), snap.learning_rate.tolist(), strict=True)):
                step = snap.first_step + i
                if math.isfinite(loss) or math.isinf(loss) or step in nan_steps:
                    if step >= fit_start > self._fit_start:
                        d = self._next_fit(fit_start, loss)
                    self._fit_context(fit_start)  # as the runs set it: weighted, batches a row, batch size
                    found += d.step(step, loss, rate)
                    self._stepped = True
                while e < len(epochs) and int(epochs[e].get("step", -1)) <= step:
                    found += self._epoch(epochs[e])
                    e += 1
            for row in epochs[e:]:
                found += self._epoch(row)
            for verdict in found:
                self._record(verdict)

    return RowByRow


@pytest.mark.keras
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(curves(), st.integers(0, 2**32 - 1))
def test_a_diagnosticians_snapshots_give_the_verdicts_of_one_row_at_a_time(
    curve: tuple[list[float], list[float]], seed: int
) -> None:
    """Random snapshots: NaN rows with and without the session's ``nan`` event, epochs at any
    step (also before the snapshot's first row and past its last), new fits starting anywhere."""
    import keras

    import lrwidgets as lrw
    from lrwidgets.core.history import Event
    from lrwidgets.training.session import Snapshot

    losses, rates = curve
    rng = np.random.default_rng(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    new = lrw.Diagnostician(lrw.TrainingSession(model), keep_best=False)
    old = row_by_row_doctor()(lrw.TrainingSession(model), keep_best=False)
    n = len(losses)
    cuts = sorted({0, n, *rng.integers(0, n + 1, size=int(rng.integers(0, 8))).tolist()})
    fit_start = 0
    for count, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        with np.errstate(over="ignore"):  # as the history stores them: float32, huge ones inf
            loss = np.asarray(losses[lo:hi], dtype=np.float32)
        events = tuple(
            Event(lo + i, 0, "nan", "") for i in np.flatnonzero(np.isnan(loss)).tolist() if rng.random() < 0.5
        )
        epochs = tuple(
            {**epoch_logs(rng, count), "step": int(s)} for s in rng.integers(lo - 3, hi + 3, size=rng.integers(0, 3))
        )
        if rng.random() < 0.3:
            fit_start = int(rng.integers(fit_start, hi + 1))
        progress = dataclasses.replace(new.session.progress, fit_first_step=fit_start)
        rate = np.asarray(rates[lo:hi], dtype=np.float32)
        snap = Snapshot(progress, False, lo, loss, rate, np.zeros(hi - lo), epochs, events)
        new._on_snapshot(snap)
        old._on_snapshot(snap)
    assert repr(new.diagnoses) == repr(old.diagnoses)
    assert same(new.diagnoser, old.diagnoser)


@pytest.mark.keras
def test_an_epoch_is_judged_after_the_row_of_its_step() -> None:
    """Epochs at steps 10, 20, 29, 30 (the fourth overfits) and a NaN loss at step 30: the row's ``nan``
    verdict comes before the epoch's ``overfitting`` one, as the session recorded them."""
    import keras

    import lrwidgets as lrw
    from lrwidgets.core.history import Event
    from lrwidgets.training.session import Snapshot

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    loss = np.array([2.3 - 0.04 * i for i in range(30)] + [np.nan], dtype=np.float32)
    steps, vals = (10, 20, 29, 30), (1.0, 2.0, 2.1, 2.2)  # the last three 1.0 above the minimum, each 0.1 apart
    epochs = tuple(
        {"epoch": k, "step": s, "loss": 1.0 - 0.1 * k, "val_loss": v}
        for k, (s, v) in enumerate(zip(steps, vals, strict=True))
    )
    doctors = [lrw.Diagnostician(lrw.TrainingSession(model)), row_by_row_doctor()(lrw.TrainingSession(model))]
    for doctor in doctors:
        rate = np.full(31, 1e-3, np.float32)
        doctor._on_snapshot(
            Snapshot(doctor.session.progress, False, 0, loss, rate, rate, epochs, (Event(30, 0, "nan", ""),))
        )
    assert [(v.kind, v.last_step) for v in doctors[0].diagnoses] == [("nan", 30), ("overfitting", 30)]
    assert repr(doctors[0].diagnoses) == repr(doctors[1].diagnoses)


@pytest.mark.keras
def test_a_real_diverging_fit_gets_the_verdicts_of_one_row_at_a_time() -> None:
    """A digits MLP learning at Adam 1e-3, its rate raised 1000x at step 90: the session's
    Diagnostician and a row-by-row one, fed the same snapshots, record the same verdicts."""
    import keras

    import lrwidgets as lrw
    from tests.test_diagnosis import digits_data, digits_model

    class RaiseRate(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            if session.history.num_steps == 90:
                session.set_learning_rate(1.0, source="user")

    x, y = digits_data()
    session = lrw.TrainingSession(digits_model(keras.optimizers.Adam(1e-3)))
    new = lrw.Diagnostician(session)
    old = row_by_row_doctor()(session)
    session.fit(x, y, epochs=3, batch_size=32, validation_split=0.2, callbacks=[RaiseRate()]).wait(120)
    kinds = [v.kind for v in new.diagnoses]
    assert kinds and kinds[0] in ("diverging", "spiked", "collapsed") and new.diagnoses[0].last_step >= 90
    assert repr(new.diagnoses) == repr(old.diagnoses)
    assert same(new.diagnoser, old.diagnoser)


@pytest.mark.keras
def test_a_hard_binary_task_is_not_collapsed_nor_too_slow_after_a_plateau_cut() -> None:
    """``make_classification`` with half the labels flipped: the best loss (~0.63) is ~0.9x the
    untrained one. Logistic regression at Adam 1e-3 (slow: Adam 1e-2 gets as low ~8x sooner;
    measured: `collapsed` in 2 of 6 seeds, the rate then cut by ``on_diverge="lower"``), and an
    MLP at Adam 1e-2 whose rate ``ReduceLROnPlateau`` cuts at convergence (measured: `too_slow` in
    5 of 6 seeds, `collapsed` in the other): no `collapsed`, no `too_slow` after a cut."""
    import keras
    from sklearn.datasets import make_classification

    import lrwidgets as lrw

    for seed, hidden, rate, epochs in ((0, 0, 1e-3, 3), (3, 0, 1e-3, 3), (0, 16, 1e-2, 12), (5, 16, 1e-2, 12)):
        x, y = make_classification(
            n_samples=4000, n_features=20, n_informative=5, flip_y=0.5, class_sep=0.8, random_state=seed
        )
        x, y = x.astype("float32"), y.astype("int32")
        keras.utils.set_random_seed(seed)
        layers = [keras.Input((20,)), *([keras.layers.Dense(hidden, activation="relu")] if hidden else [])]
        if hidden:
            layers.append(keras.layers.Dense(2, activation="softmax"))
            loss = "sparse_categorical_crossentropy"
        else:
            layers.append(keras.layers.Dense(1, activation="sigmoid"))
            loss = "binary_crossentropy"
        model = keras.Sequential(layers)
        model.compile(optimizer=keras.optimizers.Adam(rate), loss=loss, metrics=["accuracy"])
        session = lrw.TrainingSession(model)
        doctor = lrw.Diagnostician(session, on_diverge="lower")
        cut = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, min_delta=1e-3)
        data = {"validation_data": (x[3000:], y[3000:]), "epochs": epochs, "batch_size": 32, "callbacks": [cut]}
        session.fit(x[:3000], y[:3000], **data).wait(300)
        shown = (seed, hidden, [str(v) for v in doctor.diagnoses])
        assert "collapsed" not in [v.kind for v in doctor.diagnoses], shown
        assert not [e for e in session.history.events if e.kind == "learning_rate" and e.source == "on_diverge"]
        cuts = [e.step for e in session.history.events if e.kind == "learning_rate" and e.source == "callback"]
        assert not [v for v in doctor.diagnoses if v.kind == "too_slow" and cuts and v.last_step > cuts[0]], shown
        if hidden:
            assert cuts, "ReduceLROnPlateau cut the rate"
