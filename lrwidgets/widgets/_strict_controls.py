"""Numeric controls that refuse what they cannot hold, from code or from the page, instead of clamping it.

ipywidgets' bounded controls clamp a value outside their range (``inf`` becomes the maximum, ``0``
the minimum, ``-5`` the minimum of an int slider) and apply it. These raise ``TraitError``
(traitlets rolls the value back); a value refused from the page calls ``on_refused(message)`` so the
view can show it, and the value in force is sent back, so the page shows what the kernel holds
(``widgets/_errors.py``). ``on_refused`` may be given at construction or assigned later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import traitlets

from lrwidgets.core.checks import check_float, check_int
from lrwidgets.widgets._errors import refuses_page_state, refusing


class _Strict:
    """Refuses, rather than clamps, a value outside ``[min, max]``; shows a refusal from the page."""

    _is_int = False

    def __init__(
        self, *args: Any, on_refused: Callable[[str], None] | None = None, name: str | None = None, **kwargs: Any
    ) -> None:
        self.on_refused = on_refused
        self._argument = name  # the argument named in a refusal; defaults to the description
        super().__init__(*args, **kwargs)

    def _bounds(self) -> tuple[float, float]:
        return float(self.min), float(self.max)  # type: ignore[attr-defined]

    def _name(self) -> str:
        return self._argument or str(getattr(self, "description", "") or "value")

    @traitlets.validate("value")
    def _validate_value(self, proposal: Any) -> float:
        low, high = self._bounds()
        slack = 1e-9 * max(abs(low), abs(high), 1e-300)
        with refusing():
            if self._is_int:
                return check_int(self._name(), proposal["value"], ge=int(low), le=int(high))
            return check_float(self._name(), proposal["value"], ge=low - slack, le=high + slack)

    def set_state(self, sync_data: dict[str, Any]) -> None:
        with refuses_page_state(self, sync_data, self.on_refused or (lambda message: None)):
            super().set_state(sync_data)  # type: ignore[misc]


class StrictLogSlider(_Strict, widgets.FloatLogSlider):
    """A log slider (of learning rates): its range is ``base**min`` to ``base**max``."""

    def _bounds(self) -> tuple[float, float]:
        return float(self.base**self.min), float(self.base**self.max)

    @traitlets.validate("base")
    def _validate_base(self, proposal: Any) -> float:
        """A base > 1 whose range still holds the value (ipywidgets checks none: a base of 0 from the
        page made the range 0**-6, a ZeroDivisionError at the next read)."""
        with refusing():
            base = check_float("base", proposal["value"], gt=1)
            low, high = float(base**self.min), float(base**self.max)  # an OverflowError is refused too
            if not 0 < low <= self.value <= high < math.inf:  # 1e300**-6 is 0: a range that holds a rate of 0
                raise ValueError(
                    f"Argument `base` must keep the value {self.value:g} in [base**min, base**max] = "
                    f"[{base:g}**{self.min:g}, {base:g}**{self.max:g}]. Received: base={proposal['value']!r}"
                )
        return base


class StrictSlider(_Strict, widgets.FloatSlider):
    """A float slider that refuses instead of clamping."""


class StrictIntSlider(_Strict, widgets.IntSlider):
    """An int slider that refuses instead of clamping."""

    _is_int = True


class StrictFloatText(_Strict, widgets.BoundedFloatText):
    """A bounded float box that refuses instead of clamping."""


STRICT = {
    widgets.FloatLogSlider: StrictLogSlider,
    widgets.FloatSlider: StrictSlider,
    widgets.IntSlider: StrictIntSlider,
    widgets.BoundedFloatText: StrictFloatText,
}
