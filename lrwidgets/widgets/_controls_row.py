"""The dashboard's controls: Pause/Resume, Stop, the learning-rate slider and the smoothing slider."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from lrwidgets.training import Progress
from lrwidgets.widgets._strict_controls import KernelButton, StrictLogSlider, StrictSlider


class ControlsRow:
    """What the user steers a fit with, in one row; the buttons and the rate slider follow the fit.

    Args:
        learning_rate, smoothing: the sliders' first values.
        on_refused: called with the message of a value the page sent and a slider refused.
        on_pause, on_stop: called on a click of Pause/Resume, of Stop.
        on_rate, on_smoothing: called with a ``change`` the user made to a slider (not with the
            rate the slider is moved to by :meth:`follow_rate`).
    """

    def __init__(
        self,
        learning_rate: float,
        smoothing: float,
        *,
        on_refused: Callable[[str], None],
        on_pause: Callable[[Any], None],
        on_stop: Callable[[Any], None],
        on_rate: Callable[[dict[str, Any]], None],
        on_smoothing: Callable[[dict[str, Any]], None],
    ) -> None:
        self.pause_button = KernelButton(
            description="Pause", icon="pause", disabled=True, tooltip="Hold training between two batches"
        )
        self.stop_button = KernelButton(
            description="Stop",
            icon="stop",
            button_style="danger",
            disabled=True,
            tooltip="End training at the next batch; keeps everything recorded",
        )
        lr = learning_rate
        exp = math.log10(lr) if lr > 0 else -3.0
        self.lr_slider = StrictLogSlider(
            on_refused=on_refused,
            name="learning_rate",
            value=lr if lr > 0 else 10**exp,  # a rate of 0 (a frozen phase) has no place on a log slider
            base=10,
            min=math.floor(min(exp, -6.0)),
            max=math.ceil(max(exp + 1, 0.0)),
            step=0.01,
            description="learning rate",
            readout_format=".2e",
            continuous_update=False,
            style={"description_width": "initial"},
            layout=widgets.Layout(width="420px"),
        )
        self.smoothing = StrictSlider(
            on_refused=on_refused,
            value=smoothing,
            min=0.0,
            max=0.99,
            step=0.01,
            description="smoothing",
            continuous_update=False,
            layout=widgets.Layout(width="260px"),
        )
        self._syncing = False
        self._on_rate = on_rate
        self.pause_button.on_click(on_pause)
        self.stop_button.on_click(on_stop)
        self.lr_slider.observe(self._on_slider, names="value")
        self.smoothing.observe(on_smoothing, names="value")
        self.box = widgets.HBox(
            [self.pause_button, self.stop_button, self.lr_slider, self.smoothing],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )

    def _on_slider(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self._on_rate(change)

    def draw_buttons(self, p: Progress, pause_requested: bool) -> None:
        """Pause and Stop enabled while a fit runs (not while it stops); Pause reads Resume when paused."""
        running = p.state != "idle"
        self.pause_button.disabled = not running or p.state == "stopping"
        self.stop_button.disabled = not running or p.state == "stopping"
        paused = running and pause_requested
        self.pause_button.description = "Resume" if paused else "Pause"
        self.pause_button.icon = "play" if paused else "pause"

    def follow_rate(self, lr: float) -> None:
        """Move the rate slider to the rate in force (its range widened to hold it), as no user change."""
        if lr > 0 and not math.isclose(lr, self.lr_slider.value, rel_tol=1e-3):
            self._syncing = True
            try:
                exp = math.log10(lr)
                if exp < self.lr_slider.min:
                    self.lr_slider.min = math.floor(exp)
                if exp > self.lr_slider.max:
                    self.lr_slider.max = math.ceil(exp)
                self.lr_slider.value = lr
            finally:
                self._syncing = False
