"""TrainingDashboard and its controller, without a browser: state, traffic, live control, faults."""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from typing import Any

import numpy as np
import pytest

from lrwidgets.training._compat import MultiOptimizer
from tests.helpers import RecordingComm, kernel_of, linear_model, regression_data, wait_for

pytestmark = pytest.mark.keras


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> type[RecordingComm]:
    import ipywidgets.comm

    monkeypatch.setattr(ipywidgets.comm, "create_comm", RecordingComm)
    RecordingComm.log = []
    return RecordingComm


def test_widget_state_before_training() -> None:
    import keras

    import lrwidgets as lrw

    dash = lrw.TrainingDashboard(linear_model(keras.optimizers.Adam(3e-3)))
    state = dash._lr_slider.get_state()
    assert state["value"] == pytest.approx(3e-3) and state["base"] == 10
    assert state["min"] <= math.log10(3e-3) <= state["max"]
    assert dash._pause_button.disabled and dash._stop_button.disabled
    assert dash.plots.metrics_fig not in dash.children  # added with the first metrics
    assert "idle" in dash._status.value and "width:0.0%" in dash._status.value  # an empty progress bar
    assert dash.learning_rate == pytest.approx(3e-3)
    assert dash.history.num_steps == 0


def test_fit_records_true_batch_losses_and_history() -> None:
    import keras

    import lrwidgets as lrw

    x, y = regression_data(100)
    # A learning rate so small that the weights do not move: each batch's loss is then known.
    model = linear_model(keras.optimizers.SGD(1e-12), metrics=["mae"])
    expected = [float(model.evaluate(x[i : i + 32], y[i : i + 32], verbose=0)[0]) for i in range(0, 100, 32)]
    dash = lrw.TrainingDashboard(model)
    history = dash.fit(x, y, epochs=2, batch_size=32, shuffle=False).wait()
    assert dash.history.num_steps == 8
    np.testing.assert_allclose(dash.history.loss[:4], expected, rtol=2e-4)
    np.testing.assert_allclose(dash.history.loss[4:], expected, rtol=2e-4)
    assert history.history["learning_rate"] == pytest.approx([1e-12, 1e-12])
    assert [r["epoch"] for r in dash.history.epochs] == [0, 1]
    assert "mae" in dash.history.epochs[0]
    assert dash.plots.metrics_fig in dash.children  # metrics shown once an epoch ends
    assert len(dash.plots.loss_mark.x) == 8
    assert "idle" in dash._status.value and "epoch 2/2" in dash._status.value
    assert "width:100.0%" in dash._status.value  # the progress bar, full


def test_live_learning_rate_change_from_kernel_thread() -> None:
    import keras

    import lrwidgets as lrw

    x, y = regression_data(64 * 32)
    model = linear_model(keras.optimizers.SGD(1e-4))
    dash = lrw.TrainingDashboard(model)
    sizes: list[float] = []

    class UpdateSize(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            self.before = kernel_of(self.model)

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            sizes.append(float(np.linalg.norm(kernel_of(self.model) - self.before)))

    run = dash.fit(x, y, epochs=50, batch_size=32, callbacks=[UpdateSize()])
    wait_for(lambda: dash.history.num_steps >= 20)
    dash.learning_rate = 1e-2  # from this (the kernel's) thread, while the fit runs
    wait_for(lambda: any(e.kind == "learning_rate" for e in dash.history.events))
    change = next(e for e in dash.history.events if e.kind == "learning_rate")
    wait_for(lambda: dash.history.num_steps >= change.step + 10)
    run.stop()
    run.wait()
    lr = dash.history.learning_rate
    k = change.step
    assert change.source == "user" and change.value == pytest.approx(1e-2)
    assert np.all(lr[:k] == np.float32(1e-4)) and np.all(lr[k:] == np.float32(1e-2))
    ratio = np.mean(sizes[k : k + 3]) / np.mean(sizes[k - 3 : k])
    assert 30 < ratio < 300  # 100x the rate: ~100x the weight updates, from the very next batch
    for rules in (dash.plots.lr_rules, dash.plots.loss_rules):  # marked on both plots, at the step it took effect
        assert np.atleast_2d(rules.x).tolist() == [[k, k]]
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-2)


def test_pause_holds_without_cpu_then_resume_and_stop_keep_everything() -> None:
    import lrwidgets as lrw

    x, y = regression_data(64 * 32)
    model = linear_model()
    dash = lrw.TrainingDashboard(model)
    run = dash.fit(x, y, epochs=100, batch_size=32)
    wait_for(lambda: dash.history.num_steps >= 5)
    dash._pause_button.click()
    wait_for(lambda: dash.controller.state == "paused")
    held = dash.history.num_steps
    cpu = os.times()
    time.sleep(0.5)
    used = (os.times().user - cpu.user) + (os.times().system - cpu.system)
    assert dash.history.num_steps == held
    assert used < 0.25, f"paused training used {used:.2f} s of CPU in 0.5 s"
    assert dash._pause_button.description == "Resume"
    dash.learning_rate = 5e-3  # applied while paused, in the training thread
    wait_for(lambda: dash.controller._lr == 5e-3)
    dash._pause_button.click()
    wait_for(lambda: dash.history.num_steps > held + 5)
    dash._stop_button.click()
    history = run.wait(timeout=60)
    assert run.done and run.exception is None
    assert len(history.history["loss"]) >= 1
    steps = dash.history.num_steps
    assert steps > held + 5 and steps < 100 * 64
    kinds = [e.kind for e in dash.history.events]
    assert kinds.count("pause") == 1 and "resume" in kinds and kinds[-1] == "stop"
    assert dash.history.learning_rate[-1] == np.float32(5e-3)
    assert np.all(np.isfinite(kernel_of(model)))
    assert dash.controller.state == "idle" and dash._stop_button.disabled


def test_stop_while_paused_ends_at_once() -> None:
    import lrwidgets as lrw

    x, y = regression_data(64 * 32)
    dash = lrw.TrainingDashboard(linear_model())
    run = dash.fit(x, y, epochs=100, batch_size=32)
    wait_for(lambda: dash.history.num_steps >= 3)
    dash.pause()
    wait_for(lambda: dash.controller.state == "paused")
    held = dash.history.num_steps
    dash.stop()
    run.wait(timeout=30)
    assert dash.history.num_steps == held


@pytest.mark.parametrize("on_nan", ["restore", "stop"])
def test_nan_loss_stops_with_a_message(on_nan: str) -> None:
    import lrwidgets as lrw

    x, y = regression_data(320)
    y[200] = np.nan  # batch 6 of the first epoch
    model = linear_model()
    dash = lrw.TrainingDashboard(model, on_nan=on_nan)
    run = dash.fit(x, y, epochs=3, batch_size=32, shuffle=False)
    run.wait(timeout=60)
    assert dash.history.num_steps == 7
    assert np.isnan(dash.history.loss[-1]) and np.all(np.isfinite(dash.history.loss[:-1]))
    nan_events = [e for e in dash.history.events if e.kind == "nan"]
    assert len(nan_events) == 1 and "step 6" in nan_events[0].message
    assert "step 6" in dash._messages.value
    finite = bool(np.all(np.isfinite(kernel_of(model))))
    assert finite is (on_nan == "restore")


def test_exception_in_a_callback_is_shown_and_reraised() -> None:
    import keras

    import lrwidgets as lrw

    class Boom(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if batch == 4:
                raise RuntimeError("boom at batch 4")

    x, y = regression_data(320)
    model = linear_model()
    dash = lrw.TrainingDashboard(model)
    run = dash.fit(x, y, epochs=2, batch_size=32, callbacks=[Boom()])
    with pytest.raises(RuntimeError, match="boom at batch 4"):
        run.wait(timeout=60)
    assert isinstance(run.exception, RuntimeError)
    assert dash.history.num_steps == 5
    assert "boom at batch 4" in dash._messages.value
    assert dash.controller.state == "idle"
    assert np.all(np.isfinite(kernel_of(model)))
    dash.fit(x, y, epochs=1, batch_size=32).wait(timeout=60)  # usable again; curves continue
    assert dash.history.num_steps == 15


@pytest.mark.parametrize("receiver", ["main thread", "another thread"])
def test_keyboard_interrupt_in_wait_stops_training_cleanly(receiver: str) -> None:
    import keras

    import lrwidgets as lrw

    x, y = regression_data(64 * 32)
    model = linear_model()
    dash = lrw.TrainingDashboard(model)
    main, waiting = threading.get_ident(), threading.Event()
    deadline = time.monotonic() + 120

    class Interrupt(keras.callbacks.Callback):
        """At step 5, once the test waits for the run, the kernel's SIGINT. The OS hands a process's
        SIGINT to any of its threads that does not block it: to the waiting one, or to another (here
        the training thread), which the wait must not sleep through. Later steps wait for the Stop
        it causes (within the test's deadline)."""

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if dash.history.num_steps == 5:
                assert waiting.wait(60)
                signal.pthread_kill(main if receiver == "main thread" else threading.get_ident(), signal.SIGINT)
            while dash.history.num_steps >= 5 and dash.controller.state != "stopping" and time.monotonic() < deadline:
                time.sleep(0.005)

    # As in a kernel: SIGINT raises KeyboardInterrupt. (A process started in the background by a
    # non-interactive shell, as CI may start the suite, inherits SIGINT ignored.)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        run = dash.fit(x, y, epochs=100, batch_size=32, callbacks=[Interrupt()])
        with pytest.raises(KeyboardInterrupt):  # noqa: PT012 (the signal waits for the block: no earlier)
            waiting.set()
            run.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert run.done and dash.controller.state == "idle"
    assert 5 <= dash.history.num_steps <= 7  # stopped at the next batch boundary
    assert np.all(np.isfinite(kernel_of(model)))
    loss = model.evaluate(x, y, verbose=0)
    assert math.isfinite(loss)


def test_plain_callback_mode_records_live() -> None:
    import lrwidgets as lrw

    x, y = regression_data(128)
    model = linear_model()
    dash = lrw.TrainingDashboard(model)
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[dash.callback])
    assert dash.history.num_steps == 8
    assert len(dash.history.epochs) == 2
    assert dash.controller.state == "idle"


def test_bytes_per_update_are_bounded(recording: type[RecordingComm]) -> None:
    import lrwidgets as lrw

    dash = lrw.TrainingDashboard(linear_model())
    rng = np.random.default_rng(0)
    h = dash.history
    h.start_epoch(0)
    per_update = {}
    for target in (1_000, 10_000, 50_000):
        while h.num_steps < target:
            h.record_step(float(rng.random()), 1e-3 * (1 + h.num_steps // 5000), 0.0)
        recording.log = []
        dash.refresh()
        per_update[target] = sum(size for _, size in recording.log)
    assert max(per_update.values()) <= 10_000, per_update
    assert per_update[50_000] <= 1.2 * per_update[1_000], per_update


def test_many_short_epochs_are_throttled_and_decimated(recording: type[RecordingComm]) -> None:
    """Epochs of one batch: the browser still gets at most one update per interval, and the
    per-epoch curves at most ``max_points`` points, keeping their extremes."""
    import lrwidgets as lrw

    x, y = regression_data(16)
    dash = lrw.TrainingDashboard(linear_model(metrics=["mae"]), max_points=64, update_interval=0.25)
    calls: list[float] = []
    dash.controller.add_listener(lambda: calls.append(time.perf_counter()))
    start = time.perf_counter()
    dash.fit(x, y, epochs=400, batch_size=16, validation_data=(x, y)).wait()
    elapsed = time.perf_counter() - start
    # begin, end and one per interval (the fit takes seconds, and its 400 epochs end far more often)
    assert len(calls) <= elapsed / 0.25 + 3, (len(calls), elapsed)
    val = np.asarray(dash.history.epoch_logs["val_loss"], dtype=np.float32)
    assert len(val) == 400
    vx, vy = np.asarray(dash.plots.val_mark.x), np.asarray(dash.plots.val_mark.y)
    assert 0 < len(vx) <= 64 and vx[-1] == dash.history.num_steps - 1
    assert vy.min() == val.min() and vy.max() == val.max()
    assert dash.plots.val_mark.marker is None  # too many epochs for a circle each
    for mark in dash.plots.metrics_fig.marks:
        assert 0 < len(mark.x) <= 64 and mark.x[-1] == 400, mark.labels
    # a refresh costs as much after 400 epochs as the bytes bound of the updates allows
    recording.log = []
    dash.refresh()
    assert sum(size for _, size in recording.log) <= 10_000


def test_speed_is_the_recent_throughput_even_when_batches_end_in_bursts() -> None:
    """Nine quick batches, then a slow one, over and over: the samples/s shown is the throughput,
    not the speed of the quick batches. Asserted on the fit's own records and on bounds that a busy
    machine only loosens (it slows batches down, never speeds them up)."""
    import keras

    import lrwidgets as lrw
    from lrwidgets.training.progress import RATE_WINDOW

    pause = 0.05

    class Bursty(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if batch % 10 == 9:
                time.sleep(pause)

    x, y = regression_data(1600)
    dash = lrw.TrainingDashboard(linear_model())
    start = time.perf_counter()
    dash.fit(x, y, epochs=1, batch_size=8, callbacks=[Bursty()]).wait()
    wall = time.perf_counter() - start
    t = np.asarray(dash.history.time, dtype=np.float64)
    p = dash.progress
    # Every ten batches take at least one pause, so no stretch of the fit ran faster than this
    # (one group more than the window holds, for where the window cuts a group).
    assert 0 < p.steps_per_second <= 10 / pause * 1.1, p.steps_per_second
    # ... and the speed is the recorded batches of the last RATE_WINDOW seconds over their span.
    recent = t[t >= t[-1] - RATE_WINDOW]
    assert p.steps_per_second == pytest.approx((len(recent) - 1) / (recent[-1] - recent[0]), rel=1e-3)
    assert p.samples_per_second == pytest.approx(8 * p.steps_per_second)
    # elapsed: this fit's duration (its compile included), frozen once it ended, and counted
    # afresh by the next fit
    assert t[-1] - t[0] <= p.elapsed <= wall, (t[-1] - t[0], p.elapsed, wall)
    time.sleep(0.3)
    assert dash.progress.elapsed == p.elapsed
    start = time.perf_counter()
    dash.fit(x[:80], y[:80], epochs=1, batch_size=8).wait()
    wall = time.perf_counter() - start
    t = np.asarray(dash.history.time, dtype=np.float64)[-10:]
    assert t[-1] - t[0] <= dash.progress.elapsed <= wall, (t[-1] - t[0], dash.progress.elapsed, wall)


def test_learning_rate_axis_has_round_distinct_ticks() -> None:
    import lrwidgets as lrw

    dash = lrw.TrainingDashboard(linear_model())
    h = dash.history
    h.start_epoch(0)
    for step in range(200):
        h.record_step(1.0, 1e-3 if step < 100 else 3e-3, 0.0)
    dash.refresh()
    assert list(dash.plots.lr_axis.tick_values) == pytest.approx([1e-3, 2e-3, 3e-3])
    for _ in range(100):
        h.record_step(1.0, 1e-6, 0.0)
    dash.refresh()
    assert list(dash.plots.lr_axis.tick_values) == pytest.approx([1e-6, 1e-5, 1e-4, 1e-3])


def test_metrics_plot_counts_epochs_across_fits() -> None:
    import lrwidgets as lrw

    x, y = regression_data(64)
    dash = lrw.TrainingDashboard(linear_model(metrics=["mae"]))
    dash.fit(x, y, epochs=2, batch_size=16).wait()
    dash.fit(x, y, epochs=3, batch_size=16).wait()  # Keras numbers these epochs 0, 1, 2 again
    (mae,) = [m for m in dash.plots.metrics_fig.marks if m.labels == ["mae"]]
    assert list(mae.x) == [1, 2, 3, 4, 5]


@pytest.mark.skipif(MultiOptimizer is None, reason="keras.optimizers.MultiOptimizer first ships in Keras 3.15")
def test_a_multi_optimizer_is_refused_by_name() -> None:
    import keras

    import lrwidgets as lrw

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    multi = keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(keras.optimizers.Adam(1e-3)))
    model.compile(optimizer=multi, loss="mse")
    with pytest.raises(ValueError, match=r"`MultiOptimizer` has none.*lrw\.LayerwiseOptimizer"):
        lrw.TrainingDashboard(model)  # was: "math domain error" (log10 of its unused 0.0 rate)


def test_bad_inputs_raise_named_errors_and_change_nothing() -> None:
    import keras

    import lrwidgets as lrw

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compiled"):
        lrw.TrainingDashboard(model)
    with pytest.raises(TypeError, match="Argument `model`"):
        lrw.TrainingDashboard("not a model")
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 100, 0.9)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    with pytest.raises(ValueError, match=r"ExponentialDecay.*schedule=lrw\.schedules"):
        lrw.TrainingDashboard(model)
    with pytest.raises(TypeError):
        lrw.TrainingDashboard(linear_model(), smoothness=0.5)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="Argument `on_nan`"):
        lrw.TrainingDashboard(linear_model(), on_nan="ignore")
    for bad in ("", 5):  # "" recorded every step's loss as NaN
        with pytest.raises(TypeError, match=rf"Argument `monitor` must be a non-empty str. Received: monitor={bad!r}"):
            lrw.TrainingSession(linear_model(), monitor=bad)  # type: ignore[arg-type]
    dash = lrw.TrainingDashboard(linear_model())
    for bad in (0.0, -1e-3, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="Argument `learning_rate` must be a positive finite number"):
            dash.learning_rate = bad
    with pytest.raises(TypeError, match="Argument `learning_rate` must be a number"):
        dash.learning_rate = "fast"  # type: ignore[assignment]
    assert dash.learning_rate == pytest.approx(1e-3)
    assert dash.history.events == []
    x, y = regression_data(64)
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        dash.fit(x, y, epoch=3)
    assert not dash.controller.running


def test_second_fit_while_running_is_refused() -> None:
    import lrwidgets as lrw

    x, y = regression_data(64 * 32)
    dash = lrw.TrainingDashboard(linear_model())
    run = dash.fit(x, y, epochs=100, batch_size=32)
    with pytest.raises(RuntimeError, match="already running"):
        dash.fit(x, y, epochs=1)
    run.stop()
    run.wait(timeout=60)


def test_slider_change_from_the_browser_reaches_the_optimizer() -> None:
    import keras

    import lrwidgets as lrw

    model = linear_model()
    dash = lrw.TrainingDashboard(model)
    dash._lr_slider.set_state({"value": 0.02})  # as the browser sends it
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.02)


def test_observer_errors_show_in_the_widget(monkeypatch: pytest.MonkeyPatch) -> None:
    import lrwidgets as lrw

    dash = lrw.TrainingDashboard(linear_model())

    def broken(value: float, source: str = "user") -> None:
        raise RuntimeError("controller unavailable")

    monkeypatch.setattr(dash.controller, "set_learning_rate", broken)
    dash._lr_slider.set_state({"value": 0.05})
    assert "RuntimeError: controller unavailable" in dash._messages.value


def test_designer_replays_plateaus_against_a_dashboard_run() -> None:
    import lrwidgets as lrw

    x, y = regression_data(320)
    dash = lrw.TrainingDashboard(linear_model())
    dash.fit(x, y, epochs=4, batch_size=32, validation_split=0.25).wait(timeout=60)
    logs = dash.history.epoch_logs
    assert set(logs) >= {"loss", "val_loss", "learning_rate"}
    assert len(logs["val_loss"]) == 4
    designer = lrw.ScheduleDesigner(kind="plateau", initial_learning_rate=1e-3, epochs=4, steps_per_epoch=8)
    designer.set_monitored(dash)
    np.testing.assert_allclose(designer.monitored(), logs["val_loss"])
    designer.set_monitored(dash.history, monitor="loss")
    np.testing.assert_allclose(designer.monitored(), logs["loss"])
