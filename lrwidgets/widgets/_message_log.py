"""The dashboard's message area: the latest warnings, errors, NaNs, restores and verdicts of a fit."""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets

from lrwidgets.core.history import Event

MESSAGE_KINDS = {
    "warning": "#b26b00",
    "diagnosis": "#b26b00",  # a `diverging` event is shown as its diagnosis (the same rule)
    "error": "#c00",
    "nan": "#c00",
    "restore": "#555",
    "info": "#555",
}
MAX_MESSAGES = 8


class MessageLog:
    """The last ``MAX_MESSAGES`` events of the kinds in ``MESSAGE_KINDS``, each with its step, oldest first."""

    def __init__(self) -> None:
        self.html = widgets.HTML(layout=widgets.Layout(width="100%"))

    def draw(self, events: Sequence[Event]) -> None:
        shown = [e for e in events if e.kind in MESSAGE_KINDS][-MAX_MESSAGES:]
        self.html.value = "".join(
            f'<div class="lrw-message lrw-{e.kind}" style="color:{MESSAGE_KINDS[e.kind]}">'
            f"step {e.step}: {html.escape(e.message)}</div>"
            for e in shown
        )
