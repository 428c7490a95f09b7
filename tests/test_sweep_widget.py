"""The `LRSweep` widget as a view, without a cluster: the test plays the workers' progress messages.

(The widget on a real cluster, its Cancel and Stop buttons included, is in tests/test_sweep.py.)
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import numpy as np
import pytest

from tests import test_dashboard
from tests.helpers import RecordingComm

recording = test_dashboard.recording  # the fixture: a comm that records what is sent


def build_model() -> Any:
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def stream(
    widget: Any, trial: int, first: int, n: int, rate: float, val: float | None = None, attempt: str | None = None
) -> None:
    """What a worker sends for `n` new steps of `trial` (the sweep takes it in Dask's client thread)."""
    import time

    sweep = widget.sweep
    steps = list(range(first, first + n))
    epochs = [] if val is None else [{"epoch": 0.0, "step": float(steps[-1]), "loss": 1.0, "val_loss": val}]
    msg = {
        "trial": trial,
        "attempt": attempt,
        "sent": time.time(),
        "steps": steps,
        "loss": [1.0 / (1 + s) for s in steps],
        "learning_rate": [rate] * n,
        "epochs": epochs,
        "epoch": 0,
        "num_epochs": 1,
        "global_step": steps[-1],
    }
    sweep._on_message(sweep._run_key, msg)


def finish(widget: Any, trial: int, best_loss: float) -> None:
    t = widget.sweep.trials[trial]
    widget.sweep._finish(t, {**t.config(), "status": "done", "reason": "", "best_loss": best_loss, "time": 1.0})


def table_order(widget: Any) -> list[int]:
    """Trial ids in the ranking table, top to bottom."""
    return [int(t) for t in re.findall(r"&#9632;</span> (\d+)</td>", widget._table.value)]


def test_overlay_grows_one_colour_a_trial_and_the_ranking_resorts() -> None:
    import lrwidgets as lrw

    widget = lrw.LRSweep(build_model, learning_rates=[1e-3, 1e-2, 1e-1], refresh_interval=60)
    assert widget.statuses == {0: "queued", 1: "queued", 2: "queued"}
    assert widget._loss_mark.y.shape[0] == 0  # nothing streamed yet
    stream(widget, 0, 0, 20, 1e-3)
    stream(widget, 2, 0, 10, 1e-1, val=0.5)
    widget.refresh()
    y = widget._loss_mark.y
    assert y.shape[0] == 2 and np.isfinite(y[0]).sum() == 20 and np.isfinite(y[1]).sum() == 10
    assert widget._loss_mark.colors == [widget.colors[0], widget.colors[2]] and len(set(widget.colors)) == 3
    assert np.isfinite(widget._val_mark.y).sum() == 1
    assert np.nanmax(widget._rate_mark.y) == pytest.approx(1e-1)
    assert widget.statuses == {0: "running", 1: "queued", 2: "running"}
    stream(widget, 0, 20, 20, 1e-3)
    widget.refresh()
    assert np.isfinite(widget._loss_mark.y[0]).sum() == 40  # grew
    assert np.nanmax(widget._loss_mark.x[0]) == 39
    finish(widget, 0, best_loss=0.3)
    widget.refresh()
    assert table_order(widget)[0] == 0
    finish(widget, 2, best_loss=0.1)
    widget.refresh()
    assert table_order(widget)[:2] == [2, 0]  # re-sorted as the better result came
    assert "2 done" in widget._summary.value and "1 queued" in widget._summary.value
    assert widget.best is not None and widget.best["trial"] == 2


def test_log_y_toggle_swaps_the_loss_scale() -> None:
    import bqplot as bq

    import lrwidgets as lrw

    widget = lrw.LRSweep(build_model, learning_rates=[1e-3], log_y=False)
    assert isinstance(widget._loss_mark.scales["y"], bq.LinearScale)
    widget._log_y.value = True
    assert isinstance(widget._loss_mark.scales["y"], bq.LogScale)
    assert widget._loss_y_axis.scale is widget._loss_mark.scales["y"] is widget._val_mark.scales["y"]


def test_the_page_cannot_write_an_axis_ticks_format_or_scale() -> None:
    """Read back at each redraw (as in the other views: tests/test_session.py)."""
    import traitlets

    import lrwidgets as lrw

    widget = lrw.LRSweep(build_model, learning_rates=[1e-3])
    for axis in (widget._rate_axis, widget._loss_y_axis):
        ticks = axis.tick_values
        for sent in ({"tick_values": ["a", "b"]}, {"tick_format": "%Q"}, {"scale": {}}):
            with pytest.raises(traitlets.TraitError, match="set by the kernel, not the page"):
                axis.set_state(sent)
        assert axis.tick_values is ticks


def test_bytes_per_refresh_do_not_grow_with_the_number_of_trials(recording: type[RecordingComm]) -> None:
    import lrwidgets as lrw

    per_refresh = {}
    for n in (4, 64, 250):
        widget = lrw.LRSweep(build_model, learning_rates=list(np.geomspace(1e-4, 1, n)), max_points=2000, max_rows=10)
        for chunk in range(10):
            for t in range(n):
                stream(widget, t, 50 * chunk, 50, 1e-3, val=0.5 if chunk % 3 == 0 else None)
            if chunk == 8:
                widget.refresh()  # every trial drawn once: its colour is known to the page
        recording.log = []
        widget.refresh()
        per_refresh[n] = sum(size for _, size in recording.log)
        assert np.isfinite(widget._loss_mark.y).sum() <= 2000  # over all trials
        assert np.isfinite(widget._rate_mark.y).sum() <= 2000
        widget.close()
    assert max(per_refresh.values()) <= 80_000, per_refresh
    assert per_refresh[250] <= 1.5 * per_refresh[4], per_refresh


def test_refreshes_wait_for_the_page_to_draw_the_last() -> None:
    """Once the page answers, a refresh goes only after it drew the last one: a slow page (a busy
    machine) is never flooded, and its answer brings the held-back change at once."""
    import lrwidgets as lrw
    from tests.test_pacer import ack

    widget = lrw.LRSweep(build_model, learning_rates=[1e-3, 1e-2], refresh_interval=0.05)
    pacer = widget._pacer
    pacer.fallback = 600.0  # no pause of this thread outlasts it
    try:
        time.sleep(0.1)  # past the refresh interval of the refresh at construction
        stream(widget, 0, 0, 5, 1e-3)
        assert pacer._seq == 1  # drawn at once (no answer yet: unpaced), and an answer asked
        ack(pacer, 1)  # the page drew it: pacing starts; nothing new to draw, nothing sent
        assert pacer._seq == 1 and widget._timer is None
        time.sleep(0.1)  # past the refresh interval
        stream(widget, 1, 0, 5, 1e-2)
        assert pacer._seq == 2 and len(widget._views[1].steps) == 5  # the first after the answer goes at once
        drawn = widget.refreshes
        for i in range(20):  # ... the next wait for the page, however long past the interval
            stream(widget, 1, 5 + i, 1, 1e-2)
            time.sleep(0.01)
        time.sleep(0.1)
        assert widget.refreshes == drawn and pacer._seq == 2 and widget._timer is not None
        assert len(widget._views[1].steps) == 5  # not drawn yet
        ack(pacer, 2)  # the page drew it: what was held back is drawn at once
        assert widget.refreshes == drawn + 1 and pacer._seq == 3
        assert len(widget._views[1].steps) == 25
        pacer.fallback = 0.05  # a page that stops answering still gets a refresh that often
        stream(widget, 1, 25, 1, 1e-2)
        deadline = time.monotonic() + 30
        while pacer._seq == 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pacer._seq == 4 and len(widget._views[1].steps) == 26
        # Closed with a change held back: the page's late answer, or a last message, draws nothing.
        pacer.fallback = 600.0
        stream(widget, 1, 26, 1, 1e-2)
        drawn = widget.refreshes
        widget.close()
        ack(pacer, 4)
        widget._on_change({1})
        assert widget.refreshes == drawn and widget._timer is None and pacer._seq == 4
    finally:
        widget.close()


def test_refreshes_are_throttled() -> None:
    import lrwidgets as lrw

    widget = lrw.LRSweep(build_model, learning_rates=[1e-3, 1e-2], refresh_interval=60)
    before = widget.refreshes
    for i in range(100):
        stream(widget, i % 2, i, 1, 1e-3)
    assert widget.refreshes == before  # one refresh was drawn at construction: the next waits 60 s
    timer = widget._timer
    assert timer is not None
    widget.close()
    assert timer.finished.is_set() and widget._timer is None  # closed: the pending refresh is cancelled
    # A closed widget's `run` trained with no view, an embedded cluster started again: refused.
    with pytest.raises(RuntimeError, match="This LRSweep is closed"):
        widget.run(np.zeros((8, 8)), np.zeros((8, 1)))
    assert widget.sweep.client is None and not widget.running


def test_bad_arguments_and_controls_errors_shown() -> None:
    import lrwidgets as lrw
    from lrwidgets.sweep import Sweep

    with pytest.raises(ValueError, match="`learning_rates` must not be empty"):
        lrw.LRSweep(build_model, learning_rates=[])
    with pytest.raises(TypeError, match="`sweep` must be a lrwidgets"):
        lrw.LRSweep(sweep="sweep")
    sweep = Sweep(build_model, [1e-3])
    with pytest.raises(TypeError, match="not both"):
        lrw.LRSweep(build_model, sweep=sweep)
    for given in ({"epochs": 50}, {"seeds": [1, 2]}, {"optimizers": ["adam"]}):  # were dropped silently
        with pytest.raises(TypeError, match="not both"):
            lrw.LRSweep(sweep=sweep, **given)
    with pytest.raises(TypeError, match=r"Argument `path` must be a str or a path"):
        Sweep(build_model, [1e-3], path=123)
    with pytest.raises(ValueError, match=r"Argument `path` must name a file \(a .json\), not a directory"):
        Sweep(build_model, [1e-3], path=os.path.dirname(__file__))  # it said: holds an earlier sweep's results
    with pytest.raises(ValueError, match="`smoothing` must be < 1"):
        lrw.LRSweep(sweep=sweep, smoothing=1.0)
    widget = lrw.LRSweep(sweep=sweep)
    widget._choice.options = [("#0", 0)]
    widget._choice.value = 0
    widget._cancel.disabled = False
    widget._cancel.click()  # not running: refused, and the refusal is shown
    assert "not running" in widget._error.value
    assert widget.statuses == {0: "queued"}


def test_the_sweep_imports_no_widget_and_the_other_widgets_need_no_dask() -> None:
    """`lrwidgets.sweep` works headless; `lrw.TrainingDashboard` & co. work without the `sweep` extra,
    and `lrw.LRSweep` then says how to install it."""
    import subprocess
    import sys

    headless = (
        "import sys, lrwidgets.sweep\n"
        "bad = [m for m in ('ipywidgets', 'bqplot', 'anywidget') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    without_dask = (
        "import sys\n"
        "sys.modules['distributed'] = None  # as if the extra were not installed\n"
        "import lrwidgets as lrw\n"
        "from lrwidgets import *\n"
        "lrw.TrainingDashboard, lrw.ScheduleDesigner, lrw.LayerLRControls\n"
        "refused = 0\n"
        "try:\n"
        "    lrw.LRSweep\n"
        "except ModuleNotFoundError as e:\n"
        "    assert \"pip install 'lrwidgets[sweep]'\" in str(e), e\n"
        "    refused += 1\n"
        "try:\n"
        "    import lrwidgets.sweep\n"  # was a bare "No module named 'distributed'"
        "except ModuleNotFoundError as e:\n"
        "    assert str(e) == \"lrwidgets.sweep needs distributed: pip install 'lrwidgets[sweep]'\", e\n"
        "    refused += 1\n"
        "print('ok' if refused == 2 else f'refused {refused}')\n"
    )
    for code in (headless, without_dask):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


def test_one_trial_with_one_point_is_drawn() -> None:
    """bqplot squeezes a (1, 1) array to a scalar and refused it: the first message of a one-trial sweep."""
    import lrwidgets as lrw

    widget = lrw.LRSweep(build_model, learning_rates=[1e-3], refresh_interval=60)
    stream(widget, 0, 0, 1, 1e-3, val=0.5)
    widget.refresh()
    assert np.isfinite(widget._loss_mark.y).sum() == 1 and np.isfinite(widget._val_mark.y).sum() == 1
    assert widget._error.value == ""


def test_a_trial_run_again_is_drawn_afresh() -> None:
    """A trial's curve starts again when the trial runs again (Dask ran its task again, the sweep
    queued it again, a new run of the sweep): the views kept the old run's counts, indexed past the
    new, shorter curve (IndexError: the widget froze), and kept the old run's validation points."""
    import lrwidgets as lrw

    def drawn(y: np.ndarray) -> int:
        return int(np.isfinite(y).sum())  # one trial: bqplot squeezes its row to 1-D

    widget = lrw.LRSweep(build_model, learning_rates=[1e-3], refresh_interval=60)
    stream(widget, 0, 0, 40, 1e-3, val=0.5, attempt="a")
    stream(widget, 0, 40, 40, 1e-3, val=0.4, attempt="a")
    widget.refresh()
    assert drawn(widget._loss_mark.y) == 80 and drawn(widget._val_mark.y) == 2
    stream(widget, 0, 0, 5, 1e-3, val=0.9, attempt="b")
    widget.refresh()
    assert drawn(widget._loss_mark.y) == 5 and np.nanmax(widget._loss_mark.x) == 4
    assert drawn(widget._val_mark.y) == 1 and np.nanmax(widget._val_mark.y) == pytest.approx(0.9)
    stream(widget, 0, 5, 5, 1e-3, attempt="b")
    widget.refresh()
    assert drawn(widget._loss_mark.y) == 10
    widget.sweep._table.start(False)  # what a new run of the sweep does first
    stream(widget, 0, 0, 3, 1e-3, attempt="c")
    widget.refresh()
    assert drawn(widget._loss_mark.y) == 3 and drawn(widget._val_mark.y) == 0


def test_the_trial_picked_to_cancel_stays_picked_when_another_ends() -> None:
    """A trial ending changed the list of trials that can be cancelled, and ipywidgets then picked
    the first: Cancel would have cancelled another trial than the one the user chose."""
    import lrwidgets as lrw

    widget = lrw.LRSweep(build_model, learning_rates=[1e-3, 1e-2, 1e-1], refresh_interval=60)
    widget.refresh()
    assert [v for _, v in widget._choice.options] == [0, 1, 2]
    widget._choice.value = 2
    finish(widget, 0, 0.5)
    widget.refresh()
    assert [v for _, v in widget._choice.options] == [1, 2] and widget._choice.value == 2
    finish(widget, 2, 0.4)  # the one picked ends: none is picked (a click on Cancel then cancelled another)
    widget.refresh()
    assert [v for _, v in widget._choice.options] == [1] and widget._choice.value is None and widget._cancel.disabled
    widget._choice.value = 1
    assert not widget._cancel.disabled


def test_the_widgets_monitor_is_the_sweeps_and_re_ranks_the_table() -> None:
    """README: `sweep.monitor = "val_accuracy"` on `sweep = lrw.LRSweep(...)`. The widget had no
    `monitor`: the assignment made an attribute of the widget, the ranking stayed by `val_loss`,
    and any value was taken."""
    import lrwidgets as lrw

    widget = lrw.LRSweep(build_model, learning_rates=[1e-3, 1e-2, 1e-1], refresh_interval=60)
    for trial, (val_loss, val_accuracy) in enumerate([(0.3, 0.7), (0.4, 0.9), (0.5, 0.8)]):
        t = widget.sweep.trials[trial]
        row = {"status": "done", "reason": "", "time": 1.0, "maximized": "accuracy val_accuracy"}
        widget.sweep._finish(t, {**t.config(), **row, "best_val_loss": val_loss, "best_val_accuracy": val_accuracy})
    widget.refresh()
    assert widget.best["trial"] == 0 and table_order(widget) == [0, 1, 2]
    widget.monitor = "val_accuracy"
    assert widget.sweep.monitor == "val_accuracy" == widget.monitor and widget.monitor_name == "val_accuracy"
    assert widget.best["trial"] == 1 and [r["trial"] for r in widget.ranking()] == [1, 2, 0]
    widget.refresh()  # (the change is drawn at the next refresh: the interval is a minute here)
    assert table_order(widget) == [1, 2, 0] and "best val_accuracy" in widget._table.value
    # A monitor no done trial logged (misspelt): none is ranked, and no row shows a rank.
    widget.monitor = "val_acuracy"
    widget.refresh()
    ranks = re.findall(r'<tr><td style="padding:2px 8px">(\d*)</td>', widget._table.value)
    assert ranks == ["", "", ""], ranks
    widget.monitor = "val_accuracy"
    widget.refresh()
    assert re.findall(r'<tr><td style="padding:2px 8px">(\d*)</td>', widget._table.value) == ["1", "2", "3"]
    with pytest.raises(TypeError, match="Argument `monitor` must be an epoch log name"):
        widget.monitor = 5
    assert widget.sweep.monitor == "val_accuracy"
    widget.mode = "max"
    assert widget.sweep.mode == "max" == widget.mode
    with pytest.raises(ValueError, match="Argument `mode` must be one of"):
        widget.mode = "up"
    assert widget.sweep.mode == "max"
    widget.update_interval, widget.n_workers = 0.5, 1  # the sweep's settings, checked by it
    assert widget.sweep.update_interval == 0.5 and widget.sweep.n_workers == 1 and widget.epochs == 1
    with pytest.raises(ValueError, match="Argument `update_interval` must be"):
        widget.update_interval = -1
    with pytest.raises(AttributeError):
        widget.epochs = 3
    with pytest.raises(TypeError, match="Argument `build_model` must be callable"):
        widget.build_model = 3
    assert widget.build_model is widget.sweep.build_model and callable(widget.build_model)
    assert widget.sweep.update_interval == 0.5 and widget.sweep.epochs == 1
    assert widget.curve(0) is not None and len(widget.rows) == 3 and widget.status(1) == "done"
    assert not widget.running and widget.why_no_best is None


def test_cancel_is_enabled_only_with_a_trial_picked_and_refusals_from_the_page_are_shown() -> None:
    """Cancel was enabled with no trial picked (a click did nothing, said nothing); the page's
    labels of the trial choices and its `disabled` were taken; a refused value was not shown."""
    import html

    import traitlets

    import lrwidgets as lrw

    widget = lrw.LRSweep(build_model, learning_rates=[1e-3, 1e-2, 1e-1], refresh_interval=60)
    widget.refresh()
    assert widget._choice.value == 0 and not widget._cancel.disabled  # the first is picked
    finish(widget, 0, 0.5)
    widget.refresh()
    assert [v for _, v in widget._choice.options] == [1, 2] and widget._choice.value is None
    widget._choice.value = 1
    assert not widget._cancel.disabled
    widget._choice.value = None  # (code can clear it)
    assert widget._cancel.disabled
    widget._choice.value = 2
    assert not widget._cancel.disabled
    labels = widget._choice._options_labels
    for state, said in [
        ({"_options_labels": ["#0 evil", "#1 evil"]}, "Argument `_options_labels` of the `trial` dropdown is set by"),
        ({"disabled": True}, "Argument `disabled` of the `trial` dropdown is set by the kernel"),
        ({"index": 7}, "Argument `index` must be"),
    ]:
        with pytest.raises(traitlets.TraitError):
            widget._choice.set_state(state)
        assert widget._choice._options_labels == labels and not widget._choice.disabled
        assert widget._choice.value == 2 and said in html.unescape(widget._error.value)
    widget._choice.set_state({"_options_labels": list(labels), "index": 0})  # a page re-sending its state
    assert widget._choice.value == 1
    with pytest.raises(traitlets.TraitError):
        widget._log_y.set_state({"value": 1})
    assert widget._log_y.value is True and "Argument `log_y` must be a bool" in html.unescape(widget._error.value)
