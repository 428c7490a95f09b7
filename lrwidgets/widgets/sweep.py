"""``LRSweep``: a learning-rate sweep on Dask, compared live in the notebook.

A view over a headless :class:`lrwidgets.sweep.Sweep`: every trial's smoothed loss and
validation curve overlaid (one colour a trial), each trial's learning rate, a ranking table
that re-sorts as results come, a status per trial, Cancel and Stop. Bounded cost: the figures
hold at most ``max_points`` points over all trials together, refreshed at most once every
``refresh_interval`` seconds, and the table at most ``max_rows`` rows, so the bytes sent a
second do not grow with the number of trials.
"""

from __future__ import annotations

import html
import math
import threading
import time
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from lrwidgets.core.checks import check_bool, check_float, check_int
from lrwidgets.sweep import Sweep
from lrwidgets.widgets._axes import FIG_MARGIN, Y_LABEL_OFFSET, set_log_ticks
from lrwidgets.widgets._marks import Axis, Lines
from lrwidgets.widgets._strict_controls import KernelButton, PageDropdown, PageToggleButton
from lrwidgets.widgets._sweep_api import SweepAPI
from lrwidgets.widgets._sweep_views import TrialView, stack
from lrwidgets.widgets.pacer import BrowserPacer

STATUS_COLORS = {
    "queued": "#7f7f7f",
    "running": "#1f77b4",
    "done": "#2ca02c",
    "failed": "#d62728",
    "cancelled": "#8c564b",
}


def trial_colors(n: int) -> list[str]:
    """``n`` distinct colours, evenly spaced in hue."""
    return [f"hsl({round(360 * i / max(n, 1))}, 70%, 42%)" for i in range(n)]


class LRSweep(SweepAPI, w.VBox):
    """A learning-rate sweep: a grid of trials trained on Dask, overlaid and ranked live.

    Takes the arguments of :class:`lrwidgets.sweep.Sweep` (``build_model``, ``learning_rates``,
    ``optimizers``, ``schedules``, ``seeds``, ``epochs``, ...) or an existing one as ``sweep=``.
    The sweep's API is the widget's too (``run``, ``cancel``, ``stop``, ``wait``, ``monitor`` and
    ``mode``, which re-rank when set, ``results``, ``rows``, ``ranking``, ``best``, ``best_schedule``,
    ``apply_best``, ``curve``, ``statuses``, ``subscribe``, ``to_csv``, ``to_json``, and the settings
    ``epochs``, ``n_workers``, ``path``, ``update_interval``): code written for a headless
    :class:`lrwidgets.sweep.Sweep` runs unchanged on it, except ``max_points``, which is the widget's
    own here (the sweep's is ``widget.sweep.max_points``). Shown or not, it works the same.

    Args:
        log_y: draw the loss on a log axis (default True; also a toggle in the widget).
        smoothing: EMA factor of the drawn loss, in [0, 1).
        max_points: points of all trials' curves together, per figure (and at least 8 a trial).
        max_rows: rows of the ranking table (the best ones; a count of the rest below).
        refresh_interval: seconds between two refreshes of the views while trials stream.

    Example:
        >>> import keras, lrwidgets as lrw
        >>> def build_model():
        ...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        ...     model.compile(optimizer="sgd", loss="mse")
        ...     return model
        >>> sweep = lrw.LRSweep(build_model, learning_rates=[1e-3, 1e-2], optimizers=["sgd", "adam"], epochs=5)
        >>> [t.config()["optimizer"] for t in sweep.trials]
        ['sgd', 'sgd', 'adam', 'adam']
    """

    def __init__(
        self,
        build_model: Any = None,
        learning_rates: Any = None,
        optimizers: Any = None,
        schedules: Any = None,
        seeds: Any = None,
        epochs: int | None = None,
        *,
        sweep: Sweep | None = None,
        log_y: bool = True,
        smoothing: float = 0.6,
        max_points: int = 4000,
        max_rows: int = 20,
        refresh_interval: float = 0.5,
        **sweep_kwargs: Any,
    ) -> None:
        if sweep is None:
            seeds, epochs = (0,) if seeds is None else seeds, 1 if epochs is None else epochs
            sweep = Sweep(build_model, learning_rates, optimizers, schedules, seeds, epochs, **sweep_kwargs)
        elif not isinstance(sweep, Sweep):
            raise TypeError(f"Argument `sweep` must be a lrwidgets.sweep.Sweep. Received: sweep={type(sweep).__name__}")
        elif sweep_kwargs or any(
            a is not None for a in (build_model, learning_rates, optimizers, schedules, seeds, epochs)
        ):
            raise TypeError("Give either `sweep=` or the arguments of a new sweep, not both.")
        self.sweep = sweep
        log_y = check_bool("log_y", log_y)
        self.smoothing = check_float("smoothing", smoothing, ge=0, lt=1)
        self.max_points = check_int("max_points", max_points, ge=8, le=1_000_000)
        self.max_rows = check_int("max_rows", max_rows, ge=1, le=1000)
        self.refresh_interval = check_float("refresh_interval", refresh_interval, ge=0.05, le=60)
        self.colors = trial_colors(len(sweep.trials))
        budget = max(8, self.max_points // len(sweep.trials))  # a decimator keeps at least 8
        self._views = {t.trial: TrialView(budget, self.smoothing) for t in sweep.trials}
        self._refresh_lock = threading.Lock()
        self._dirty: set[int] = set()
        self._stale = False  # a change came that no refresh has drawn yet
        self._refreshing = self._closed = False
        self._last_refresh = -math.inf
        self._timer: threading.Timer | None = None
        self.refreshes = 0
        self._build(log_y)
        # The page acknowledges each refresh once drawn: a slow page (a busy machine, Binder) is sent
        # the next only then, so it never falls behind the stream, nor the kernel's answers with it.
        self._pacer = BrowserPacer(on_ack=self._catch_up, on_error=self._show_error)
        parts = [self._toolbar, self._loss_fig, self._rate_fig, self._summary, self._table, self._error]
        super().__init__(children=[*parts, self._pacer])
        self.add_class("lrwidgets-sweep")
        self._unsubscribe = sweep.subscribe(self._on_change)
        self.refresh()

    # ---- the parts ---------------------------------------------------------------------------
    def _build(self, log_y: bool) -> None:
        style: dict[str, Any] = {
            "animation_duration": 0,
            "fig_margin": {**FIG_MARGIN, "top": 40},  # room for the title (no legend row here) above the top curve
        }
        x = bq.LinearScale()
        self._y_log, self._y_lin = bq.LogScale(), bq.LinearScale()
        y = self._y_log if log_y else self._y_lin
        self._loss_mark = Lines(x=np.zeros((0, 0)), y=np.zeros((0, 0)), scales={"x": x, "y": y}, stroke_width=1.5)
        self._val_mark = Lines(
            x=np.zeros((0, 0)), y=np.zeros((0, 0)), scales={"x": x, "y": y}, marker="circle", marker_size=16,
            line_style="dashed",
        )  # fmt: skip
        self._loss_y_axis = Axis(
            scale=y,
            side="left",
            label="loss (smoothed); val_loss (dashed)",
            tick_format=".3~g",
            label_offset=Y_LABEL_OFFSET,
        )
        layout = w.Layout(width="100%", height="320px")
        self._loss_fig = bq.Figure(
            marks=[self._loss_mark, self._val_mark], axes=[Axis(scale=x, label="step"), self._loss_y_axis],
            title="every trial's loss", layout=layout, **style,
        )  # fmt: skip
        rx, ry = bq.LinearScale(), bq.LogScale()
        self._rate_mark = Lines(x=np.zeros((0, 0)), y=np.zeros((0, 0)), scales={"x": rx, "y": ry}, stroke_width=1)
        rate_axis = self._rate_axis = Axis(
            scale=ry, side="left", tick_format=".2~e", label="learning rate", label_offset=Y_LABEL_OFFSET
        )
        self._rate_fig = bq.Figure(
            marks=[self._rate_mark], axes=[Axis(scale=rx, label="step"), rate_axis], title="learning rate",
            layout=w.Layout(width="100%", height="200px"), **style,
        )  # fmt: skip
        self._log_y = PageToggleButton(
            value=log_y, description="log y", tooltip="loss on a log axis", name="log_y", on_refused=self._show_error
        )
        self._log_y.observe(self._on_log_y, "value")
        self._choice = PageDropdown(
            description="trial", options=[], layout=w.Layout(width="320px"), on_refused=self._show_error
        )
        self._choice.observe(lambda _: self._enable_cancel(), "value")
        self._cancel = KernelButton(description="Cancel trial", icon="times", disabled=True)
        self._stop = KernelButton(description="Stop sweep", icon="stop", button_style="danger", disabled=True)
        self._cancel.on_click(lambda _: self._guarded(self._cancel_chosen))
        self._stop.on_click(lambda _: self._guarded(self.sweep.stop))
        self._toolbar = w.HBox([self._log_y, self._choice, self._cancel, self._stop])
        self._summary = w.HTML()
        self._table = w.HTML()
        self._table.add_class("lrw-sweep-table")
        self._error = w.HTML()

    def _guarded(self, action: Any) -> None:
        try:
            action()
            self._error.value = ""
        except Exception as e:  # shown in the widget, never lost
            self._show_error(f"{type(e).__name__}: {e}")

    def _show_error(self, message: str) -> None:
        self._error.value = f'<span style="color:#d62728">{html.escape(message)}</span>'

    def _enable_cancel(self) -> None:
        self._cancel.disabled = self._choice.value is None  # none picked, or none left to cancel

    def _cancel_chosen(self) -> None:
        if self._choice.value is not None:
            self.sweep.cancel(self._choice.value)

    def _on_log_y(self, change: dict[str, Any]) -> None:
        y = self._y_log if change["new"] else self._y_lin
        with self._loss_fig.hold_sync():
            for mark in (self._loss_mark, self._val_mark):
                mark.scales = {"x": mark.scales["x"], "y": y}
            self._loss_y_axis.scale = y
            self._draw_ticks()

    def _draw_ticks(self) -> None:
        """Round, distinct ticks on the log axes (bqplot's own would crowd them with 2..9 x 10^k)."""
        set_log_ticks(self._rate_axis, self._rate_mark.y)
        if self._loss_y_axis.scale is self._y_log:
            set_log_ticks(self._loss_y_axis, self._loss_mark.y, self._val_mark.y)
        elif self._loss_y_axis.tick_values is not None:
            self._loss_y_axis.tick_values = None

    # ---- refreshing (at most once per refresh_interval, and once the page drew the last) ----------
    def _on_change(self, trials: set[int]) -> None:
        with self._refresh_lock:
            self._dirty |= trials
            self._stale = True
        self._schedule()

    def _schedule(self) -> None:
        """Refresh now if a change waits, the interval has passed and the page drew the last
        refresh (or did not answer in the pacer's fallback); else once it may (a timer, or the
        page's answer)."""
        with self._refresh_lock:
            if not self._stale or self._timer is not None or self._refreshing or self._closed:
                return  # (the refreshing thread looks again once its refresh went out)
            wait = max(self._last_refresh + self.refresh_interval - time.monotonic(), self._pacer.wait())
            if wait > 0:
                timer = threading.Timer(wait, self._on_timer)
                timer.daemon = True
                timer.start()  # first: a thread that cannot start leaves no timer that never fires
                self._timer = timer
                return
            self._refreshing = True
        try:
            self._guarded(self.refresh)
            self._pacer.sent()
        finally:
            with self._refresh_lock:
                self._refreshing = False
        self._schedule()  # a change that came meanwhile

    def _on_timer(self) -> None:
        with self._refresh_lock:
            if self._timer is threading.current_thread():
                self._timer = None
        self._schedule()

    def _catch_up(self) -> None:
        """The page drew the last refresh (kernel thread): a change held back for it goes now."""
        with self._refresh_lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self._schedule()

    def refresh(self) -> None:
        """Redraw now from what the trials have streamed (done for you, at most every ``refresh_interval``)."""
        with self._refresh_lock:
            self._stale = False
            self._last_refresh = time.monotonic()
            dirty, self._dirty = self._dirty, set()
            sweep = self.sweep
            for t in dirty:
                if t in self._views:
                    self._views[t].update(sweep.curve(t))
            shown = [t.trial for t in sweep.trials if len(self._views[t.trial].steps)]
            points = [self._views[t].points() for t in shown]
            colors = [self.colors[t] for t in shown]
            with self._loss_fig.hold_sync(), self._rate_fig.hold_sync():
                self._loss_mark.set_trait("colors", colors)
                self._loss_mark.x, self._loss_mark.y = stack([p[0] for p in points]), stack([p[1] for p in points])
                self._rate_mark.set_trait("colors", colors)
                self._rate_mark.x, self._rate_mark.y = stack([p[2] for p in points]), stack([p[3] for p in points])
                self._val_mark.set_trait("colors", colors)
                self._val_mark.x, self._val_mark.y = stack([p[4] for p in points]), stack([p[5] for p in points])
                self._draw_ticks()
            self._table.value = self._table_html()
            statuses = sweep.statuses
            counts = {s: sum(v == s for v in statuses.values()) for s in STATUS_COLORS}
            summary = " · ".join(f"{n} {s}" for s, n in counts.items() if n)
            why = sweep.why_no_best if counts["done"] else None  # a misspelt monitor: said at the first trial's end
            self._summary.value = summary if why is None else f"{summary} · {html.escape(why)}"
            active = [(self._label(t), t) for t, s in statuses.items() if s in ("queued", "running")]
            if [v for _, v in active] != [v for _, v in self._choice.options]:
                chosen, before = self._choice.value, self._choice.options
                self._choice.options = active
                if any(v == chosen for _, v in active):  # the trial picked, while it can be cancelled
                    self._choice.value = chosen
                elif active and not before:  # a run's first list: its first trial
                    self._choice.value = active[0][1]
                else:  # the trial picked ended: none (a click on Cancel just then must not cancel another)
                    self._choice.value = None
            self._enable_cancel()
            self._stop.disabled = not sweep.running
            self.refreshes += 1

    def _label(self, trial: int) -> str:
        c = self.sweep.trials[trial].config()
        return f"#{trial} lr={c['learning_rate']:.3g} {c['optimizer']} {c['schedule']} seed={c['seed']}".replace(
            "  ", " "
        )

    def _table_html(self) -> str:
        sweep = self.sweep
        metric = sweep.monitor_name
        rows = sweep.ranking()
        head = ["#", "trial", "learning_rate", "optimizer", "schedule", "seed", "status", f"best {metric}", "time (s)"]
        out = ['<table style="border-collapse:collapse;font-size:12px"><tr>']
        out += [f'<th style="padding:2px 8px;text-align:left">{html.escape(h)}</th>' for h in head]
        out.append("</tr>")
        for rank, r in enumerate(rows[: self.max_rows], start=1):
            t = r["trial"]
            best = r.get(f"best_{metric}", math.nan)
            ranked = isinstance(best, float) and math.isfinite(best)  # a done trial that never logged it: no rank
            status = r["status"] + (f": {r['reason']}" if r["status"] == "failed" and r.get("reason") else "")
            cells = [
                str(rank) if r["status"] == "done" and ranked else "",
                f'<span style="color:{self.colors[t]}">&#9632;</span> {t}',
                f"{r['learning_rate']:.3g}",
                html.escape(str(r["optimizer"] or "(model's)")),
                html.escape(str(r["schedule"])),
                str(r["seed"]),
                f'<span style="color:{STATUS_COLORS[r["status"]]}">{html.escape(status[:120])}</span>',
                f"{best:.4g}" if ranked else "",
                f"{r['time']:.1f}" if "time" in r else "",
            ]
            out.append("<tr>" + "".join(f'<td style="padding:2px 8px">{c}</td>' for c in cells) + "</tr>")
        out.append("</table>")
        if len(rows) > self.max_rows:
            out.append(f"<div>{len(rows) - self.max_rows} more trials (see <code>.results</code>)</div>")
        return "".join(out)

    @classmethod
    def load(cls, path: Any, build_model: Any, **kwargs: Any) -> LRSweep:
        """The sweep saved in ``path``, shown; its next ``run`` skips the trials that ended."""
        view = {
            k: kwargs.pop(k)
            for k in ("log_y", "smoothing", "max_points", "max_rows", "refresh_interval")
            if k in kwargs
        }
        return cls(sweep=Sweep.load(path, build_model, **kwargs), **view)

    def close(self) -> None:
        """Close the widget and its sweep (an embedded cluster shuts down)."""
        if not hasattr(self, "_unsubscribe"):  # its construction failed: nothing was started
            super().close()
            return
        self._unsubscribe()
        with self._refresh_lock:  # a change or an answer from the page arriving now draws nothing
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.sweep.close()
        self._pacer.close()
        super().close()
