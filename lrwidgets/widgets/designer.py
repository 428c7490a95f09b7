"""ScheduleDesigner: design a learning-rate schedule and see it before training."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import numpy as np
import traitlets as t

from lrwidgets.core.checks import check_choice, check_int, check_name
from lrwidgets.core.decimate import MAX_POINTS
from lrwidgets.schedules import ReduceOnPlateau, Schedule
from lrwidgets.widgets._design import (
    MAX_EPOCHS,
    MAX_TOTAL_STEPS,
    as_design,
    checked_design,
    checked_run,
    drawn_steps,
    schedule_of,
    synthetic_loss,
)
from lrwidgets.widgets._designer_controls import DesignerControls
from lrwidgets.widgets._designer_kinds import ARGS, KINDS, control_value
from lrwidgets.widgets._errors import refuses_page_state, refusing, shows_errors
from lrwidgets.widgets._plateau_replay import PlateauReplay
from lrwidgets.widgets._preview_plot import PreviewPlot

_DEFAULT_LR = 1e-3
#: The chart evaluates a design at most at this many steps per point it draws (exact below that).
SAMPLES_PER_POINT = 128


class ScheduleDesigner(w.VBox):
    """Design a learning-rate schedule and see the learning rate at every step of the planned run.

    Args:
        kind: one of ``"constant"``, ``"step"``, ``"exponential"`` (the default), ``"piecewise"``,
            ``"polynomial"``, ``"inverse_time"``, ``"cosine"``, ``"cosine_restarts"``, ``"one_cycle"``,
            ``"plateau"``.
        epochs: length of the planned run in epochs (1 to ``MAX_EPOCHS`` = 100,000; default 30).
        steps_per_epoch: optimizer steps per epoch (>= 1, default 100); the run has at most
            ``MAX_TOTAL_STEPS`` = 10**12 steps. The chart evaluates the schedule at most at
            ``SAMPLES_PER_POINT * max_points`` of them, whatever the length of the run.
        warmup_steps: a linear warm-up from 0 in front of the schedule (default 0; not for ``"plateau"``).
        monitored: for ``"plateau"``, the monitored value per epoch to replay: a Keras ``History``,
            a ``history.history`` dict, or a sequence of numbers. None: a synthetic loss curve
            whose noise and plateau have their own controls.
        monitor: the key to read from a History or dict (default ``"val_loss"`` if present, else ``"loss"``).
        max_points: upper bound on the points sent to the browser per curve (8 to 10,000; default 1000).
        value: a design to restore (``d.value`` of another designer), instead of the arguments above.
        **schedule_args: arguments of the kind's schedule with Keras' names (e.g.
            ``initial_learning_rate``, ``decay_rate``); the others get defaults fitted to the run.

    Traits:
        value (dict, synced): the JSON-able design, ``{"kind", "epochs", "steps_per_epoch",
            "warmup_steps", "config"}``; assigning it restores a design (a bad one raises and
            changes nothing). A design from the page is checked the same way: a bad one is refused
            with a ``TraitError``, shown under the chart, and the page gets the design in force back.
        schedule (``lrwidgets.schedules.Schedule``, read-only): the current schedule, replaced on
            every edit; ``observe(..., names="schedule")`` to follow it.
        log_y (bool): logarithmic learning-rate axis.

    Steering a fit: a ``TrainingDashboard`` whose ``fit`` was given the designer follows it with
    ``observe(handler, names="schedule")``. The handler runs in the kernel thread (where widget
    messages arrive); while the fit runs, it hands the new, immutable schedule to the session
    (``session.replace_schedule``, recorded with source ``designer``), which the training thread
    follows from the next batch; it never touches the model itself.

    Example:
        >>> d = ScheduleDesigner(kind="exponential", initial_learning_rate=1e-3, epochs=30, steps_per_epoch=100)
        >>> d.schedule
        ExponentialDecay(initial_learning_rate=0.001, decay_steps=100, decay_rate=0.9, staircase=False)
        >>> d.preview().shape
        (3000,)
        >>> d.update(decay_rate=0.5)
        >>> float(d.preview()[100])
        0.0005
        >>> ScheduleDesigner(value=d.value).schedule == d.schedule
        True
    """

    value = t.Dict().tag(sync=True)
    schedule = t.Instance(Schedule, allow_none=False, read_only=True)
    log_y = t.Bool(False)

    def __init__(
        self,
        kind: str | None = None,
        *,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        warmup_steps: int | None = None,
        monitored: Any = None,
        monitor: str | None = None,
        max_points: int = 1000,
        value: dict[str, Any] | None = None,
        **schedule_args: Any,
    ) -> None:
        self._plot = PreviewPlot(check_int("max_points", max_points, ge=8, le=MAX_POINTS))
        self._replay = PlateauReplay()
        self._build_view()
        # The chart keeps its width; on a page too narrow for both, the controls go below it.
        body = w.HBox([self._plot.view, self._side], layout=w.Layout(flex_flow="row wrap"))
        super().__init__(children=[self._toolbar, body, self._error])
        self.add_class("lrwidgets-designer")
        if value is not None:
            if schedule_args or any(a is not None for a in (kind, epochs, steps_per_epoch, warmup_steps)):
                raise TypeError("Pass either `value` or the design's arguments, not both.")
            self.value = value
        else:
            self.value = self._design(
                "exponential" if kind is None else kind,
                30 if epochs is None else epochs,
                100 if steps_per_epoch is None else steps_per_epoch,
                0 if warmup_steps is None else warmup_steps,
                schedule_args,
            )
        if monitored is not None or monitor is not None:  # after the design: a plateau's replay reads its key
            self.set_monitored(monitored, monitor=monitor)  # (`monitor` alone is checked: it was taken unread)
        self.observe(self._on_log_y, names="log_y")

    # -- the design ------------------------------------------------------------------------

    @staticmethod
    def _design(
        kind: str, epochs: int, steps_per_epoch: int, warmup_steps: int, args: dict, level: float = _DEFAULT_LR
    ) -> dict[str, Any]:
        """A full design from a kind and some of its arguments (unknown ones raise TypeError)."""
        kind = check_choice("kind", kind, KINDS)
        epochs, steps_per_epoch, warmup_steps = checked_run(epochs, steps_per_epoch, warmup_steps)
        unknown = set(args) - set(ARGS[kind])
        if unknown:
            raise TypeError(
                f"ScheduleDesigner(kind={kind!r}) got unexpected arguments {sorted(unknown)}; "
                f"its arguments are {list(ARGS[kind])}"
            )
        spec = KINDS[kind]
        lr = args.get(spec.lr_arg, level) if spec.lr_arg else level
        config = spec.defaults(lr, epochs * steps_per_epoch, steps_per_epoch)
        if spec.lr_arg:
            config[spec.lr_arg] = lr
        config.update(args)
        return as_design(kind, epochs, steps_per_epoch, warmup_steps, config)

    @t.validate("value")
    def _validate_value(self, proposal: t.Bunch) -> dict[str, Any]:
        # A refusal is a TraitError (also a TypeError/ValueError), the one error traitlets rolls back
        # when the page sends a design: `value` and `schedule` never disagree.
        with refusing():
            return checked_design(proposal["value"])

    @t.observe("value")
    def _on_value(self, change: t.Bunch) -> None:
        self.set_trait("schedule", schedule_of(change["new"]))
        with shows_errors(self._show_message, clear=True):
            self._sync_controls()
            self._redraw()

    def set_state(self, sync_data: dict[str, Any]) -> None:
        # A design refused from the page is shown in the widget, and the page gets the one in force.
        with refuses_page_state(self, sync_data, self._show_message):
            super().set_state(sync_data)

    @property
    def kind(self) -> str:
        """The kind of schedule; assigning another keeps the level of the learning rate."""
        return str(self.value["kind"])

    @kind.setter
    def kind(self, kind: str) -> None:
        v = self.value
        warmup = 0 if kind == "plateau" else v["warmup_steps"]
        self.value = self._design(kind, v["epochs"], v["steps_per_epoch"], warmup, {}, level=self._level())

    @property
    def epochs(self) -> int:
        """Length of the planned run in epochs."""
        return int(self.value["epochs"])

    @epochs.setter
    def epochs(self, epochs: int) -> None:
        self.value = {**self.value, "epochs": epochs}

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch."""
        return int(self.value["steps_per_epoch"])

    @steps_per_epoch.setter
    def steps_per_epoch(self, steps_per_epoch: int) -> None:
        self.value = {**self.value, "steps_per_epoch": steps_per_epoch}

    @property
    def total_steps(self) -> int:
        """Steps in the planned run."""
        return self.epochs * self.steps_per_epoch

    def update(self, **changes: Any) -> None:
        """Change some arguments of the current schedule (or ``warmup_steps``); a bad one raises and changes nothing."""
        v = self.value
        unknown = set(changes) - set(ARGS[v["kind"]]) - {"warmup_steps"}
        if unknown:
            raise TypeError(
                f"A {v['kind']!r} design has no arguments {sorted(unknown)}; it has {list(ARGS[v['kind']])}"
            )
        warmup = changes.pop("warmup_steps", v["warmup_steps"])
        self.value = {**v, "warmup_steps": warmup, "config": {**v["config"], **changes}}

    def _level(self) -> float:
        """The overall level of the current rate (carried over when the kind changes)."""
        v = self.value
        spec = KINDS[v["kind"]]
        return float(v["config"][spec.lr_arg] if spec.lr_arg else max(v["config"]["values"]))

    # -- the preview -----------------------------------------------------------------------

    def preview(self) -> np.ndarray:
        """The learning rate at every step of the planned run (float64, ``epochs * steps_per_epoch`` long).

        It holds 8 bytes a step (the chart itself evaluates only a few thousand steps): for a long
        run, evaluate ``designer.schedule`` at the steps you need instead.
        """
        schedule = self.schedule
        if isinstance(schedule, ReduceOnPlateau):
            return np.repeat(self._replay.rates(schedule, self.epochs, self._view), self.steps_per_epoch)
        return np.asarray(schedule(np.arange(self.total_steps)), dtype=np.float64)

    def monitored(self) -> np.ndarray:
        """The monitored value per epoch that a plateau design is replayed against (NaN at an epoch
        that logged none: a fit validating every few epochs; the replay skips it, as Keras does)."""
        return self._replay.monitored(self.schedule if self.value else None, self.epochs, self._view)

    def set_monitored(self, source: Any, monitor: str | None = None) -> None:
        """Replay plateau designs against ``source``: a Keras History, its ``.history`` dict, a
        ``TrainingDashboard`` (finished or still running: the epochs so far) or its ``history``,
        or numbers (None: an epoch that logged no value). None goes back to the synthetic curve.
        Without ``monitor`` a plateau design reads the key its fit would watch (its ``monitor``).
        """
        if monitor is not None:
            check_name("monitor", monitor)
        self._replay.set(source, monitor, self.schedule if self.value else None)  # a plateau reads its own monitor
        self._view.synthetic_box.layout.display = "none" if self._replay.given else None
        self._redraw()

    def pin(self) -> None:
        """Keep the current curve on the plot, to compare the next designs with it."""
        self._plot.pin(f"{self.kind} {len(self._plot.pins) + 1}")

    def clear_pins(self) -> None:
        """Remove every pinned curve."""
        self._plot.clear_pins()

    @property
    def code(self) -> str:
        """Python code that rebuilds the current schedule (shown beside the plot)."""
        return self.schedule.to_code()

    @property
    def error(self) -> str:
        """The message of the last failed edit from the controls, or "" (cleared by the next good edit)."""
        return self._error_text

    # -- view ------------------------------------------------------------------------------

    def _build_view(self) -> None:
        self._error_text = ""
        self._view = DesignerControls(
            on_kind=self._on_kind_control,
            on_run=self._on_run_control,
            on_arg=self._on_arg_control,
            on_synthetic=self._on_synthetic_control,
            on_log_toggle=self._on_log_toggle,
            on_pin=self._on_pin_button,
            on_clear=self._on_clear_button,
            on_refused=self._show_message,
        )
        view = self._view
        # The controls, by the names the designer has always had for them.
        self._kind, self._epochs, self._spe, self._warmup = view.kind, view.epochs, view.spe, view.warmup
        self._log_toggle, self._pin_button, self._clear_button = view.log_toggle, view.pin_button, view.clear_button
        self._noise, self._plateau_at, self._seed = view.noise, view.plateau_at, view.seed
        self._toolbar, self._side, self._synthetic_box = view.toolbar, view.side, view.synthetic_box
        self._code, self._error = view.code, view.error

    @property
    def _controls(self) -> dict[str, w.ValueWidget]:
        """The current kind's argument controls, by argument."""
        return self._view.controls

    @property
    def _controls_kind(self) -> str:
        """The kind the argument controls were built for."""
        return self._view.controls_kind

    def _sync_controls(self) -> None:
        """Make every control show the current design (without triggering its observers)."""
        if self.value:
            self._view.sync(self.value, replaying=self._replay.given)

    def _redraw(self) -> None:
        """Send the decimated preview (and, for a plateau design, the monitored curve) to the chart."""
        if not self.value:
            return
        total, per_epoch = self.total_steps, self.steps_per_epoch
        steps = drawn_steps(total, SAMPLES_PER_POINT * self._plot.max_points)
        if isinstance(self.schedule, ReduceOnPlateau):
            epoch_rates = self._replay.rates(self.schedule, self.epochs, self._view)
            rates = epoch_rates[(steps // per_epoch).astype(np.intp)]
            self._plot.show(steps, rates, total, per_epoch, self.monitored()[: self.epochs], epoch_rates)
        else:
            self._plot.show(steps, np.asarray(self.schedule(steps), dtype=np.float64), total, per_epoch)
        self._view.code.value = f"<pre style='font-size:12px;margin:4px'>{html.escape(self.code)}</pre>"

    def _on_log_y(self, change: t.Bunch) -> None:
        self._plot.set_log_y(bool(change["new"]))
        self._view.log_toggle.value = bool(change["new"])
        self._redraw()

    # -- control observers: errors go to the error area, the design stays as it was -----------

    def _show_message(self, message: str) -> None:
        """Show an error under the chart ("" clears it); the controls go back to the design in force."""
        self._error_text = message
        if not message:
            self._view.error.value = ""
            return
        self._view.error.value = (
            f"<pre style='color:#b00020;white-space:pre-wrap;margin:4px'>{html.escape(message)}</pre>"
        )
        self._sync_controls()

    def _on_pin_button(self, _: Any) -> None:
        with shows_errors(self._show_message, clear=True):
            self.pin()

    def _on_clear_button(self, _: Any) -> None:
        with shows_errors(self._show_message, clear=True):
            self.clear_pins()

    def _on_kind_control(self, change: t.Bunch) -> None:
        if not self._view.syncing:
            with shows_errors(self._show_message, clear=True):
                self.kind = change["new"]

    def _on_run_control(self, change: t.Bunch) -> None:
        if not self._view.syncing:
            with shows_errors(self._show_message, clear=True):
                v = self.value
                self.value = {
                    **v,
                    "epochs": self._view.epochs.value,
                    "steps_per_epoch": self._view.spe.value,
                    "warmup_steps": self._view.warmup.value,
                }

    def _on_arg_control(self, change: t.Bunch) -> None:
        if not self._view.syncing:
            with shows_errors(self._show_message, clear=True):
                # Only the edited argument: the others keep their exact values (a float decay_steps
                # restored from a design stays as it is, though its slider shows an integer).
                (arg,) = [a for a, c in self._controls.items() if c is change["owner"]]
                self.update(**{arg: control_value(arg, change["owner"])})

    def _on_synthetic_control(self, change: t.Bunch) -> None:
        if not self._view.syncing:
            with shows_errors(self._show_message, clear=True):
                self._redraw()

    def _on_log_toggle(self, change: t.Bunch) -> None:
        self.log_y = bool(change["new"])


__all__ = ["MAX_EPOCHS", "MAX_TOTAL_STEPS", "ScheduleDesigner", "drawn_steps", "synthetic_loss"]
