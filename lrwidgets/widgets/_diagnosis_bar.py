"""The dashboard's verdict row: the latest verdict's badge, the button applying its advice, the
log-loss axis toggle (switched on once by itself when the loss spans more than ``LOG_LOSS_SPAN``)."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets

from lrwidgets.core.diagnosis import Diagnosis
from lrwidgets.widgets._strict_controls import KernelButton, PageCheckbox
from lrwidgets.widgets._training_plots import LOG_LOSS_SPAN


class DiagnosisBar:
    """The latest verdict (a badge, its message as tooltip) and its fix (a button, its advice as tooltip).

    Args:
        on_fix: called on a click of the fix button.
        on_log_loss: called with the ``change`` of the log-loss checkbox (:attr:`switching` tells
            whether :meth:`auto_log_loss` made it).
        on_refused: called with the message of a value the page sent for the checkbox and it
            refused (not a bool); None: only ipywidgets' log says so.
    """

    def __init__(
        self,
        on_fix: Callable[[], None],
        on_log_loss: Callable[[dict[str, Any]], None],
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self._verdicts_shown = 0
        self.badge = widgets.HTML(value="", layout=widgets.Layout(min_width="120px"))
        self.badge.add_class("lrw-verdict")
        self.fix_button = KernelButton(description="apply the advice", icon="wrench", disabled=True)
        self.fix_button.add_class("lrw-fix")
        self.fix_button.on_click(lambda _: on_fix())
        self.log_loss = PageCheckbox(
            value=False, description="log loss axis", indent=False, name="log_loss", on_refused=on_refused
        )
        self.log_loss.observe(on_log_loss, names="value")
        #: the user set the checkbox: the axis is no longer switched for them
        self.chosen = False
        #: :meth:`auto_log_loss` is setting the checkbox (read by ``on_log_loss``)
        self.switching = False
        self.box = widgets.HBox(
            [self.badge, self.fix_button, self.log_loss],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )

    def auto_log_loss(self, span: float) -> None:
        """Once the smoothed loss to draw spans more than ``LOG_LOSS_SPAN`` (10x: ``span``), draw it on
        a log axis: on a linear one the whole end of the fit would be a flat line at the bottom. Only
        until the user sets the checkbox, and only once (the axis is not switched back)."""
        if self.chosen or self.log_loss.value or span <= LOG_LOSS_SPAN:
            return
        self.switching = True
        try:
            self.log_loss.value = True
        finally:
            self.switching = False

    def draw(self, verdicts: Sequence[Diagnosis], offered: bool = True) -> None:
        """Show the latest verdict, once; ``offered``: whether its fix can still be applied (a rewind a
        later fit dropped cannot), else the fix button is disabled, the verdict shown or not."""
        if not verdicts:
            return
        last = verdicts[-1]
        if len(verdicts) == self._verdicts_shown:
            if not offered:
                self.fix_button.disabled = True
            return
        self._verdicts_shown = len(verdicts)
        # The button first, the badge last: the page shows a verdict's badge with its fix already on
        # the button (messages arrive in order), never beside the previous verdict's.
        fix = last.action
        self.fix_button.disabled = fix is None or not offered
        self.fix_button.description = fix.label if fix is not None else "no fix to apply"
        self.fix_button.tooltip = last.advice
        self.badge.value = (
            f'<span title="{html.escape(last.message)}" style="background:#b26b00;'
            f'color:white;border-radius:4px;padding:2px 8px">{html.escape(last.kind.replace("_", " "))}</span>'
        )
