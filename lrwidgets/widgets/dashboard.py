"""``TrainingDashboard``: watch and steer a Keras fit live in the notebook."""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as widgets

from lrwidgets.core import TrainingHistory
from lrwidgets.core.checks import check_choice, check_float, check_int, check_rate
from lrwidgets.core.diagnosis import Diagnosis
from lrwidgets.training import Diagnostician, Progress, Snapshot, TrainingRun, TrainingSession
from lrwidgets.widgets._controls_row import ControlsRow
from lrwidgets.widgets._delegate import delegated
from lrwidgets.widgets._diagnosis_bar import DiagnosisBar
from lrwidgets.widgets._errors import shows_errors
from lrwidgets.widgets._find_lr import FindLearningRate
from lrwidgets.widgets._message_log import MESSAGE_KINDS, MessageLog
from lrwidgets.widgets._progress_line import ProgressLine
from lrwidgets.widgets._step_curves import StepCurves
from lrwidgets.widgets._training_plots import TrainingPlots
from lrwidgets.widgets.pacer import BrowserPacer

__all__ = ["MAX_POINTS_LIMIT", "MESSAGE_KINDS", "TrainingDashboard"]

MAX_POINTS_LIMIT = 100_000


class TrainingDashboard(FindLearningRate, widgets.VBox):
    """Live curves and controls for a Keras model while it trains.

    Shows the true per-batch loss (raw and smoothed), validation loss, compiled metrics, the
    learning rate on a log scale, progress, Pause/Resume/Stop, a log-scale learning-rate control
    and a message area for every warning and error from training. ``fit`` runs ``model.fit`` in a
    background thread so the notebook stays free and the controls act at the next batch.

    Args:
        model: a compiled ``keras.Model`` whose optimizer has a float learning rate, or a
            :class:`~lrwidgets.TrainingSession` to view (two views of one session stay in step).
        max_points: most points drawn per line (min/max decimation keeps spikes); 8 to 100,000.
        update_interval: seconds between two browser updates while training (default 0.1;
            longer when drawing takes more than 1% of the training thread's time, at most 10x).
        smoothing: EMA coefficient of the smoothed loss, in [0, 0.99].
        on_nan: ``"restore"`` (default: the last weights whose loss was finite and not diverging are
            put back) or ``"stop"``.
        monitor: the log key drawn as the loss (default ``loss``; see ``TrainingSession``).
        on_diverge: on a ``diverging``, ``spiked`` or ``collapsed`` verdict: ``"warn"`` (default), ``"lower"``
            (set the advised rate, 10x lower), ``"rewind"`` (put back the last healthy state before
            the blow-up and set that rate) or ``"stop"``; see :class:`~lrwidgets.Diagnostician`.
            One setting a session, shared by its views: a view given none keeps the session's.

    ``update_interval``, ``on_nan`` and ``monitor`` are the session's own settings: given with a
    session, they raise ``TypeError`` (set them on the ``TrainingSession``).

    Example:
        >>> import keras, numpy as np, lrwidgets as lrw
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        >>> dash = lrw.TrainingDashboard(model)
        >>> run = dash.fit(np.ones((256, 8)), np.ones((256, 1)), epochs=2, batch_size=32)
        >>> history = run.wait()
        >>> dash.history.num_steps
        16

    In a notebook, end a cell with ``dash`` to show it. To keep calling ``model.fit`` yourself, pass
    ``callbacks=[dash.callback]``: the curves update live, but the controls can only act while
    the fit runs in the background (``dash.fit``), because the kernel does not handle widget
    messages while a cell is running.
    """

    def __init__(
        self,
        model: Any,
        *,
        max_points: int = 600,
        update_interval: float | None = None,
        smoothing: float = 0.9,
        on_nan: str | None = None,
        monitor: str | None = None,
        on_diverge: str | None = None,
    ) -> None:
        max_points = check_int("max_points", max_points, ge=8, le=MAX_POINTS_LIMIT)
        smoothing = check_float("smoothing", smoothing, ge=0, le=0.99)  # the slider's range
        if on_diverge is not None:
            check_choice("on_diverge", on_diverge, Diagnostician.ON_DIVERGE_CHOICES)
        self.session = TrainingSession.of(model, update_interval=update_interval, on_nan=on_nan, monitor=monitor)
        self.max_points = max_points
        self._lock = threading.RLock()
        self._seen_events = 0
        self._seen_events_before = 0
        self._designer: Any = None
        self._snapshot: Snapshot | None = None
        self._build_widgets(smoothing)
        self._build_find_lr()
        self.layer_controls: Any = None
        self._add_equalizer()
        super().__init__(children=self._children, layout=widgets.Layout(width="100%"))
        self.add_class("lrwidgets-dashboard")
        # Subscribed before this view, so that a verdict reaches the view in the same snapshot round.
        self.diagnostician = Diagnostician.attach(self.session, on_diverge=on_diverge)
        self._unsubscribe = self.session.subscribe(self._on_snapshot)
        self.refresh()

    # ---- public API ----------------------------------------------------------------------------
    @property
    def controller(self) -> Any:
        """The session's controller (requests carried out in the training thread)."""
        return self.session.controller

    @property
    def model(self) -> Any:
        return self.session.model

    @property
    def history(self) -> TrainingHistory:
        """Full-resolution records of every fit of this dashboard's session."""
        return self.session.history

    @property
    def callback(self) -> Any:
        """A plain Keras callback, for ``model.fit(..., callbacks=[dash.callback])``."""
        return self.session.callback

    @property
    def learning_rate(self) -> float:
        """The learning rate; setting it takes effect at the next batch while training runs."""
        return self.session.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.session.set_learning_rate(value, source="user")

    @property
    def run(self) -> TrainingRun | None:
        """The handle of the last background fit."""
        return self.session.run

    def fit(self, *args: Any, schedule: Any = None, plateau: Any = None, **kwargs: Any) -> TrainingRun:
        """Start ``model.fit(*args, **kwargs)`` in a background thread; returns a :class:`TrainingRun`.

        Takes every argument of ``model.fit``; ``verbose`` defaults to 0 where the model's ``fit``
        takes one (the dashboard shows the progress). See :meth:`lrwidgets.TrainingSession.fit`.

        Args:
            schedule: optional; any callable mapping the step of this fit (from 0) to a learning
                rate, such as an ``lrwidgets.schedules`` object, or a ``ScheduleDesigner``. The
                rate is set before each batch; a live change scales the rest of the schedule; the
                planned curve is drawn beside the actual one. A designer keeps steering: an edit
                made during the fit re-plans from the current step, marked on the plots.
            plateau: optional ``lrwidgets.schedules.ReduceOnPlateau``: its reductions (watching its
                ``monitor``, without ``val_`` when the fit has no validation data) multiply the
                rest of the schedule, each one marked.
                Epochs that do not validate (``validation_freq``) are skipped, as Keras's
                ``ReduceLROnPlateau`` skips them.
        """
        designer = schedule if _is_designer(schedule) else None
        if designer is not None:
            schedule = designer.schedule  # a designer carries its schedule (not any `.schedule`)
        run = self.session.fit(*args, schedule=schedule, plateau=plateau, **kwargs)
        with shows_errors(self._show_error):  # the fit runs: the caller gets its run, the error is shown
            self._follow_designer(designer)
            self._draw_plan()
        return run

    # The session's own (docstrings included): safe at any time, during a fit at its next batch.
    save = delegated("session", TrainingSession, "save")
    pause = delegated("session", TrainingSession, "pause")
    resume = delegated("session", TrainingSession, "resume")
    stop = delegated("session", TrainingSession, "stop")

    @property
    def progress(self) -> Progress:
        return self.session.progress

    # ---- building ------------------------------------------------------------------------------
    def _build_widgets(self, smoothing: float) -> None:
        """The views the dashboard is composed of, top to bottom (the Find LR button and the layer
        controls join them later)."""
        self.plots = TrainingPlots(self.max_points)
        self.plots.on_metrics_figure = self._show_metrics
        self._curves = StepCurves(self.plots, self.max_points, smoothing)
        self._progress_line = ProgressLine()
        self._controls = ControlsRow(
            self.session.learning_rate,
            smoothing,
            on_refused=self._on_refused,
            on_pause=self._on_pause_clicked,
            on_stop=lambda _: self._guard(self.session.stop),
            on_rate=self._on_slider,
            on_smoothing=self._on_smoothing,
        )
        self._message_log = MessageLog()
        # Flow control: while training, an update goes out only once the page drew the last one.
        self._pacer = BrowserPacer(on_ack=self._catch_up, on_error=self._show_error)
        self._behind = False
        self._diagnosis_bar = DiagnosisBar(
            on_fix=lambda: self._guard(self._on_fix_clicked),
            on_log_loss=lambda change: self._guard(self._on_log_loss, change),
            on_refused=self._on_refused,
        )
        # The parts' widgets, by the names the dashboard has always had for them.
        self._status = self._progress_line.status
        self._pause_button, self._stop_button = self._controls.pause_button, self._controls.stop_button
        self._lr_slider, self._smoothing = self._controls.lr_slider, self._controls.smoothing
        self._messages = self._message_log.html
        self._badge, self._fix_button = self._diagnosis_bar.badge, self._diagnosis_bar.fix_button
        self._log_loss = self._diagnosis_bar.log_loss
        self._children = [
            self._status,
            self._controls.box,
            self.plots.loss_legend.widget,
            self.plots.loss_fig,
            self.plots.lr_legend.widget,
            self.plots.lr_fig,
            self._diagnosis_bar.box,
            self._messages,
            self._pacer,
        ]

    def _add_equalizer(self) -> None:
        """Per-layer rates (a LayerwiseOptimizer model, once built: at the dashboard's making, or at
        the first snapshot that shows its layers): the equalizer, its changes through the session."""
        if self.layer_controls is None and self.session.layer_groups:
            from lrwidgets.widgets.layer_controls import LayerLRControls

            self.layer_controls = LayerLRControls(self.session)
            self._children.insert(-1, self.layer_controls)

    def _show_metrics(self, figure: Any) -> None:
        # Added once there are metrics, not hidden until then: a bqplot figure drawn while hidden
        # keeps a size of zero when shown.
        if figure not in self._children:
            at = self._children.index(self.plots.lr_fig) + 1
            self._children[at:at] = [self.plots.metrics_legend.widget, figure]
            self.children = tuple(self._children)

    # ---- user actions (kernel thread) --------------------------------------------------------
    def _show_error(self, message: str) -> None:
        """An error from a control or an observer: shown in the message area (and kept in the history)."""
        if message:
            self.history.add_event("error", message)
            self.refresh()

    def _guard(self, fn: Any, *args: Any) -> None:
        with shows_errors(self._show_error):
            fn(*args)

    def _on_refused(self, message: str) -> None:
        """A value from the page that a control refused: shown in the message area, nothing changed."""
        self._show_error(f"refused from the page: {message}")

    def _on_pause_clicked(self, _: Any) -> None:
        self._guard(self.session.resume if self.session.pause_requested else self.session.pause)
        self._draw_progress()

    def _on_slider(self, change: dict[str, Any]) -> None:
        self._guard(lambda: self.session.set_learning_rate(check_rate("learning_rate", change["new"]), "user"))

    def _on_smoothing(self, change: dict[str, Any]) -> None:
        def apply() -> None:
            with self._lock:
                self._curves.set_smoothing(float(change["new"]), self.history)
            self.refresh()

        self._guard(apply)

    # ---- drawing -----------------------------------------------------------------------------
    def _follow_designer(self, designer: Any) -> None:
        if self._designer is not None:
            self._designer.unobserve(self._on_design_edit, names="schedule")
            self._designer = None
        if designer is not None:
            designer.observe(self._on_design_edit, names="schedule")
            self._designer = designer

    def _on_design_edit(self, change: dict[str, Any]) -> None:
        if not self.session.running:
            return

        def apply() -> None:
            self.session.replace_schedule(change["new"], "designer")
            self._draw_plan()

        self._guard(apply)

    def _draw_plan(self) -> None:
        x, y = self.session.plan(self.max_points)
        with self._lock:
            self.plots.draw_plan(x, y)

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        """The session's throttled snapshot: redraw, unless the page has not drawn the last update.

        Paced only in a background fit: a fit in the kernel's main thread (``dash.callback``) blocks
        the kernel, so no acknowledgement could arrive until it ends.
        """
        self._snapshot = snapshot
        with self._lock:  # (`_children` is also changed from the kernel's thread: `_show_metrics`)
            if self.layer_controls is None and snapshot.multipliers:  # built by its first fit, or re-compiled
                self._add_equalizer()
                self.children = tuple(self._children)
            self._draw_diagnosis()  # a verdict is not held back by the pacing: one small message
        self._on_progress()

    def _on_progress(self) -> None:
        paced = self.session.running and threading.current_thread() is not threading.main_thread()
        if paced and not self._pacer.ready():
            self._behind = True  # the page's acknowledgement brings the view up to date
            return
        # An answer is asked in a background fit only: a fit in the kernel's thread, or none, waits for none.
        self._send_update(ask_answer=paced)

    def _catch_up(self) -> None:
        """The page drew an update (kernel thread): send what a skipped tick held back, and ask for an
        answer to it (the fit goes on in the background: its next update waits for that answer)."""
        if self._behind:
            self._send_update(ask_answer=True)

    def _send_update(self, ask_answer: bool) -> None:
        self._behind = False
        self.refresh()
        if ask_answer:
            self._pacer.sent()

    def refresh(self) -> None:
        """Bring the view up to date with the history (cheap: O(new steps + max_points))."""
        with self._lock:
            h = self.history
            points = self._curves.update(h)
            self._diagnosis_bar.auto_log_loss(points.loss_span())  # before drawing: the steps are drawn once, on it
            self._curves.show(points)
            self.plots.draw_epochs(h.epochs)
            if len(h.events) != self._seen_events:
                self._draw_events()
            self._draw_progress()

    def _draw_events(self) -> None:
        events = list(self.history.events)
        self._seen_events_before, self._seen_events = self._seen_events, len(events)
        if any(e.source == "designer" for e in events[self._seen_events_before :]):
            self._draw_plan()  # a designer edit took effect: the plan's tail follows it
        self.plots.draw_rate_changes(events)
        self._draw_diagnosis()
        self._message_log.draw(events)

    def _draw_progress(self) -> None:
        p = self.session.progress
        self._controls.draw_buttons(p, self.session.pause_requested)
        self._progress_line.draw(p)
        self._controls.follow_rate(p.learning_rate)

    # ---- diagnosis (issue 13): verdict badge, fix button, log-y, non-finite markers ----------------
    @property
    def diagnoses(self) -> tuple[Diagnosis, ...]:
        """Every verdict on the learning rate so far (also ``diagnosis`` events in the history)."""
        return self.diagnostician.diagnoses

    def apply_fix(self, verdict: Diagnosis | None = None) -> str:
        """Apply a verdict's advice (default: the latest) through the session; what was done."""
        verdict = verdict if verdict is not None else (self.diagnoses or (None,))[-1]
        if verdict is None:
            raise ValueError("There is no verdict to apply yet.")
        return self.diagnostician.apply(verdict)

    def _on_fix_clicked(self) -> None:
        self.apply_fix()
        self._fix_button.disabled = True  # one click, one fix; a new verdict enables it again
        self.refresh()

    def _on_log_loss(self, change: dict[str, Any]) -> None:
        bar = self._diagnosis_bar
        with self._lock:  # switched by refresh: it draws the steps next
            self.plots.set_loss_log(bool(change["new"]), steps=not bar.switching)
        if not bar.switching:
            bar.chosen = True
            self.refresh()

    def _draw_diagnosis(self) -> None:
        verdicts = self.diagnoses
        self._diagnosis_bar.draw(verdicts, offered=not verdicts or self.diagnostician.offers(verdicts[-1]))


def _is_designer(value: Any) -> bool:
    """A ScheduleDesigner (observable, with a `schedule` trait), not any object with a `schedule`."""
    has_trait = getattr(value, "has_trait", None)
    return callable(has_trait) and bool(has_trait("schedule")) and callable(getattr(value, "observe", None))
