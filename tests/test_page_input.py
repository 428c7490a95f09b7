"""The page is not trusted: arbitrary JSON sent to every synced trait keeps the kernel's state valid.

Each widget is described by a `PageTarget`: how to make one, which widgets the page edits (the
widget and its child controls), which custom messages its front end sends, and what "valid and
consistent" means for its kernel-side state. A widget joins the property test by adding a target
to `TARGETS`.

What the page sends is played as ipywidgets plays it: `set_state({key: value})` for a trait,
`_handle_custom_msg(content, [])` for a message. The only error allowed out of `set_state` is a
`TraitError` (a refusal, rolled back by traitlets); a message handler raises nothing.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ipywidgets
import numpy as np
import pytest
import traitlets
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from lrwidgets.core.checks import FLOAT32_MAX, FLOAT32_TINY
from lrwidgets.core.layer_presets import effective_multipliers
from lrwidgets.widgets.designer import ScheduleDesigner
from lrwidgets.widgets.pacer import BrowserPacer

# A page that sends a dict for a widget's `style` makes ipywidgets pass its keys to traitlets: not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")

#: Numbers a hostile or buggy page sends more often than chance would draw them.
SPECIAL_NUMBERS = [0, 1, -1, 7, 10**18, 10**400, 1e39, 1e-50, 0.5, 2.5, -0.0, math.inf, -math.inf, math.nan, True]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(SPECIAL_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
#: Any value Python's json module can decode (it accepts NaN and Infinity, and ints of any size).
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def mutated(data: st.DataObject, value: Any) -> Any:
    """``value`` with one part (maybe all of it) replaced by arbitrary JSON: near-valid input."""
    if isinstance(value, dict) and value and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(value)))
        return {**value, key: mutated(data, value[key])}
    if isinstance(value, (list, tuple)) and value and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(value) - 1))
        return [*value[:i], mutated(data, value[i]), *value[i + 1 :]]
    return data.draw(json_values)


@dataclass(frozen=True)
class PageTarget:
    """A widget as the page sees it.

    Attributes:
        name: test id.
        make: a fresh widget.
        check: asserts that the kernel-side state is valid and consistent.
        inputs: the widgets whose traits the page edits (default: the widget itself).
        message_types: the ``type`` of each custom message its front end sends.
        marks: pytest marks (``pytest.mark.keras`` for a widget that needs a model).
    """

    name: str
    make: Callable[[], Any]
    check: Callable[[Any], None]
    inputs: Callable[[Any], list[ipywidgets.Widget]] = lambda widget: [widget]
    message_types: tuple[str, ...] = ()
    marks: tuple[Any, ...] = field(default=())


# -- ScheduleDesigner ----------------------------------------------------------------------------


def designer_inputs(d: ScheduleDesigner) -> list[ipywidgets.Widget]:
    controls = [d._kind, d._epochs, d._spe, d._warmup, d._noise, d._plateau_at, d._seed, d._log_toggle]
    return [d, *controls, *d._controls.values()]


def check_designer(d: ScheduleDesigner) -> None:
    fresh = ScheduleDesigner(value=d.value)  # a valid design (a bad one raises) ...
    assert fresh.value == d.value  # ... in normal form ...
    assert fresh.schedule == d.schedule  # ... whose schedule is the one in force
    assert (d._kind.value, d._epochs.value, d._spe.value) == (d.kind, d.epochs, d.steps_per_epoch)
    assert isinstance(d.error, str)
    assert len(d._plot.lines.x) == len(d._plot.lines.y) <= d._plot.max_points + 1


# -- LayerLRControls -----------------------------------------------------------------------------

_models: dict[str, Any] = {}


def make_layer_controls() -> Any:
    import keras

    from lrwidgets import LayerLRControls, LayerwiseOptimizer

    if "model" not in _models:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((3,)), keras.layers.Dense(2, name="first"), keras.layers.Dense(1, name="second")]
        )
        model.compile(optimizer=LayerwiseOptimizer(keras.optimizers.SGD(0.1)), loss="mse")
        _models["model"] = model
    model = _models["model"]
    model.optimizer.set_multipliers({"first": 1.0, "second": 1.0})
    return LayerLRControls(model)


def check_layer_controls(panel: Any) -> None:
    names = ["first", "second"]
    assert panel.layers == [{"name": "first", "params": 8}, {"name": "second", "params": 3}]
    assert list(panel.value) == names
    for setting in panel.value.values():
        assert set(setting) == {"multiplier", "frozen"}
        assert type(setting["frozen"]) is bool
        m = setting["multiplier"]
        assert type(m) is float and FLOAT32_TINY <= m <= FLOAT32_MAX
    assert math.isfinite(panel.ratio) and panel.ratio >= 1
    assert type(panel.k) is int and 0 <= panel.k <= len(names)
    assert -38 <= panel.min_exponent < panel.max_exponent <= 38
    assert all(math.isfinite(v) and v >= 0 for v in panel.update_size.values())
    # The optimizer holds what the panel shows (as float32).
    held = panel.session.model.optimizer.multipliers
    for name, m in effective_multipliers(panel.value).items():
        assert held[name] == pytest.approx(float(np.float32(m)), rel=1e-6)


# -- BrowserPacer --------------------------------------------------------------------------------


def make_pacer() -> BrowserPacer:
    pacer = BrowserPacer(fallback=3600.0)
    for _ in range(3):
        pacer.sent()
    return pacer


def check_pacer(pacer: BrowserPacer) -> None:
    assert 0 <= pacer._acked <= pacer._seq
    # Pacing still works: an update that the page has not drawn holds the next one back.
    pacer.sent()
    assert pacer.ready() == (pacer.acks == 0)
    pacer._handle_custom_msg({"type": "ack", "seq": pacer._seq}, [])
    assert pacer.ready()


# -- TrainingDashboard: its learning-rate slider, smoothing slider and buttons ---------------------


def make_dashboard() -> Any:
    import lrwidgets as lrw
    from tests.helpers import linear_model

    if "dash_model" not in _models:
        _models["dash_model"] = linear_model()
    model = _models["dash_model"]
    model.optimizer.learning_rate.assign(1e-3)
    return lrw.TrainingDashboard(model)


def dashboard_inputs(dash: Any) -> list[Any]:
    return [dash._lr_slider, dash._smoothing, dash._pause_button, dash._stop_button]


def check_dashboard(dash: Any) -> None:
    import keras

    held = float(keras.ops.convert_to_numpy(dash.model.optimizer.learning_rate))
    slider = dash._lr_slider
    assert math.isfinite(slider.value) and slider.base**slider.min <= slider.value * (1 + 1e-9)
    assert slider.value <= slider.base**slider.max * (1 + 1e-9)
    # What the optimizer holds is what the slider shows (or what it showed when the page's
    # slider range itself was edited), and always a rate the optimizer can hold.
    assert FLOAT32_TINY <= held <= FLOAT32_MAX and math.isfinite(held)
    assert held == pytest.approx(dash.learning_rate, rel=1e-6)
    assert 0.0 <= dash._smoothing.value <= 0.99
    assert not dash.session.running


TARGETS = [
    PageTarget("ScheduleDesigner", ScheduleDesigner, check_designer, inputs=designer_inputs),
    PageTarget(
        "LayerLRControls",
        make_layer_controls,
        check_layer_controls,
        message_types=("preset",),
        marks=(pytest.mark.keras,),
    ),
    PageTarget("BrowserPacer", make_pacer, check_pacer, message_types=("ack",)),
    PageTarget(
        "TrainingDashboard", make_dashboard, check_dashboard, inputs=dashboard_inputs, marks=(pytest.mark.keras,)
    ),
]


def _defined_by_lrwidgets(widget: Any, name: str) -> bool:
    return getattr(type(widget), name).this_class.__module__.startswith("lrwidgets")


def page_edits(target: PageTarget, widget: Any) -> list[tuple[Any, list[str]]]:
    """(widget, synced trait names) the page may send: the widget's own traits first."""
    edits = []
    for receiver in target.inputs(widget):
        own = sorted(k for k in set(receiver.keys) if _defined_by_lrwidgets(receiver, k)) if receiver is widget else []
        edits += [(receiver, own)] if own else []
        edits.append((receiver, sorted(set(receiver.keys) - set(own))))
    return edits


def play_page(data: st.DataObject, target: PageTarget, widget: Any) -> None:
    """One thing the page sends: a trait of one of the widget's inputs, or a custom message."""
    if target.message_types and data.draw(st.booleans()):
        content = data.draw(st.dictionaries(st.text(max_size=6), json_values, max_size=3))
        content["type"] = data.draw(st.sampled_from(target.message_types))
        for key in ("seq", "name"):
            if data.draw(st.booleans()):
                content[key] = data.draw(st.one_of(json_values, st.sampled_from(["uniform", "head_only"])))
        note(f"message {content!r}")
        widget._handle_custom_msg(content, [])  # a handler shows its errors; it raises nothing
        return
    edits = page_edits(target, widget)
    # Half the time the widget's own traits, else any input: the own traits carry its state.
    i = data.draw(st.one_of(st.just(0), st.integers(0, len(edits) - 1)), label="input")
    receiver, keys = edits[i]
    key = data.draw(st.sampled_from(keys), label=f"trait of {type(receiver).__name__}")
    current = receiver.get_state()[key]
    value = data.draw(st.one_of(json_values, st.just(None).map(lambda _: mutated(data, current))), label="sent")
    with contextlib.suppress(traitlets.TraitError):  # refused: rolled back and shown
        receiver.set_state({key: value})


@pytest.mark.parametrize("target", [pytest.param(t, id=t.name, marks=t.marks) for t in TARGETS])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_arbitrary_page_input_keeps_the_kernel_state_valid(target: PageTarget, data: st.DataObject) -> None:
    widget = target.make()
    target.check(widget)
    for _ in range(data.draw(st.integers(1, 4), label="messages")):
        play_page(data, target, widget)
        target.check(widget)


@pytest.mark.parametrize("sent", [1, 0, "true"])
def test_the_dashboards_log_loss_box_refuses_a_value_that_is_not_a_bool(sent: Any) -> None:
    """traitlets' Bool took 1 and 0 from the page as True and False."""
    dash = make_dashboard()
    box = dash._diagnosis_bar.log_loss
    with pytest.raises(traitlets.TraitError):
        box.set_state({"value": sent})
    shown = [e.message for e in dash.history.events if e.kind == "error"]
    assert box.value is False
    said = f"TypeError: Argument `log_loss` must be a bool. Received: log_loss={sent!r}"
    assert shown == [f"refused from the page: {said}"]
