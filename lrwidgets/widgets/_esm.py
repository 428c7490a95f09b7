"""Where an anywidget front end's ES module is: shipped in the wheel, or in the checkout's js/."""

from __future__ import annotations

import pathlib


def esm_path(name: str) -> pathlib.Path:
    """``lrwidgets/static/<name>`` in a wheel (pyproject.toml copies it there), else ``js/<name>``."""
    shipped = pathlib.Path(__file__).parent.parent / "static" / name
    return shipped if shipped.exists() else pathlib.Path(__file__).parents[2] / "js" / name
