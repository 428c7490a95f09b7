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

from lrwidgets.core.checks import check_bool, check_float, check_int, received
from lrwidgets.widgets._errors import RefusedValue, refuse_kernel_only, refuses_page_state, refusing


class _PageValue:
    """Checks the ``value`` the page sent as it came, before ipywidgets casts it: its numeric traits
    are casting ones, which make ``true`` 1.0 and ``"0.01"`` 0.01, and ``2.7`` the int 2. A value
    that is not a number (an integral one for an int control) is refused and shown."""

    _is_int = False

    def __init__(
        self, *args: Any, on_refused: Callable[[str], None] | None = None, name: str | None = None, **kwargs: Any
    ) -> None:
        self.on_refused = on_refused
        self._argument = name  # the argument named in a refusal; defaults to the description
        super().__init__(*args, **kwargs)

    def _name(self) -> str:
        return self._argument or str(getattr(self, "description", "") or "value")

    def _check_page(self, sync_data: dict[str, Any]) -> None:
        if "value" in sync_data:
            (check_int if self._is_int else check_float)(self._name(), sync_data["value"])

    def set_state(self, sync_data: dict[str, Any]) -> None:
        with refuses_page_state(self, sync_data, self.on_refused or (lambda message: None)):
            with refusing():
                self._check_page(sync_data)
            super().set_state(sync_data)  # type: ignore[misc]


class _Strict(_PageValue):
    """Refuses, rather than clamps, a value outside ``[min, max]``; shows a refusal from the page.

    The bounds are finite numbers whose range holds finite values, and only the kernel changes them:
    from the page they are refused (ipywidgets would move the value into a new range, a change
    nobody made). Code that narrows the range keeps ipywidgets' behaviour (the designer's controls
    follow a shorter schedule that way).
    """

    def _range(self, low: float, high: float, base: float | None = None) -> tuple[float, float]:
        """The values that the bounds ``low`` and ``high`` allow."""
        return float(low), float(high)

    def _bounds(self) -> tuple[float, float]:
        return self._range(self.min, self.max)  # type: ignore[attr-defined]

    @staticmethod
    def _slack(low: float, high: float) -> float:
        """How far outside ``[low, high]`` a value may round and still be held."""
        return 1e-9 * max(abs(low), abs(high), 1e-300)

    @traitlets.validate("value")
    def _validate_value(self, proposal: Any) -> float:
        low, high = self._bounds()
        slack = self._slack(low, high)
        with refusing():
            if self._is_int:
                return check_int(self._name(), proposal["value"], ge=int(low), le=int(high))
            return check_float(self._name(), proposal["value"], ge=low - slack, le=high + slack)

    def _check_bound(self, name: str, value: Any) -> float:
        """A bound: a finite number (an int on an int slider) that allows finite values."""
        bound = check_int(name, value) if self._is_int else check_float(name, value)
        self._range(bound, bound)
        return bound

    @traitlets.validate("min")
    def _validate_min(self, proposal: Any) -> float:
        with refusing():
            self._check_bound("min", proposal["value"])
        return super()._validate_min(proposal)  # type: ignore[misc]

    @traitlets.validate("max")
    def _validate_max(self, proposal: Any) -> float:
        with refusing():
            self._check_bound("max", proposal["value"])
        return super()._validate_max(proposal)  # type: ignore[misc]

    def _check_page(self, sync_data: dict[str, Any]) -> None:
        """The page sends values; the range is the kernel's (a page that sent ``min=-2`` moved the
        rate into it, ``max=400`` made every later read overflow, ``min=-1`` let the smoothing go
        negative). A bound sent unchanged (a page re-sending its whole state) is accepted."""
        super()._check_page(sync_data)
        refuse_kernel_only(self, sync_data, ("min", "max", "base"), f"the `{self._name()}` control")


class StrictLogSlider(_Strict, widgets.FloatLogSlider):
    """A log slider (of learning rates): its range is ``base**min`` to ``base**max``."""

    def _range(self, low: float, high: float, base: float | None = None) -> tuple[float, float]:
        b = self.base if base is None else base
        try:
            lo, hi = float(b**low), float(b**high)
        except OverflowError:
            lo, hi = 0.0, math.inf
        if not 0 < lo <= hi < math.inf:  # 1e300**-6 is 0: a range that would hold a rate of 0
            raise ValueError(
                f"Arguments `base`, `min` and `max` must make a range of finite positive values. Received:"
                f" base={b!r}, min={low!r}, max={high!r}"
            )
        return lo, hi

    @traitlets.validate("base")
    def _validate_base(self, proposal: Any) -> float:
        """A base > 1 whose range still holds the value (ipywidgets checks none: a base of 0 from the
        page made the range 0**-6, a ZeroDivisionError at the next read)."""
        with refusing():
            base = check_float("base", proposal["value"], gt=1)
            low, high = self._range(self.min, self.max, base)
            slack = self._slack(low, high)
            if not low - slack <= self.value <= high + slack:
                raise ValueError(
                    f"Argument `base` must keep the value {self.value:g} in [base**min, base**max] ="
                    f" [{low:g}, {high:g}]. {received('base', proposal['value'])}"
                )
        return base


class StrictSlider(_Strict, widgets.FloatSlider):
    """A float slider that refuses instead of clamping."""


class StrictIntSlider(_Strict, widgets.IntSlider):
    """An int slider that refuses instead of clamping."""

    _is_int = True


class StrictFloatText(_Strict, widgets.BoundedFloatText):
    """A bounded float box that refuses instead of clamping."""


class StrictIntText(_Strict, widgets.BoundedIntText):
    """A bounded int box that refuses instead of clamping."""

    _is_int = True


class PageIntText(_PageValue, widgets.IntText):
    """An int box (no bounds: its owner checks the value) that refuses what is no integer."""

    _is_int = True


class PageDropdown(_PageValue, widgets.Dropdown):
    """A dropdown that refuses an ``index`` from the page that is not one of its options' (``true``,
    which traitlets takes for 1, ``1.5``, ``-1``), instead of selecting what nobody chose."""

    def _check_page(self, sync_data: dict[str, Any]) -> None:
        """The page sends the ``index`` picked; the options and their labels are the kernel's (labels
        from the page would name other options than those their index selects)."""
        if "index" in sync_data:
            check_int("index", sync_data["index"], ge=0, le=len(self.options) - 1)
        labels = sync_data.get("_options_labels", self._options_labels)
        if not isinstance(labels, (list, tuple)) or list(labels) != list(self._options_labels):
            raise RefusedValue(
                f"Argument `_options_labels` of the `{self._name()}` dropdown is set by the kernel, not the page."
                f" {received('_options_labels', labels)}"
            )
        refuse_kernel_only(self, sync_data, ("disabled",), f"the `{self._name()}` dropdown")


class _PageBool(_PageValue):
    """Refuses a ``value`` from the page that is not a bool (``1``, ``"true"``): traitlets' Bool
    would take ``1`` and ``0`` as ``True`` and ``False``."""

    def _check_page(self, sync_data: dict[str, Any]) -> None:
        if "value" in sync_data:
            check_bool(self._name(), sync_data["value"])


class PageCheckbox(_PageBool, widgets.Checkbox):
    """A checkbox whose value from the page must be a bool."""


class PageToggleButton(_PageBool, widgets.ToggleButton):
    """A toggle button whose value from the page must be a bool."""


STRICT = {
    widgets.Checkbox: PageCheckbox,
    widgets.Dropdown: PageDropdown,
    widgets.FloatLogSlider: StrictLogSlider,
    widgets.FloatSlider: StrictSlider,
    widgets.IntSlider: StrictIntSlider,
    widgets.BoundedFloatText: StrictFloatText,
    widgets.BoundedIntText: StrictIntText,
}


class KernelButton(widgets.Button):
    """A button whose ``disabled`` is the kernel's to set: a click the page sends while it is
    disabled is ignored (a stale page, or one that does not honour the flag, would re-run a fix or
    start a second range test), and a ``disabled`` sent by the page is refused."""

    def _handle_button_msg(self, _: Any, content: Any, buffers: Any) -> None:
        if not self.disabled:
            super()._handle_button_msg(_, content, buffers)

    def set_state(self, sync_data: dict[str, Any]) -> None:
        with refuses_page_state(self, sync_data, lambda message: None):
            refuse_kernel_only(self, sync_data, ("disabled",), f"the `{self.description}` button")
            super().set_state(sync_data)
