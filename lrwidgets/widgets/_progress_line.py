"""The dashboard's progress: a status line (state, epoch, step, speed, elapsed, ETA, rate) over a bar."""

from __future__ import annotations

import math

import ipywidgets as widgets

from lrwidgets.training import Progress


def _fmt_time(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


# The bar, drawn in the status line's own HTML: one widget message an update instead of two.
_BAR = (
    '<div class="lrw-progress" style="height:6px;margin-top:3px;border-radius:3px;'
    'background:var(--jp-layout-color3,#ddd)"><div style="height:100%;border-radius:3px;'
    'background:var(--jp-brand-color1,#1976d2);width:{percent:.1f}%"></div></div>'
)


class ProgressLine:
    """The status line and the progress bar of a fit, drawn from its :class:`~lrwidgets.training.Progress`."""

    def __init__(self) -> None:
        self.status = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.done = 0.0  #: the share of the fit's epochs done, drawn as the bar

    def draw(self, p: Progress) -> None:
        running = p.state != "idle"
        if p.epochs:
            done = p.epoch + (p.step_in_epoch / p.steps if p.steps else 0.0)
            self.done = min(done / p.epochs, 1.0)
        parts = [f"<b>{p.state}</b>"]
        if p.epochs:
            parts.append(f"epoch {p.epoch + 1}/{p.epochs}")
        steps = f"/{p.steps}" if p.steps else ""
        parts.append(f"step {p.step_in_epoch}{steps} ({p.global_step} in all)")
        if p.samples_per_second:
            parts.append(f"{p.samples_per_second:,.0f} samples/s")
        elif p.steps_per_second:
            parts.append(f"{p.steps_per_second:,.1f} steps/s")
        parts.append(f"elapsed {_fmt_time(p.elapsed)}")
        if running and p.eta is not None:
            parts.append(f"ETA {_fmt_time(p.eta)}")
        parts.append(f"learning rate {p.learning_rate:.3g}")
        self.status.value = (
            '<span class="lrw-status">' + " · ".join(parts) + "</span>" + _BAR.format(percent=100 * self.done)
        )
