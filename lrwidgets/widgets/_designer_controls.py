"""The ScheduleDesigner's controls: what shows a design and takes the user's edits of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w

from lrwidgets.widgets._designer_kinds import ARGS, KINDS, STYLE, control_spec, make_control, synthetic_loss_controls
from lrwidgets.widgets._strict_controls import (
    KernelButton,
    PageDropdown,
    PageIntText,
    PageToggleButton,
    StrictIntSlider,
)


class DesignerControls:
    """The toolbar (kind, epochs, steps/epoch, log y, pin, clear pins), the side panel (the kind's
    argument controls, the warm-up, the synthetic loss's controls, the code) and the error area.

    The edit callbacks are the designer's observers; :meth:`sync` makes every control show a design
    with :attr:`syncing` set, so that the observers can tell an edit from a sync.
    """

    def __init__(
        self,
        *,
        on_kind: Callable[[Any], None],
        on_run: Callable[[Any], None],
        on_arg: Callable[[Any], None],
        on_synthetic: Callable[[Any], None],
        on_log_toggle: Callable[[Any], None],
        on_pin: Callable[[Any], None],
        on_clear: Callable[[Any], None],
        on_refused: Callable[[str], None],
    ) -> None:
        self.syncing = False
        self._on_arg = on_arg
        self._on_refused = on_refused
        self.kind = PageDropdown(
            options=list(KINDS), description="kind", style={"description_width": "40px"}, on_refused=on_refused
        )
        # Not bounded boxes, which clamp what is typed: the design refuses a size out of range, with
        # a message, and the box goes back to the size in force.
        self.epochs = PageIntText(
            value=1,
            on_refused=on_refused,
            description="epochs",
            style={"description_width": "50px"},
            layout=w.Layout(width="150px"),
        )
        self.spe = PageIntText(
            value=1,
            on_refused=on_refused,
            name="steps_per_epoch",
            description="steps/epoch",
            style={"description_width": "80px"},
            layout=w.Layout(width="190px"),
        )
        self.log_toggle = PageToggleButton(
            description="log y", value=False, layout=w.Layout(width="70px"), on_refused=on_refused, name="log_y"
        )
        self.pin_button = KernelButton(
            description="pin", tooltip="keep this curve to compare", layout=w.Layout(width="60px")
        )
        self.clear_button = KernelButton(description="clear pins", layout=w.Layout(width="90px"))
        self.toolbar = w.HBox([self.kind, self.epochs, self.spe, self.log_toggle, self.pin_button, self.clear_button])

        self.warmup = StrictIntSlider(
            min=0, max=1, description="warmup_steps", continuous_update=False, style=STYLE, on_refused=on_refused
        )
        self.args_box = w.VBox()
        self.noise, self.plateau_at, self.seed = synthetic_loss_controls(on_refused)
        self.synthetic_box = w.VBox([self.noise, self.plateau_at, self.seed])
        self.code = w.HTML()
        self.code.add_class("lrw-designer-code")
        self.side = w.VBox(
            [self.args_box, self.warmup, self.synthetic_box, self.code], layout=w.Layout(min_width="380px")
        )
        self.error = w.HTML()
        self.controls: dict[str, w.ValueWidget] = {}  # the kind's argument controls, by argument
        self.controls_kind = ""  # the kind the argument controls were built for

        self.kind.observe(on_kind, names="value")
        for control in (self.epochs, self.spe, self.warmup):
            control.observe(on_run, names="value")
        for control in (self.noise, self.plateau_at, self.seed):
            control.observe(on_synthetic, names="value")
        self.log_toggle.observe(on_log_toggle, names="value")
        self.pin_button.on_click(on_pin)
        self.clear_button.on_click(on_clear)

    def sync(self, v: dict[str, Any], replaying: bool) -> None:
        """Make every control show the design ``v`` (``replaying``: a plateau design replays a
        monitored curve given to the designer, so the synthetic loss's controls are hidden)."""
        self.syncing = True
        try:
            total = v["epochs"] * v["steps_per_epoch"]
            self.kind.value = v["kind"]
            self.epochs.value, self.spe.value = v["epochs"], v["steps_per_epoch"]
            self.warmup.max = max(total, v["warmup_steps"])
            self.warmup.value = v["warmup_steps"]
            self.warmup.layout.display = "none" if v["kind"] == "plateau" else None
            self.plateau_at.max = max(v["epochs"], self.plateau_at.value)
            if self.controls_kind != v["kind"]:
                for old in self.controls.values():
                    old.close()
                self.controls = {
                    a: make_control(v["kind"], a, v["config"][a], total, v["epochs"]) for a in ARGS[v["kind"]]
                }
                self.controls_kind = v["kind"]
                for control in self.controls.values():
                    control.observe(self._on_arg, names="value")
                    if hasattr(control, "on_refused"):
                        control.on_refused = self._on_refused
                self.args_box.children = list(self.controls.values())
            else:
                for arg, control in self.controls.items():
                    _, spec = control_spec(v["kind"], arg, v["config"][arg], total, v["epochs"])
                    with control.hold_sync():
                        for bound in ("min", "max"):
                            if bound in spec:
                                setattr(control, bound, spec[bound])
                        control.value = spec["value"]
            self.synthetic_box.layout.display = None if v["kind"] == "plateau" and not replaying else "none"
        finally:
            self.syncing = False
