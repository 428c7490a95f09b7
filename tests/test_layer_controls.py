"""LayerLRControls without a browser: play the front end with set_state and custom messages."""

from __future__ import annotations

import re
import threading

import keras
import numpy as np
import pytest
import traitlets

from lrwidgets import LayerLRControls, LayerwiseOptimizer, TrainingDashboard, TrainingSession

pytestmark = pytest.mark.keras

X = np.random.default_rng(0).normal(size=(16, 5)).astype("float32")
Y = X[:, :1].copy()


def compiled(multipliers=None) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(4, name="first"),
            keras.layers.Dense(3, name="second"),
            keras.layers.Dense(1, name="third"),
        ]
    )
    model.compile(optimizer=LayerwiseOptimizer(keras.optimizers.Adam(1e-2), multipliers=multipliers), loss="mse")
    return model


def variable_values(model: keras.Model) -> dict[str, float]:
    opt = model.optimizer
    return dict(zip(opt.groups, keras.ops.convert_to_numpy(opt.multiplier_variable).tolist(), strict=True))


def browser_sets(panel: LayerLRControls, name: str, **patch) -> None:
    value = {n: dict(s) for n, s in panel.get_state()["value"].items()}
    value[name].update(patch)
    panel.set_state({"value": value})


def preset_clicked(panel: LayerLRControls, name: str) -> None:
    panel._handle_custom_msg({"type": "preset", "name": name}, [])


def test_layers_and_initial_state() -> None:
    panel = LayerLRControls(compiled({"second": 0.5}))
    state = panel.get_state()
    assert state["layers"] == [
        {"name": "first", "params": 24},
        {"name": "second", "params": 15},
        {"name": "third", "params": 4},
    ]
    assert panel.multipliers == {"first": 1.0, "second": 0.5, "third": 1.0}
    assert state["min_exponent"] == -4.0
    assert state["max_exponent"] == 1.0


def test_slider_from_the_browser_sets_the_optimizer_variable() -> None:
    model = compiled()
    panel = LayerLRControls(model)
    browser_sets(panel, "second", multiplier=0.1)
    assert variable_values(model)["second"] == pytest.approx(0.1)
    assert model.optimizer.multipliers["second"] == pytest.approx(0.1)
    assert panel.multipliers["second"] == pytest.approx(0.1)
    assert panel.error == ""


def test_freeze_toggle_keeps_the_slider_position() -> None:
    model = compiled()
    panel = LayerLRControls(model)
    browser_sets(panel, "first", multiplier=0.25)
    browser_sets(panel, "first", frozen=True)
    assert variable_values(model)["first"] == 0.0
    assert panel.value["first"] == {"multiplier": 0.25, "frozen": True}
    browser_sets(panel, "first", frozen=False)
    assert variable_values(model)["first"] == 0.25


def test_multipliers_property_both_ways() -> None:
    model = compiled()
    panel = LayerLRControls(model)
    panel.multipliers = {"third": 4.0}
    assert variable_values(model)["third"] == 4.0
    model.optimizer.set_multipliers({"first": 0.0, "second": 0.5})
    panel.refresh()
    assert panel.multipliers == {"first": 0.0, "second": 0.5, "third": 4.0}
    assert panel.get_state()["value"]["first"] == {"multiplier": 1.0, "frozen": True}
    with pytest.raises(ValueError, match=r"Argument `multipliers` has unknown layers \['fourth'\]"):
        panel.multipliers = {"fourth": 1.0}


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("uniform", {"first": 1.0, "second": 1.0, "third": 1.0}),
        ("discriminative", {"first": 0.25, "second": 0.5, "third": 1.0}),
        ("head_only", {"first": 0.0, "second": 0.0, "third": 1.0}),
        ("freeze_first", {"first": 0.0, "second": 0.0, "third": 1.0}),
    ],
)
def test_presets_from_the_browser(preset, expected) -> None:
    model = compiled({"third": 1.0})
    panel = LayerLRControls(model)
    panel.set_state({"ratio": 2.0, "k": 2})
    preset_clicked(panel, preset)
    assert panel.multipliers == pytest.approx(expected)
    assert variable_values(model) == pytest.approx(expected)


def test_unknown_preset_shows_an_error() -> None:
    panel = LayerLRControls(compiled())
    preset_clicked(panel, "everything")
    assert "Unknown preset 'everything'" in panel.error


def test_bad_value_from_the_browser_is_refused_and_shown() -> None:
    model = compiled()
    panel = LayerLRControls(model)
    with pytest.raises(traitlets.TraitError):
        browser_sets(panel, "first", multiplier=-1.0)
    assert "value['first']" in panel.error
    assert variable_values(model)["first"] == 1.0
    with pytest.raises(traitlets.TraitError):
        panel.set_state({"value": {"first": {"multiplier": 1.0, "frozen": False}}})


def test_changes_go_through_the_session() -> None:
    """The panel asks its session (names exact); it never writes the optimizer itself."""
    from lrwidgets.training import TrainingSession

    model = compiled()
    session = TrainingSession(model)
    asked: list[tuple[dict, str, bool]] = []
    real = session.set_multipliers
    session.set_multipliers = lambda m, source="user", exact=False: asked.append((dict(m), source, exact))  # type: ignore[method-assign]
    panel = LayerLRControls(session)
    browser_sets(panel, "second", multiplier=0.1)
    assert asked == [({"second": pytest.approx(0.1)}, "panel", True)]  # a slider sets its own group only
    assert variable_values(model)["second"] == 1.0  # not written by the panel
    assert panel.multipliers["second"] == pytest.approx(0.1)
    session.set_multipliers = real  # type: ignore[method-assign]
    preset_clicked(panel, "uniform")
    assert variable_values(model)["second"] == 1.0
    actions = [(e.message, e.source) for e in session.history.events if e.kind == "action"]
    assert actions == [("layer learning rates: second x1", "panel")]  # the source was not recorded


def test_refresh_does_not_undo_an_edit_whose_observer_has_not_run() -> None:
    """The training thread's refresh may come between a new `value` and its observer."""
    model = compiled()
    panel = LayerLRControls(model)
    with panel.hold_trait_notifications():  # the observer runs at the end of the block
        panel.value = {**panel.value, "second": {"multiplier": 0.1, "frozen": False}}
        panel.refresh()  # reads the optimizer: still 1.0 for "second"
        assert panel.multipliers["second"] == pytest.approx(0.1)
    assert variable_values(model)["second"] == pytest.approx(0.1)


def test_update_sizes_and_monitor() -> None:
    model = compiled({"first": 0.0})
    panel = LayerLRControls(model)
    panel.update_sizes({"first": 0.5, "nope": 1.0, "second": float("nan")})
    assert panel.get_state()["update_size"] == {"first": 0.5}
    model.fit(X, Y, batch_size=4, epochs=1, verbose=0, callbacks=[panel.monitor(interval=0)])
    sizes = panel.update_size
    assert set(sizes) == {"first", "second", "third"}
    assert sizes["first"] == 0.0
    assert sizes["second"] > 0
    assert sizes["third"] > 0


def test_errors() -> None:
    plain = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    plain.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match=r"must be compiled with a `LayerwiseOptimizer`.*lrw.LayerwiseOptimizer\("):
        LayerLRControls(plain)
    unbuilt = keras.Sequential([keras.layers.Dense(1)])
    unbuilt.compile(optimizer=LayerwiseOptimizer(keras.optimizers.SGD()), loss="mse")
    with pytest.raises(ValueError, match="no trainable variables yet"):
        LayerLRControls(unbuilt)
    with pytest.raises(TypeError, match="unexpected keyword arguments: \\['colour'\\]"):
        LayerLRControls(compiled(), colour="red")
    with pytest.raises(TypeError, match=r"Argument `model` must be a keras\.Model"):
        LayerLRControls(object())


class Gate(keras.callbacks.Callback):
    """Records the `second` kernel before each batch; holds batch `at` until the test says go."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at
        self.reached = threading.Event()
        self.go = threading.Event()
        self.kernels: list[np.ndarray] = []

    def on_train_batch_begin(self, batch, logs=None):
        self.kernels.append(self.model.get_layer("second").kernel.numpy().copy())
        if batch == self.at:
            self.reached.set()
            assert self.go.wait(60)


def test_live_change_during_a_background_fit_through_the_controller() -> None:
    model = compiled()
    dash = TrainingDashboard(model)
    panel = LayerLRControls(dash.session)
    gate = Gate(at=1)
    run = dash.fit(X, Y, batch_size=4, epochs=1, shuffle=False, callbacks=[gate])  # 4 batches
    assert gate.reached.wait(60)
    browser_sets(panel, "second", frozen=True)  # from the kernel thread, while the fit runs
    dash.session.set_multipliers({"first": 0.5})  # and the user, before the same batch
    assert dash.controller.running
    gate.go.set()
    run.wait(60)
    final = model.get_layer("second").kernel.numpy()
    k = [*gate.kernels, final]
    assert not np.array_equal(k[1], k[2])  # batch 1 ran before the change was applied
    assert np.array_equal(k[2], k[3])  # frozen from batch 2 on
    assert np.array_equal(k[3], k[4])
    assert variable_values(model)["second"] == 0.0 and variable_values(model)["first"] == 0.5
    # Recorded where they took effect, one event for each who asked (one merged event said "user").
    panels, users = [e for e in dash.history.events if e.kind == "action"]
    assert panels.step == 2 and panels.message == "layer learning rates: second x0", panels
    assert panels.source == "panel"
    assert (users.step, users.message, users.source) == (2, "layer learning rates: first x0.5", "user")
    assert dash.controller.learning_rate == pytest.approx(1e-2)
    dash.controller.set_learning_rate(0.5)  # idle: the controller writes the inner optimizer's rate
    assert float(model.optimizer.inner_optimizer.learning_rate.numpy()) == pytest.approx(0.5)


@pytest.mark.keras
def test_dashboard_embeds_the_panel_for_a_layerwise_model() -> None:
    from tests.helpers import linear_model, regression_data

    x, y = regression_data(256)
    keras.utils.set_random_seed(0)
    layers = [keras.Input((8,)), keras.layers.Dense(8, name="body"), keras.layers.Dense(1, name="head")]
    model = keras.Sequential(layers)
    model.compile(optimizer=LayerwiseOptimizer(keras.optimizers.Adam(1e-3), multipliers={"body": 0.5}), loss="mse")
    dash = TrainingDashboard(model)
    assert isinstance(dash.layer_controls, LayerLRControls)
    assert dash.layer_controls in dash.children
    dash.fit(x, y, epochs=2, batch_size=32).wait(timeout=60)
    dash.layer_controls.refresh()
    assert dash.layer_controls.multipliers == {"body": 0.5, "head": 1.0}
    assert TrainingDashboard(linear_model()).layer_controls is None


def refused_from_the_page(panel: LayerLRControls, state: dict, message: str) -> None:
    """`state` from the page raises TraitError, changes nothing, shows `message` and is sent back."""
    before = {k: v for k, v in panel.get_state().items() if k != "error"}
    sent: list = []
    panel.send_state = lambda key=None: sent.append(sorted([key] if isinstance(key, str) else key or []))  # type: ignore[method-assign]
    with pytest.raises(traitlets.TraitError, match=re.escape(message)):
        panel.set_state(state)
    assert {k: v for k, v in panel.get_state().items() if k != "error"} == before
    assert message in panel.error
    assert sorted(state) in sent  # the page is told the values in force
    del panel.send_state


def test_read_only_traits_are_refused_from_the_page() -> None:
    panel = LayerLRControls(compiled())
    refused_from_the_page(
        panel,
        {"layers": [{"name": "evil", "params": 1}]},
        "Argument `layers` of the layer controls is set by the kernel",
    )
    refused_from_the_page(
        panel, {"update_size": {"first": 1e9}}, "Argument `update_size` of the layer controls is set by the kernel"
    )
    assert [layer["name"] for layer in panel.layers] == ["first", "second", "third"]


def test_preset_parameters_from_the_page_are_validated() -> None:
    panel = LayerLRControls(compiled())
    refused_from_the_page(panel, {"ratio": float("nan")}, "Argument `ratio` must be finite")
    refused_from_the_page(panel, {"ratio": 0.5}, "Argument `ratio` must be >= 1. Received: ratio=0.5")
    refused_from_the_page(panel, {"ratio": True}, "Argument `ratio` must be a float. Received: ratio=True")
    refused_from_the_page(panel, {"ratio": "3"}, "Argument `ratio` must be a float")
    refused_from_the_page(panel, {"k": False}, "Argument `k` must be an integer")
    # apply_preset takes and refuses what the traits do: numpy numbers taken; a bool or a string refused, typed
    panel.apply_preset("discriminative", ratio=np.float32(2.0))
    with pytest.raises(TypeError, match=r"Argument `ratio` must be a float. Received: ratio=True"):
        panel.apply_preset("discriminative", ratio=True)
    with pytest.raises(TypeError, match=r"Argument `ratio` must be a float"):
        panel.apply_preset("discriminative", ratio="2")
    panel.apply_preset("freeze_first", k=np.int64(1))
    refused_from_the_page(panel, {"k": -1}, "Argument `k` must be >= 0. Received: k=-1")
    refused_from_the_page(panel, {"k": None}, "Argument `k` must be an integer")
    refused_from_the_page(panel, {"k": 4}, "Argument `k` must be <= 3")
    panel.set_state({"ratio": 2.0, "k": 3})
    assert (panel.ratio, panel.k) == (2.0, 3)


def test_slider_bounds_are_the_kernels_and_must_stay_ordered() -> None:
    """The range is the kernel's (README): a page that sends another is refused (it was taken when
    ordered: -30 to 30 let a slider send 1e30); from code it is checked."""
    panel = LayerLRControls(compiled())
    refused_from_the_page(panel, {"min_exponent": -30.0, "max_exponent": 30.0}, "`min_exponent` of the layer controls")
    panel.set_state({"min_exponent": -4.0, "max_exponent": 1.0})  # the values in force sent back: accepted
    for bad, message in (
        ({"min_exponent": 2.0}, "`min_exponent` must be < `max_exponent`"),
        ({"max_exponent": 1e300}, "Argument `max_exponent` must be <= 38"),
        ({"min_exponent": False}, "Argument `min_exponent` must be a float"),
    ):
        with pytest.raises(traitlets.TraitError, match=re.escape(message)):
            panel.set_trait(*next(iter(bad.items())))
    assert (panel.min_exponent, panel.max_exponent) == (-4.0, 1.0)
    panel.max_exponent = 5.0
    panel.min_exponent = 2.0
    assert (panel.min_exponent, panel.max_exponent) == (2.0, 5.0)


def test_a_multiplier_outside_its_sliders_range_is_refused_from_the_page() -> None:
    """A slider cannot hold it: 1e6 on a 1e-4...10 slider reached the optimizer. Set from code it is
    taken, and the page sending it back (with another slider moved) is not refused for it."""
    model = compiled()
    panel = LayerLRControls(model)
    for bad in (1e6, 1e-5):
        with pytest.raises(traitlets.TraitError, match=re.escape("must be within the slider's range [0.0001, 10]")):
            browser_sets(panel, "first", multiplier=bad)
        assert "value['first']['multiplier']" in panel.error
    assert variable_values(model)["first"] == 1.0
    for end in (9.999999999999999e-05, 10.000000000000002):  # the slider's ends as a browser computes 10 ** x
        browser_sets(panel, "first", multiplier=end)
        assert variable_values(model)["first"] == pytest.approx(end) and panel.error == ""
    panel.multipliers = {"first": 100.0}
    browser_sets(panel, "second", multiplier=0.5)
    assert variable_values(model) == pytest.approx({"first": 100.0, "second": 0.5, "third": 1.0})


def test_a_multiplier_the_optimizer_cannot_hold_is_refused_from_the_page() -> None:
    model = compiled()
    panel = LayerLRControls(model)
    for bad, message in [(1e39, "at most 3.403e+38"), (1e-50, "rounds to 0"), ("1", "must be a number")]:
        with pytest.raises(traitlets.TraitError, match=re.escape(message)):
            browser_sets(panel, "first", multiplier=bad)
        assert "value['first']['multiplier']" in panel.error
    with pytest.raises(traitlets.TraitError, match=re.escape("`value['first']` must be {'multiplier'")):
        browser_sets(panel, "first", multiplier=0.5, lr=9.0)  # a key the panel does not know: not dropped
    assert variable_values(model)["first"] == 1.0


def test_a_value_equal_to_the_one_in_force_but_of_another_type_is_not_stored() -> None:
    panel = LayerLRControls(compiled())
    panel.set_state({"k": True})  # True == 1, the value in force: traitlets would store it unvalidated
    assert type(panel.k) is int
    browser_sets(panel, "first", frozen=0)  # 0 == False
    assert panel.value["first"]["frozen"] is False


def test_constructor_and_multipliers_setter_check_what_they_are_given() -> None:
    with pytest.raises(ValueError, match=r"Argument `k` must be <= 3"):
        LayerLRControls(compiled(), k=7)  # checked against the model's three layers, not none
    assert LayerLRControls(compiled(), k=3).k == 3
    for own in ("value", "layers", "update_size", "error"):
        with pytest.raises(TypeError, match=rf"unexpected keyword arguments: \['{own}'\]"):
            LayerLRControls(compiled(), **{own: {}})
    model = compiled()
    panel = LayerLRControls(model)
    for bad, error in (({"first": True}, TypeError), ({"first": "0.5"}, TypeError), ({"first": -1.0}, ValueError)):
        with pytest.raises(error, match=r"Argument `multipliers\['first'\]`"):
            panel.multipliers = bad
    with pytest.raises(TypeError, match=r"Argument `multipliers` must be a dict"):
        panel.multipliers = [("first", 0.5)]
    with pytest.raises(
        TypeError, match=r"must have non-empty string keys \(layer names\). Received: multipliers=\{5: 1.0\}"
    ):
        panel.multipliers = {5: 1.0}
    assert panel.multipliers == {"first": 1.0, "second": 1.0, "third": 1.0}
    assert variable_values(model) == {"first": 1.0, "second": 1.0, "third": 1.0}


def test_an_edit_the_session_refuses_is_rolled_back_and_shown() -> None:
    """The panel kept showing a setting its session refused (here: another session trains the
    model), while the optimizer kept the old one."""
    from lrwidgets.training import TrainingSession

    model = compiled()
    session = TrainingSession(model)
    panel = LayerLRControls(session)
    before = dict(panel.value)

    def refuse(multipliers: dict, source: str = "user", exact: bool = False) -> None:
        raise RuntimeError("the model is training in another lrwidgets session")

    session.set_multipliers = refuse  # type: ignore[method-assign]
    browser_sets(panel, "second", multiplier=0.1)
    assert "another lrwidgets session" in panel.error
    assert panel.value == before and panel.multipliers["second"] == 1.0
    assert variable_values(model)["second"] == 1.0


def head_over_frozen_backbone() -> tuple[keras.Model, keras.Model]:
    """A head over a frozen sub-model (`backbone`), compiled with a LayerwiseOptimizer: fine-tuning's start."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((5,))
    backbone = keras.Model(inp, keras.layers.Dense(4, name="conv")(inp), name="backbone")
    model = keras.Sequential([keras.Input((5,)), backbone, keras.layers.Dense(1, name="head")])
    backbone.trainable = False
    model.compile(optimizer=LayerwiseOptimizer(keras.optimizers.Adam(1e-2)), loss="mse")
    return model, backbone


def test_the_panel_shows_the_layers_of_a_re_compiled_optimizer() -> None:
    """Fine-tuning: a head trained over a frozen backbone, then the model re-compiled with a new
    LayerwiseOptimizer over every layer. The panel kept the head alone (its refresh raised a
    TraitError in the training thread), so the backbone's rate could not be set from it."""
    model, backbone = head_over_frozen_backbone()
    dash = TrainingDashboard(model)
    panel = dash.layer_controls
    dash.fit(X, Y, epochs=1, batch_size=8).wait(60)
    assert [layer["name"] for layer in panel.layers] == ["head"]
    panel.k = 1

    backbone.trainable = True
    model.compile(optimizer=LayerwiseOptimizer(keras.optimizers.Adam(1e-3), {"backbone": 0.1}), loss="mse")
    run = dash.fit(X, Y, epochs=1, batch_size=8)
    run.wait(60)
    assert run.exception is None and panel.error == ""
    assert panel.layers == [{"name": "backbone/conv", "params": 24}, {"name": "head", "params": 5}]
    assert panel.multipliers == {"backbone/conv": 0.1, "head": 1.0}
    browser_sets(panel, "backbone/conv", multiplier=0.5)
    assert variable_values(model) == {"backbone/conv": 0.5, "head": 1.0}


def test_panel_multipliers_set_while_idle_take_the_layers_of_a_re_compiled_optimizer() -> None:
    """Re-compiled while idle with other groups (the backbone unfrozen): `panel.multipliers = ...`
    of a layer the panel has not shown yet was refused as unknown, checked against the layers the
    panel showed before its refresh. A layer neither shows is still refused, changing nothing."""
    model, backbone = head_over_frozen_backbone()
    session = TrainingSession(model)
    panel = LayerLRControls(session)
    session.fit(X, Y, epochs=1, batch_size=8).wait(60)
    assert panel.multipliers == {"head": 1.0}

    backbone.trainable = True
    model.compile(optimizer=LayerwiseOptimizer(keras.optimizers.Adam(1e-3), {"backbone": 0.1}), loss="mse")
    with pytest.raises(ValueError, match=r"unknown layers \['tail'\]; layers: \['backbone/conv', 'head'\]"):
        panel.multipliers = {"tail": 0.5}
    assert panel.multipliers == {"head": 1.0} and session.multipliers == {"backbone/conv": 0.1, "head": 1.0}
    panel.multipliers = {"backbone/conv": 0.5}
    assert panel.multipliers == session.multipliers == {"backbone/conv": 0.5, "head": 1.0}
    run = session.fit(X, Y, epochs=1, batch_size=8)
    run.wait(60)
    assert run.exception is None and variable_values(model) == {"backbone/conv": 0.5, "head": 1.0}


def test_the_dashboard_adds_the_equalizer_once_the_model_is_built_or_re_compiled_layerwise() -> None:
    """The README's per-layer snippet on a model built by its first fit (no `keras.Input`): the
    dashboard never showed the equalizer (`dash.layer_controls` stayed None), nor after a
    re-compile with a LayerwiseOptimizer of a model it was made for without one."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(4, name="backbone"), keras.layers.Dense(1, name="head")])
    model.compile(optimizer=LayerwiseOptimizer(keras.optimizers.Adam(1e-3), {"backbone": 0.1}), loss="mse")
    dash = TrainingDashboard(model)
    assert dash.layer_controls is None  # not built: no layers to show yet
    dash.fit(X, Y, epochs=1, batch_size=8).wait(60)
    panel = dash.layer_controls
    assert isinstance(panel, LayerLRControls) and panel in dash.children
    assert list(dash.children).index(panel) == len(dash.children) - 2  # above the pacer, as when made built
    assert panel.multipliers == {"backbone": 0.1, "head": 1.0}
    browser_sets(panel, "head", multiplier=0.5)
    assert variable_values(model) == pytest.approx({"backbone": 0.1, "head": 0.5})

    plain = compiled()
    plain.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    dash = TrainingDashboard(plain)
    assert dash.layer_controls is None
    plain.compile(optimizer=LayerwiseOptimizer(keras.optimizers.Adam(1e-3)), loss="mse")
    dash.fit(X, Y, epochs=1, batch_size=8).wait(60)
    assert dash.layer_controls is not None and dash.layer_controls in dash.children
    assert dash.layer_controls.multipliers == {"first": 1.0, "second": 1.0, "third": 1.0}


def test_multiplier_events_name_what_took_effect_and_who_asked_last() -> None:
    """Requests merged before one batch: each layer is told under the last to ask for it (the
    panel's first value, overridden by the user's and then by the panel's again, was told)."""
    model = compiled()
    dash = TrainingDashboard(model)
    gate = Gate(at=1)
    run = dash.fit(X, Y, batch_size=4, epochs=1, shuffle=False, callbacks=[gate])
    assert gate.reached.wait(60)
    session = dash.session
    session.set_multipliers({"first": 0.75}, source="panel")
    session.set_multipliers({"first": 0.5})
    session.set_multipliers({"first": 0.25, "third": 2.0}, source="panel")
    session.set_multipliers({"second": 0.125})
    gate.go.set()
    run.wait(60)
    assert variable_values(model) == {"first": 0.25, "second": 0.125, "third": 2.0}
    events = [(e.step, e.source, e.message) for e in dash.history.events if e.kind == "action"]
    assert events == [
        (2, "panel", "layer learning rates: first x0.25, third x2"),
        (2, "user", "layer learning rates: second x0.125"),
    ]


def test_a_slider_sets_its_own_layer_when_two_layers_share_a_name() -> None:
    """A subclassed model's two layers named `block` (groups `block` and `block#2`): the slider of
    `block`, a page edit of it and the preset "freeze the first 1" set `block` alone."""

    class Net(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.a = keras.layers.Dense(4, name="block")
            self.b = keras.layers.Dense(4, name="block")
            self.head = keras.layers.Dense(1, name="head")

        def call(self, x: object) -> object:
            return self.head(self.b(self.a(x)))

    model = Net()
    model(np.ones((1, 4), "float32"))
    model.compile(optimizer=LayerwiseOptimizer(keras.optimizers.Adam(1e-3)), loss="mse")
    panel = LayerLRControls(model)
    assert [layer["name"] for layer in panel.layers] == ["block", "block#2", "head"]
    panel.multipliers = {"block": 0.5}
    assert model.optimizer.multipliers == pytest.approx({"block": 0.5, "block#2": 1.0, "head": 1.0})
    browser_sets(panel, "block", multiplier=0.1)
    assert model.optimizer.multipliers == pytest.approx({"block": 0.1, "block#2": 1.0, "head": 1.0})
    panel.apply_preset("freeze_first", k=1)
    assert model.optimizer.multipliers == pytest.approx({"block": 0.0, "block#2": 1.0, "head": 1.0})


def test_a_change_made_in_the_training_thread_reaches_the_session_and_the_panel() -> None:
    """`opt.set_multipliers` from a callback (the training thread) wrote the optimizer only: the
    session, its snapshots and the panel showed the old value for the rest of the fit, no event."""
    import lrwidgets as lrw

    model = compiled()
    session = lrw.TrainingSession(model)
    panel = LayerLRControls(session)

    class FreezeFirst(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch: int, logs: object = None) -> None:
            if batch == 3:
                self.model.optimizer.set_multipliers({"first": 0.0})

    x = np.random.default_rng(0).normal(size=(64, 5)).astype("float32")
    session.fit(x, x[:, :1], epochs=1, batch_size=8, callbacks=[FreezeFirst()]).wait(60)
    assert model.optimizer.multipliers["first"] == 0.0
    assert session.multipliers["first"] == 0.0 and panel.multipliers["first"] == 0.0
    assert [e.message for e in session.history.events if e.kind == "action"] == ["layer learning rates: first x0"]


def test_multipliers_set_on_the_panel_while_idle_apply_what_the_optimizer_does_not_hold() -> None:
    """After `opt.set_multipliers` while idle, `panel.multipliers = ` a value equal to the one the
    panel last applied was taken for no change: the optimizer kept the other. A page's slider edit
    sends every slider's value: after `panel.refresh()` it changes the one moved only."""
    model = compiled({"third": 3.0})
    panel = LayerLRControls(model)
    model.optimizer.set_multipliers({"third": 0.7})
    panel.multipliers = {"third": 3.0}
    assert variable_values(model)["third"] == pytest.approx(3.0)
    model.optimizer.set_multipliers({"first": 0.1, "second": 0.0})
    panel.refresh()
    browser_sets(panel, "third", multiplier=2.0)
    assert variable_values(model) == pytest.approx({"first": 0.1, "second": 0.0, "third": 2.0})
    assert panel.error == ""
