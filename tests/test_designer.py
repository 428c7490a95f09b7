"""ScheduleDesigner without a browser: traits, controls played with set_state, messages recorded."""

from __future__ import annotations

import html
import json
import re

import ipywidgets
import numpy as np
import pytest
import traitlets

from lrwidgets import ScheduleDesigner
from lrwidgets.schedules import CosineDecay, CosineDecayRestarts, ExponentialDecay, ReduceOnPlateau, StepDecay, Warmup
from lrwidgets.widgets.designer import SAMPLES_PER_POINT, drawn_steps
from tests.helpers import RecordingComm


@pytest.fixture(autouse=True)
def recording(monkeypatch: pytest.MonkeyPatch) -> type[RecordingComm]:
    """Every widget gets a comm that records its messages, as a kernel's would carry them."""
    monkeypatch.setattr(ipywidgets.comm, "create_comm", RecordingComm)
    RecordingComm.log = []
    return RecordingComm


def test_constructor_builds_the_requested_schedule() -> None:
    d = ScheduleDesigner(kind="exponential", initial_learning_rate=1e-3, epochs=30, steps_per_epoch=100)
    assert d.schedule == ExponentialDecay(1e-3, decay_steps=100, decay_rate=0.9)
    assert d.preview().shape == (3000,)
    np.testing.assert_array_equal(d.preview(), d.schedule(np.arange(3000)))
    assert json.loads(json.dumps(d.value)) == d.value


def test_edits_change_schedule_preview_and_code() -> None:
    d = ScheduleDesigner(kind="exponential", initial_learning_rate=1e-3, epochs=30, steps_per_epoch=100)
    seen = []
    d.observe(lambda change: seen.append(change["new"]), names="schedule")
    before_preview, before_code = d.preview(), d._code.value
    d.update(decay_rate=0.5)
    assert d.schedule.decay_rate == 0.5
    assert d.preview()[100] == pytest.approx(5e-4)
    assert not np.array_equal(d.preview(), before_preview)
    assert "decay_rate=0.5" in d.code
    assert "decay_rate=0.5" in d._code.value != before_code
    d.epochs = 10
    assert d.preview().shape == (1000,)
    d.kind = "step"
    assert isinstance(d.schedule, StepDecay)
    assert d.schedule.initial_learning_rate == 1e-3  # the level of the rate is carried over
    d.kind = "piecewise"
    assert d.schedule.values[0] == 1e-3
    d.kind = "step"
    d.update(warmup_steps=50)
    assert isinstance(d.schedule, Warmup)
    assert d.preview()[0] == 0.0
    assert d.preview()[50] == pytest.approx(1e-3)
    # Observers hear of every new schedule, and only of new ones (a longer run is the same schedule).
    assert [type(s).__name__ for s in seen] == [
        "ExponentialDecay",
        "StepDecay",
        "PiecewiseConstantDecay",
        "StepDecay",
        "Warmup",
    ]


def test_value_is_synced_and_schedule_is_read_only() -> None:
    d = ScheduleDesigner(kind="constant", learning_rate=0.01)
    assert d.get_state()["value"] == d.value
    assert d.value["config"] == {"learning_rate": 0.01}
    with pytest.raises(traitlets.TraitError, match="read-only"):
        d.schedule = ExponentialDecay(0.1, 10, 0.5)


def test_value_round_trips_into_a_fresh_designer() -> None:
    d = ScheduleDesigner(kind="cosine", initial_learning_rate=3e-3, alpha=0.1, epochs=12, steps_per_epoch=50)
    d.update(warmup_steps=30)
    fresh = ScheduleDesigner(value=json.loads(json.dumps(d.value)))
    assert fresh.schedule == d.schedule == Warmup(CosineDecay(3e-3, decay_steps=600, alpha=0.1), 30)
    np.testing.assert_array_equal(fresh.preview(), d.preview())
    other = ScheduleDesigner(kind="plateau")
    other.value = d.value
    assert other.schedule == d.schedule
    assert other._controls_kind == "cosine"
    assert set(other._controls) == {"initial_learning_rate", "decay_steps", "alpha"}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"kind": "exponential", "lr": 0.1}, TypeError, "unexpected arguments ['lr']"),
        ({"kind": "cosine", "warmup_target": 0.1}, TypeError, "unexpected arguments ['warmup_target']"),
        ({"kind": "linear"}, ValueError, "Argument `kind` must be one of"),
        ({"kind": "exponential", "decay_rate": -1.0}, ValueError, "Argument `decay_rate` must be > 0"),
        ({"kind": "plateau", "factor": 1.5}, ValueError, "Argument `factor` must be < 1. Received: factor=1.5"),
        ({"epochs": 0}, ValueError, "Argument `epochs` must be >= 1"),
        ({"steps_per_epoch": 2.5}, ValueError, "Argument `steps_per_epoch` must be an integer"),
        ({"kind": "plateau", "warmup_steps": 10}, ValueError, "cannot have warm-up steps"),
        ({"value": {"kind": "constant"}, "epochs": 3}, TypeError, "either `value` or"),
    ],
)
def test_bad_constructor_arguments_raise_named_errors(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        ScheduleDesigner(**kwargs)


def test_bad_edits_raise_and_change_nothing() -> None:
    d = ScheduleDesigner(kind="exponential", initial_learning_rate=1e-3, epochs=5, steps_per_epoch=10)
    value, schedule, x = dict(d.value), d.schedule, d._plot.lines.x.copy()
    with pytest.raises(ValueError, match="Argument `decay_rate` must be > 0"):
        d.update(decay_rate=0.0)
    with pytest.raises(TypeError, match="has no arguments"):
        d.update(alpha=0.1)
    with pytest.raises(TypeError, match="needs exactly"):
        d.value = {**d.value, "config": {"initial_learning_rate": 0.1}}
    with pytest.raises(TypeError, match="must be a dict with the keys"):
        d.value = {"kind": "constant"}
    assert d.value == value
    assert d.schedule is schedule
    np.testing.assert_array_equal(d._plot.lines.x, x)


def test_controls_played_like_a_browser_edit_the_design() -> None:
    d = ScheduleDesigner(kind="exponential", epochs=20, steps_per_epoch=10)
    rate = d._controls["decay_rate"]
    assert isinstance(rate, ipywidgets.FloatSlider)
    assert isinstance(d._controls["initial_learning_rate"], ipywidgets.FloatLogSlider)
    rate.set_state({"value": 0.25})
    assert d.schedule.decay_rate == 0.25
    restored = ScheduleDesigner(value={**d.value, "config": {**d.value["config"], "decay_steps": 10.5}})
    restored._controls["decay_rate"].set_state({"value": 0.5})
    assert restored.schedule.decay_steps == 10.5  # untouched by an edit of another argument
    d._epochs.set_state({"value": 7})
    assert d.preview().shape == (70,)
    # A page's index that is no option's (`true`, which traitlets takes for 1) is refused.
    for index in (True, 1.5, -1, len(d._kind.options)):
        with pytest.raises(traitlets.TraitError, match="Argument `index` must be"):
            d._kind.set_state({"index": index})
        assert d.value["kind"] == "exponential"
    # A float step count too large for the slider: refused naming it (a TraitError named `max`, the
    # design kept), from the page and from code.
    design = d.value
    for how in (lambda v: d.set_state({"value": v}), lambda v: setattr(d, "value", v)):
        for steps in (1e39, 0.5):  # 0.5 was refused as "decay_steps=0", and kept in the design
            bad = {**design, "config": {**design["config"], "decay_steps": steps}}
            said = rf"`decay_steps` must be >= 1 and <= 1,000,.*=\s*{re.escape(repr(steps))}$"
            with pytest.raises(traitlets.TraitError, match=said):
                how(bad)
            assert d.value == design and d.schedule.decay_steps == design["config"]["decay_steps"]
    # The plateau's `mode` dropdown too (it took `true` for "max").
    plateau = ScheduleDesigner(kind="plateau")
    with pytest.raises(traitlets.TraitError, match="Argument `index` must be an integer"):
        plateau._controls["mode"].set_state({"index": True})
    assert plateau.value["config"]["mode"] == "min"
    d._kind.set_state({"index": list(d._kind.options).index("one_cycle")})
    assert d.schedule.total_steps == 70
    assert set(d._controls) == {"max_learning_rate", "total_steps", "pct_start", "div_factor", "final_div_factor"}


def test_a_bad_control_edit_shows_in_the_error_area_and_reverts() -> None:
    d = ScheduleDesigner(kind="piecewise", epochs=10, steps_per_epoch=10)
    value = dict(d.value)
    d._controls["boundaries"].set_state({"value": "60, 30"})
    assert "strictly increasing" in d.error
    assert "strictly increasing" in d._error.value
    assert d.value == value
    assert d._controls["boundaries"].value == "33, 66"  # the control shows the design in force again
    d._controls["values"].set_state({"value": "0.1, 0.01, 0.001"})
    assert d.error == ""
    assert d._error.value == ""
    assert d.schedule.values == [0.1, 0.01, 0.001]


def test_preview_of_100k_steps_sends_a_bounded_number_of_points() -> None:
    d = ScheduleDesigner(kind="cosine_restarts", epochs=1000, steps_per_epoch=100, max_points=1000)
    line = d._plot.lines.comm.comm_id
    RecordingComm.log.clear()
    d.update(m_mul=0.7)
    assert d.preview().shape == (100_000,)
    assert 100 < len(d._plot.lines.x) <= 1001
    assert d._plot.lines.y.dtype == np.float32
    assert len(d._plot.lines.x) == len(d._plot.lines.y)
    sizes = [size for comm_id, size in RecordingComm.log if comm_id == line]
    assert len(sizes) == 1  # x and y in one message (hold_sync)
    assert sizes[0] <= 2 * 4 * 1001 + 1000  # two float32 arrays and a little JSON
    # The decimated curve keeps the restarts' peaks and troughs.
    full = d.preview()
    assert float(d._plot.lines.y.max()) == pytest.approx(full.max(), rel=1e-6)
    assert float(d._plot.lines.y.min()) == pytest.approx(full.min(), rel=1e-6, abs=1e-12)


def test_log_y_pin_and_clear() -> None:
    d = ScheduleDesigner(kind="cosine", epochs=5, steps_per_epoch=10)
    d.log_y = True
    assert type(d._plot.lines.scales["y"]).__name__ == "LogScale"
    assert d._plot.y_axis.scale is d._plot.lines.scales["y"]
    assert float(d._plot.lines.y.min()) > 0  # zeros are lifted for the log axis
    d.pin()
    d.update(alpha=0.5)
    assert len(d._plot.figure.marks) == 2
    pinned = d._plot.figure.marks[0]
    assert float(pinned.y.min()) < float(d._plot.lines.y.min())  # the pinned curve kept the old design
    d._pin_button.click()
    assert len(d._plot.figure.marks) == 3
    d._clear_button.click()
    assert d._plot.figure.marks == [d._plot.lines]
    d._log_toggle.set_state({"value": False})
    assert d.log_y is False
    assert type(d._plot.lines.scales["y"]).__name__ == "LinearScale"


class FakeHistory:
    """What keras.callbacks.History exposes: a ``history`` dict of per-epoch lists."""

    def __init__(self, history: dict[str, list[float]]) -> None:
        self.history = history


def test_plateau_preview_replays_a_history_and_marks_reductions() -> None:
    loss = [1.0, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.69995, 0.7]
    d = ScheduleDesigner(
        kind="plateau", initial_learning_rate=0.1, factor=0.5, patience=2, epochs=12, steps_per_epoch=4
    )
    d.set_monitored(FakeHistory({"loss": loss, "accuracy": [0.5] * 10}))
    expected = ReduceOnPlateau(0.1, factor=0.5, patience=2, min_delta=1e-4).simulate(loss)
    per_epoch = np.r_[expected, [expected[-1]] * 2]  # the last rate holds after the monitored values end
    np.testing.assert_array_equal(d.preview(), np.repeat(per_epoch, 4))
    fired = np.flatnonzero(np.diff(expected) < 0) + 1
    assert fired.size >= 2
    np.testing.assert_array_equal(d._plot.reductions.x, fired.astype(np.float32))
    np.testing.assert_array_equal(d._plot.reductions.y, expected[fired].astype(np.float32))
    assert d._plot.loss.visible
    assert d._synthetic_box.layout.display == "none"
    d.set_monitored({"val_acc": [0.1, 0.2]}, monitor="val_acc")
    assert d.monitored().tolist() == [0.1, 0.2]
    with pytest.raises(ValueError, match="No 'val_loss' in the history"):
        d.set_monitored({"loss_x": [1.0]}, monitor="val_loss")


def test_a_replay_skips_the_epochs_that_logged_no_value_in_every_form_of_history() -> None:
    """A fit that validates every other epoch logs `val_loss` at those only: Keras's callback skips
    the others. Taken as values (NaN: a first NaN became the best, so nothing improved after it)
    or run together, the replay reduced at the wrong epochs."""
    from lrwidgets.core.history import TrainingHistory

    val = [None, 1.0, None, 1.0, None, 0.5, None, 0.6, None, 0.6]
    history = TrainingHistory()
    for epoch, v in enumerate(val):
        history.record_epoch(epoch, {"loss": 2.0 - 0.1 * epoch, **({} if v is None else {"val_loss": v})})
    expected = [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert ReduceOnPlateau(1.0, factor=0.5, patience=1).simulate(val).tolist() == expected
    args = dict(initial_learning_rate=1.0, factor=0.5, patience=1, epochs=10, steps_per_epoch=1)
    d = ScheduleDesigner(kind="plateau", **args)
    with_nan = [np.nan if v is None else v for v in val]
    for source in (history, history.epoch_logs, val, np.array(val, dtype=object)):
        d.set_monitored(source)
        assert d.preview().tolist() == expected, source
        np.testing.assert_array_equal(d.monitored(), with_nan)
        # Drawn at the epochs that logged a value (a line through NaN gaps would draw nothing).
        np.testing.assert_array_equal(d._plot.loss.x, [2, 4, 6, 8, 10])
    # Anywhere else a NaN is a value the fit logged, as Keras takes it (a first one becomes the best).
    for source in (with_nan, FakeHistory({"loss": [1.0] * 10, "val_loss": with_nan})):
        d.set_monitored(source)
        assert d.preview().tolist() == ReduceOnPlateau(1.0, factor=0.5, patience=1).simulate(with_nan).tolist()
        assert d.preview().tolist() != expected
    # Keras's own History lists the 5 values for 10 epochs: they cannot be placed, and are refused.
    d.set_monitored(history)
    logged = [v for v in val if v is not None]
    with pytest.raises(ValueError, match="5 values of 'val_loss' for 10 epochs"):
        d.set_monitored(FakeHistory({"loss": [1.0] * 10, "val_loss": logged}))
    with pytest.raises(ValueError, match="5 values of 'val_loss' for 10 epochs"):
        d.set_monitored({"loss": np.ones(10), "val_loss": np.array(logged)})
    assert d.preview().tolist() == expected


def test_plateau_preview_on_the_synthetic_curve_follows_its_controls() -> None:
    d = ScheduleDesigner(kind="plateau", initial_learning_rate=0.1, patience=3, epochs=40, steps_per_epoch=2)
    d._noise.set_state({"value": 0.0})
    d._plateau_at.set_state({"value": 10})
    first = d._plot.reductions.x.copy()
    assert first.size > 0
    assert first[0] == pytest.approx(10 + 3 + 1, abs=1)
    d._plateau_at.set_state({"value": 25})
    assert d._plot.reductions.x[0] > first[0]
    assert d._synthetic_box.layout.display is None


def sent_back(widget: ipywidgets.Widget, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The keys of every state the kernel sends back to the page."""
    sent: list[list[str]] = []
    monkeypatch.setattr(widget, "send_state", lambda key=None: sent.append(list(key or [])))
    return sent


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"kind": "evil"}, "Argument `kind` must be one of"),
        ({"kind": "step", "config": {"initial_learning_rate": 0.1, "drop_every": 10, "factor": 7}}, "`factor`"),
        ({"epochs": "30"}, "Argument `epochs` must be an integer"),
        (
            {"config": {"initial_learning_rate": 10**400, "decay_steps": 10, "decay_rate": 0.5, "staircase": False}},
            "Argument `initial_learning_rate` must be finite",
        ),
        ({"kind": ["step"]}, "Argument `kind` must be one of"),
        ({"epochs": 10**9}, "Argument `epochs` must be <= 100,000"),
        (  # a schedule may start at 0; the rate slider, on a log scale, cannot hold it
            {"kind": "constant", "config": {"learning_rate": 0.0}},
            "Argument `learning_rate` must be > 0 in the designer",
        ),
        (  # was taken, drawn as inf, and refused only when a fit began
            {"kind": "constant", "config": {"learning_rate": 1e39}},
            "Argument `learning_rate` must be at most 3.403e+38: the optimizer holds it as a float32",
        ),
        (
            {"kind": "constant", "config": {"learning_rate": 1e-50}},
            "Argument `learning_rate` must be at least",
        ),
        (  # a floor beyond float32 was taken, drawn as inf, and trained at 5e37
            {
                "kind": "polynomial",
                "config": {
                    "initial_learning_rate": 0.1,
                    "decay_steps": 100,
                    "end_learning_rate": 1e39,
                    "power": 1.0,
                    "cycle": False,
                },
            },
            "Argument `end_learning_rate` must be at most 3.403e+38",
        ),
    ],
)
def test_a_bad_design_from_the_page_is_refused_shown_and_sent_back(
    patch: dict, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = ScheduleDesigner(kind="exponential", epochs=5, steps_per_epoch=10)
    value, schedule = d.value, d.schedule
    sent = sent_back(d, monkeypatch)
    with pytest.raises(traitlets.TraitError, match=re.escape(message)):
        d.set_state({"value": {**d.value, **patch}})
    assert d.value == value
    assert d.schedule is schedule
    assert message in d.error
    assert message in html.unescape(d._error.value)
    assert sent == [["value"]]  # the page is told the design in force
    d.update(decay_rate=0.5)  # the next good edit clears the message
    assert d.error == ""


def test_a_design_that_is_not_a_design_is_refused_from_the_page() -> None:
    d = ScheduleDesigner(kind="constant")
    value = d.value
    for bad in ({"a": 1}, {**d.value, "config": []}, {**d.value, "warmup_steps": -1}):
        with pytest.raises(traitlets.TraitError):
            d.set_state({"value": bad})
        assert d.value == value
    # The bad design is also refused from code, with the Keras-style error types.
    with pytest.raises(TypeError, match="must be a dict with the keys"):
        d.value = {"a": 1}
    with pytest.raises(ValueError, match="must be one of"):
        d.value = {**d.value, "kind": "evil"}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"kind": ["step"]}, ValueError, "Argument `kind` must be one of"),
        ({"epochs": "30"}, TypeError, "Argument `epochs` must be an integer. Received: epochs='30'"),
        ({"max_points": "abc"}, TypeError, "Argument `max_points` must be an integer. Received: max_points='abc'"),
        ({"max_points": 10**12}, ValueError, "Argument `max_points` must be <= 10,000"),
        ({"epochs": 10**400}, ValueError, "Argument `epochs` must be <= 100,000"),
        ({"initial_learning_rate": 10**400}, ValueError, "Argument `initial_learning_rate` must be finite"),
        ({"kind": "constant", "learning_rate": 0.0}, ValueError, "Argument `learning_rate` must be > 0 in"),
        ({"kind": "step", "drop_every": 10**400}, ValueError, "Argument `drop_every` must be <="),
        ({"epochs": 100_000, "steps_per_epoch": 10**8}, ValueError, "A planned run has at most"),
    ],
)
def test_unclear_arguments_get_named_errors(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        ScheduleDesigner(**kwargs)


def test_numpy_integers_are_accepted_as_sizes() -> None:
    d = ScheduleDesigner(kind="cosine", epochs=np.int64(3), steps_per_epoch=np.int32(10), warmup_steps=np.int64(2))
    assert d.value["epochs"] == 3 and type(d.value["epochs"]) is int
    assert json.loads(json.dumps(d.value)) == d.value
    d.epochs = np.int64(4)
    assert d.total_steps == 40


def test_a_huge_run_is_drawn_from_a_bounded_number_of_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    evaluated: list[int] = []
    evaluate = CosineDecayRestarts._evaluate

    def spy(self: CosineDecayRestarts, steps: np.ndarray) -> np.ndarray:
        evaluated.append(steps.size)
        return evaluate(self, steps)

    monkeypatch.setattr(CosineDecayRestarts, "_evaluate", spy)
    d = ScheduleDesigner(kind="cosine_restarts", epochs=100_000, steps_per_epoch=10_000_000, max_points=500)
    assert d.total_steps == 10**12
    assert evaluated and max(evaluated) <= SAMPLES_PER_POINT * 500 + 2
    assert len(d._plot.lines.x) <= 501
    assert d._plot.x_steps.max == 1e12
    d.kind = "plateau"  # replayed epoch by epoch, drawn from the same bounded steps
    assert len(d._plot.lines.x) <= 501 and len(d._plot.loss.x) <= 500
    value = d.value
    with pytest.raises(ValueError, match="A planned run has at most"):
        d.steps_per_epoch = 10**8
    assert d.value == value
    d._spe.set_state({"value": 10**8})  # the box is refused by the design, the box goes back
    assert "A planned run has at most" in d.error
    assert d._spe.value == 10_000_000


def test_a_size_typed_out_of_range_is_refused_not_clamped() -> None:
    d = ScheduleDesigner(kind="cosine", epochs=5, steps_per_epoch=10)
    for box, typed, message in [
        (d._epochs, 200_000, "Argument `epochs` must be <= 100,000"),
        (d._epochs, 0, "Argument `epochs` must be >= 1"),
        (d._spe, -3, "Argument `steps_per_epoch` must be >= 1"),
    ]:
        box.set_state({"value": typed})
        assert message in d.error
        assert (d.epochs, d.steps_per_epoch) == (5, 10)
        assert (d._epochs.value, d._spe.value) == (5, 10)


def test_a_short_run_is_drawn_from_every_step() -> None:
    assert drawn_steps(1000, 4000).tolist() == list(range(1000))
    steps = drawn_steps(10**6, 1000)
    assert steps[0] == 0 and steps[-1] == 10**6 - 1 and len(steps) <= 1002
    assert np.all(np.diff(steps) > 0)
    # A schedule much faster than the strata is drawn as the band it fills, not as one aliased phase.
    fast = CosineDecayRestarts(1.0, first_decay_steps=10, t_mul=1.0)(steps)
    assert fast.min() < 0.1 and fast.max() > 0.9


def test_a_value_equal_to_the_design_but_of_another_type_is_not_stored() -> None:
    """traitlets skips validation of a value equal to the one in force (0 == False): keep the valid one."""
    d = ScheduleDesigner(kind="exponential", epochs=5, steps_per_epoch=10)
    d.set_state({"value": {**d.value, "config": {**d.value["config"], "staircase": 0}}})
    assert d.value["config"]["staircase"] is False
    assert ScheduleDesigner(value=d.value).schedule == d.schedule


def test_a_pin_with_zeros_stays_drawable_on_the_log_axis() -> None:
    import lrwidgets as lrw

    d = lrw.ScheduleDesigner(kind="cosine", initial_learning_rate=3e-3, epochs=20, steps_per_epoch=23)
    d.update(warmup_steps=23)  # the warm-up starts at 0
    d.pin()
    d.log_y = True
    assert min(float(np.min(p.y)) for p in d._plot.pins) > 0
    assert float(np.min(d._plot.lines.y)) > 0


def test_a_narrow_band_of_rates_gets_ticks_on_the_log_axis() -> None:
    import lrwidgets as lrw

    # 3.5e-3 down to 3.2e-3: no round value (1-9 x 10^k) within; the log axis raised
    d = lrw.ScheduleDesigner(
        kind="exponential",
        initial_learning_rate=3.5e-3,
        decay_rate=0.9,
        decay_steps=1000,
        epochs=3,
        steps_per_epoch=100,
    )
    d.log_y = True
    ticks = list(d._plot.y_axis.tick_values)
    assert len(ticks) >= 2
    assert min(d._plot.lines.y) * 0.995 <= min(ticks) and max(ticks) <= max(d._plot.lines.y) * 1.005


@pytest.mark.parametrize("sent", [1e9, -5, float("inf")])
def test_an_argument_control_refuses_a_value_out_of_range_from_the_page(sent: float) -> None:
    import traitlets

    import lrwidgets as lrw

    d = lrw.ScheduleDesigner(kind="exponential", initial_learning_rate=1e-3, epochs=10, steps_per_epoch=10)
    before = d.value
    control = d._controls["decay_rate"]
    with pytest.raises(traitlets.TraitError):
        control.set_state({"value": sent})  # ipywidgets would clamp it to the range and apply it
    assert d.value == before and "decay_rate" in d.error


@pytest.mark.parametrize(
    ("control", "sent"),
    [
        ("drop_every", 2.7),  # an int control: ipywidgets' CInt made it 2
        ("drop_every", True),
        ("epochs", 7.9),
        ("epochs", "12"),
        ("steps_per_epoch", 2.5),
        ("warmup_steps", 10**6),  # beyond the run: ipywidgets clamped it and applied it
        ("noise", 5.0),  # beyond 0.3: clamped
        ("plateau_at", 0),
        ("seed", -5),
    ],
)
def test_the_page_cannot_push_a_wrong_type_or_clamped_value_into_a_control(control: str, sent: object) -> None:
    d = ScheduleDesigner(kind="step", epochs=10, steps_per_epoch=10)
    widget = {
        "epochs": d._epochs,
        "steps_per_epoch": d._spe,
        "warmup_steps": d._warmup,
        "noise": d._noise,
        "plateau_at": d._plateau_at,
        "seed": d._seed,
    }.get(control) or d._controls[control]
    before_value, before_control = d.value, widget.value
    with pytest.raises(traitlets.TraitError):
        widget.set_state({"value": sent})  # as a misbehaving page would send it
    assert d.value == before_value and widget.value == before_control
    assert d._error.value  # the refusal is shown


def test_the_page_cannot_move_the_seeds_range() -> None:
    d = ScheduleDesigner(kind="plateau")
    with pytest.raises(traitlets.TraitError, match=r"is set by the kernel, not the page \(it is 0\)"):
        d._seed.set_state({"min": -5, "value": -5})
    assert (d._seed.min, d._seed.value) == (0, 0)
    assert ">ValueError: Argument `min`" in d._error.value  # shown as every other refusal
    d._seed.set_state({"min": 0, "value": 3})  # the bound in force, re-sent with a whole state: taken
    assert (d._seed.min, d._seed.value) == (0, 3)
    assert d.preview().shape == (d.total_steps,)


def test_a_plateau_design_replays_the_key_its_fit_would_watch() -> None:
    """In mode max a plateau's fit watches `val_accuracy`; the replay read `val_loss`, and previewed
    the rate cut each epoch while the model improved."""
    history = {
        "loss": [1.0, 0.9, 0.8, 0.7, 0.6, 0.5],
        "val_loss": [1.0, 0.9, 0.8, 0.7, 0.6, 0.5],
        "val_accuracy": [0.5, 0.6, 0.7, 0.8, 0.85, 0.9],
    }
    d = ScheduleDesigner(
        kind="plateau", mode="max", initial_learning_rate=1e-3, factor=0.5, patience=1, epochs=6, steps_per_epoch=1
    )
    d.set_monitored(FakeHistory(history))
    assert d.monitored().tolist() == history["val_accuracy"]
    np.testing.assert_allclose(d.preview(), 1e-3)  # the accuracy rose every epoch: no cut
    d.update(mode="min")
    assert d.monitored().tolist() == history["val_loss"]
    d.set_monitored(FakeHistory({"loss": [1.0, 1.0], "accuracy": [0.5, 0.6]}))  # no validation: as a fit
    assert d.monitored().tolist() == [1.0, 1.0]
    d.update(mode="max")
    assert d.monitored().tolist() == [0.5, 0.6]


@pytest.mark.parametrize("sent", [1, 0, "true"])
def test_a_checkbox_or_toggle_refuses_a_value_from_the_page_that_is_not_a_bool(sent: object) -> None:
    """traitlets' Bool took 1 and 0 from the page as True and False (the designer's staircase box and
    its log toggle, the sweep's log toggle)."""
    import traitlets

    import lrwidgets as lrw

    d = lrw.ScheduleDesigner(kind="exponential", initial_learning_rate=1e-3, epochs=10, steps_per_epoch=10)
    before, log_y = d.value, d.log_y
    with pytest.raises(traitlets.TraitError):
        d._controls["staircase"].set_state({"value": sent})
    assert d.value == before and "staircase" in d.error
    with pytest.raises(traitlets.TraitError):
        d._log_toggle.set_state({"value": sent})
    assert d.log_y == log_y and "Argument `log_y` must be a bool" in d.error


def test_monitored_values_and_monitor_are_checked_naming_the_argument() -> None:
    import lrwidgets as lrw

    with pytest.raises(TypeError, match=r"Argument `monitor` must be a non-empty str. Received: monitor=3"):
        lrw.ScheduleDesigner("plateau", monitored={"loss": [1.0, 0.9]}, monitor=3)  # was an AttributeError
    with pytest.raises(TypeError, match=r"Argument `monitor` must be a non-empty str. Received: monitor=3"):
        lrw.ScheduleDesigner("plateau", monitor=3)  # without `monitored`: taken unread
    assert lrw.ScheduleDesigner("plateau", monitor="val_loss").kind == "plateau"
    for bad in ("abc", 5, [True, False], [1.0, "x"]):
        with pytest.raises(TypeError, match=r"Argument `monitored` must be a history, or a non-empty 1-D sequence"):
            lrw.ScheduleDesigner("plateau", monitored=bad)


def test_a_max_mode_plateau_replays_the_accuracy_it_would_watch() -> None:
    """A mode "max" plateau given a history that logs accuracy only: refused ("No 'loss'") by the
    constructor and by set_monitored, which read the loss before the design's own monitor."""
    import lrwidgets as lrw

    history = {"accuracy": [0.5, 0.6, 0.6, 0.6, 0.6, 0.6]}
    args = dict(mode="max", patience=1, factor=0.5, epochs=6, steps_per_epoch=2)
    built = lrw.ScheduleDesigner("plateau", monitored=history, **args)
    later = lrw.ScheduleDesigner("plateau", **args)
    later.set_monitored(history)
    expected = lrw.schedules.ReduceOnPlateau(1e-3, mode="max", patience=1, factor=0.5).simulate(history["accuracy"])
    for d in (built, later):
        np.testing.assert_allclose(d.preview()[::2], expected, rtol=1e-6)
