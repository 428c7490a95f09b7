"""bqplot marks whose data only the kernel writes.

The views read their marks' data back (tick ranges, a mark swapped for another, pinned curves);
a page that sent ``x=["a", "b"]`` (bqplot's validators take it) made every later refresh raise.
These marks refuse data sent by the page (a ``TraitError``: traitlets rolls it back, and the
page gets the kernel's values again); everything else the page sends is handled as by bqplot.
"""

from __future__ import annotations

from typing import Any

import bqplot as bq

from lrwidgets.widgets._errors import refuse_kernel_only, refuses_page_state

#: The traits of a mark that hold what it draws: the kernel's alone.
KERNEL_DATA = ("x", "y", "color", "colors", "opacities", "marker", "text", "labels", "scales")


class _KernelData:
    def set_state(self, sync_data: dict[str, Any]) -> None:
        with refuses_page_state(self, sync_data, lambda message: None):
            refuse_kernel_only(self, sync_data, KERNEL_DATA, f"a {type(self).__name__} mark")
            super().set_state(sync_data)  # type: ignore[misc]


class Lines(_KernelData, bq.Lines):
    """``bq.Lines`` that refuses data from the page."""


class Scatter(_KernelData, bq.Scatter):
    """``bq.Scatter`` that refuses data from the page."""


class Label(_KernelData, bq.Label):
    """``bq.Label`` that refuses data from the page."""
