"""bqplot marks and axes whose data only the kernel writes.

The views read their marks' data back (tick ranges, a mark swapped for another, pinned curves)
and their axes' ticks (sent only when they change); a page that sent ``x=["a", "b"]`` or
``tick_values=["a"]`` (bqplot's validators take them) made every later refresh raise. These
refuse such data sent by the page (a ``TraitError``: traitlets rolls it back, and the page gets
the kernel's values again); everything else the page sends is handled as by bqplot.
"""

from __future__ import annotations

from typing import Any

import bqplot as bq

from lrwidgets.widgets._errors import refuse_kernel_only, refuses_page_state

#: The traits of a mark that hold what it draws: the kernel's alone.
KERNEL_DATA = ("x", "y", "color", "colors", "opacities", "marker", "text", "labels", "scales")


class _KernelData:
    _kernel_data: tuple[str, ...] = KERNEL_DATA

    def set_state(self, sync_data: dict[str, Any]) -> None:
        with refuses_page_state(self, sync_data, lambda message: None):
            refuse_kernel_only(self, sync_data, self._kernel_data, f"a bqplot {type(self).__name__}")
            super().set_state(sync_data)  # type: ignore[misc]


class Lines(_KernelData, bq.Lines):
    """``bq.Lines`` that refuses data from the page."""


class Scatter(_KernelData, bq.Scatter):
    """``bq.Scatter`` that refuses data from the page."""


class Label(_KernelData, bq.Label):
    """``bq.Label`` that refuses data from the page."""


class Axis(_KernelData, bq.Axis):
    """``bq.Axis`` whose ticks, their format and scale only the kernel sets."""

    _kernel_data = ("tick_values", "tick_format", "scale")
