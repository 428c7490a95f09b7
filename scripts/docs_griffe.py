"""Griffe extension for the API reference (mkdocs.yml): lrwidgets' docstrings follow Keras and head
their doctests ``Example:``; Google style reads only ``Examples:`` as code, and would render the
singular as Markdown prose (``>>>`` as quotes, ``x["key"]`` as a broken link)."""

from __future__ import annotations

import re
from typing import Any

import griffe

EXAMPLE_HEADING = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)


class KerasExampleSections(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = EXAMPLE_HEADING.sub(r"\1Examples:", obj.docstring.value)
