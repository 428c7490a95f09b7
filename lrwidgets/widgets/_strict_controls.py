"""Sliders that refuse what they cannot hold, from code or from the page, instead of clamping it.

ipywidgets' sliders clamp a value outside their range (``inf`` becomes the maximum, ``0`` the
minimum) and apply it. These raise ``TraitError`` (traitlets rolls the value back), and a value
refused from the page calls ``on_refused(message)`` so the view can show it, and sends the value
in force back, so the page shows what the kernel holds (``widgets/_errors.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import traitlets

from lrwidgets.core.checks import check_float
from lrwidgets.widgets._errors import refuses_page_state, refusing


class _ShowsRefusals:
    """``set_state`` (the page's edits) that reports a refusal instead of leaving it in the kernel log."""

    def __init__(self, *args: Any, on_refused: Callable[[str], None] | None = None, **kwargs: Any) -> None:
        self._on_refused = on_refused
        super().__init__(*args, **kwargs)

    def set_state(self, sync_data: dict[str, Any]) -> None:
        with refuses_page_state(self, sync_data, self._on_refused or (lambda message: None)):
            super().set_state(sync_data)  # type: ignore[misc]


class StrictLogSlider(_ShowsRefusals, widgets.FloatLogSlider):
    """A log slider of learning rates: refuses a value outside its range, not finite or not a number."""

    @traitlets.validate("value")
    def _validate_value(self, proposal: Any) -> float:
        value = proposal["value"]
        low, high = self.base**self.min, self.base**self.max
        with refusing():
            return check_float("learning_rate", value, ge=low * (1 - 1e-9), le=high * (1 + 1e-9))


class StrictSlider(_ShowsRefusals, widgets.FloatSlider):
    """A slider that refuses a value outside [min, max] or not a number."""

    @traitlets.validate("value")
    def _validate_value(self, proposal: Any) -> float:
        with refusing():
            return check_float(self.description or "value", proposal["value"], ge=self.min, le=self.max)
