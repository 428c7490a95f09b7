"""A figure's title and legend as one row of HTML above the figure.

bqplot draws its legend inside the plot area, where it covers curves, and places a right-hand legend
by a width guessed from the number of characters, so a long label runs off the figure's left edge
("...3 + exponential decay"). This row sits above the plot, wraps at the page's width and
never covers a mark. Each entry is drawn from its mark (colour, opacity, dashes, point marker), so
the legend and the curves cannot disagree.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

#: Left padding of the row: the figures' left margin, so entries start above the plot, not the axis.
INDENT_PX = 76


def legend_entries(marks: Sequence[Any]) -> list[dict[str, Any]]:
    """One entry per non-empty label of each mark: label, colour, opacity, dashed, marker."""
    entries = []
    for mark in marks:
        colors = list(mark.colors) or ["#1f77b4"]
        opacities = list(getattr(mark, "opacities", None) or [1.0])
        dashed = getattr(mark, "line_style", "solid") in ("dashed", "dotted", "dash_dotted")
        marker = getattr(mark, "marker", None)
        for i, label in enumerate(mark.labels):
            if label:
                entries.append(
                    {
                        "label": str(label),
                        "color": str(colors[i % len(colors)]),
                        "opacity": float(opacities[i % len(opacities)]),
                        "dashed": dashed,
                        "marker": marker,
                        "line": type(mark).__name__ == "Lines",
                    }
                )
    return entries


def point_entry(label: str, color: str) -> dict[str, Any]:
    """An entry for one point (a circle, no line): e.g. a suggested rate."""
    return {"label": label, "color": color, "opacity": 1.0, "dashed": False, "marker": "circle", "line": False}


def _swatch(entry: dict[str, Any]) -> str:
    color, opacity = html.escape(entry["color"]), max(entry["opacity"], 0.35)  # a faint line stays visible
    parts = []
    if entry["line"]:
        dash = ' stroke-dasharray="5 3"' if entry["dashed"] else ""
        parts.append(f'<line x1="1" y1="6" x2="23" y2="6" stroke="{color}" stroke-width="2"{dash}/>')
    if entry["marker"] == "circle":
        parts.append(f'<circle cx="12" cy="6" r="3" fill="{color}"/>')
    elif entry["marker"]:  # a triangle or other point marker
        parts.append(f'<path d="M7 2 L17 2 L12 10 Z" fill="{color}"/>')
    return f'<svg width="24" height="12" style="opacity:{opacity:.2f}">{"".join(parts)}</svg>'


def legend_html(title: str, entries: Sequence[dict[str, Any]], indent_px: int = INDENT_PX) -> str:
    title_style = "font-size:14px;margin-right:8px"
    items = [f'<b class="lrw-legend-title" style="{title_style}">{html.escape(title)}</b>'] if title else []
    items += [
        f'<span class="lrw-legend-entry" style="display:inline-flex;align-items:center;gap:4px;white-space:nowrap">'
        f"{_swatch(e)}<span>{html.escape(e['label'])}</span></span>"
        for e in entries
    ]
    return (
        f'<div class="lrw-legend" style="display:flex;flex-wrap:wrap;align-items:center;gap:2px 14px;'
        f'font-size:12px;line-height:18px;padding-left:{indent_px}px">{"".join(items)}</div>'
    )


class FigureLegend:
    """The header row of one figure: ``widget`` (an ``ipywidgets.HTML``) lists ``title`` and the
    labels of the marks passed to ``show`` (their own ``display_legend`` stays off)."""

    def __init__(self, title: str = "", indent_px: int = INDENT_PX) -> None:
        self.title, self.indent_px = title, indent_px
        self.entries: list[dict[str, Any]] = []
        self.widget = widgets.HTML(value=legend_html(title, [], indent_px), layout=widgets.Layout(width="100%"))
        self.widget.add_class("lrw-legend-row")

    def show(self, marks: Sequence[Any], extra: Sequence[dict[str, Any]] = ()) -> None:
        """List these marks, then the ``extra`` entries (sent only when the entries change)."""
        entries = legend_entries(marks) + list(extra)
        if entries != self.entries:
            self.entries = entries
            self.widget.value = legend_html(self.title, entries, self.indent_px)

    @property
    def labels(self) -> list[str]:
        return [e["label"] for e in self.entries]
