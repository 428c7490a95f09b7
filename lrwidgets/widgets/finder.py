"""``LRFinder``: the learning-rate range test, drawn live, with its suggestions and Apply buttons."""

from __future__ import annotations

import html
import inspect
import threading
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from lrwidgets.core.checks import check_int
from lrwidgets.core.decimate import minmax_indices
from lrwidgets.core.finder import METHODS, Suggestion
from lrwidgets.training import LRRangeTest, RangeTestRun, TrainingSession, check_rate_target
from lrwidgets.widgets._axes import FIG_MARGIN, Y_LABEL_OFFSET, set_linear_ticks, set_log_ticks
from lrwidgets.widgets._legend import FigureLegend, point_entry
from lrwidgets.widgets._marks import Axis, Lines, Scatter
from lrwidgets.widgets._strict_controls import KernelButton

METHOD_COLORS = {
    "robust_valley": "#d62728",
    "valley": "#ff7f0e",
    "slide": "#2ca02c",
    "minimum": "#9467bd",
    "steep": "#8c564b",
}
REASONS = {
    "finished": "all steps run",
    "diverged": "stopped: the loss diverged",
    "nan": "stopped: the loss became NaN or inf",
    "stopped": "stopped by you",
    "error": "stopped by an error",
    "data": "stopped: the data ran out",
    "optimizer": "no suggestion: the model's optimizer took no step",
    "monitor": "no suggestion: the train step logs no value of the monitored key",
}
MAX_SWEEP_LINES = 20


def _empty() -> np.ndarray:
    return np.zeros(0, np.float32)


class LRFinder(widgets.VBox):
    """The learning-rate range test as a widget: the loss against the rate (log axis), growing live
    during the sweep; why the sweep ended; each suggestion as a marker with its explanation; and a
    button per suggestion that applies it.

    The work is done by :class:`lrwidgets.training.LRRangeTest` (``finder.test``): the sweep is a
    background ``TrainingSession`` fit, and the model is put back bit for bit afterwards.

    Args:
        model: a compiled, built ``keras.Model``, or an ``LRRangeTest`` to view.
        target: what the Apply buttons set (a ``TrainingSession``, a ``TrainingDashboard``, a
            ``ScheduleDesigner`` or a model); default: the model itself.
        max_points: most points drawn a curve (min/max decimated), 8 to 100,000.
        **kwargs: the ``LRRangeTest`` arguments (``start_learning_rate``, ``end_learning_rate``,
            ``num_steps``, ``mode``, ``smoothing``, ``diverge_threshold``, ``n_runs``, ``monitor``,
            ``update_interval``).

    Example:
        >>> import keras, numpy as np, lrwidgets as lrw
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
        >>> finder = lrw.LRFinder(model, start_learning_rate=1e-5, num_steps=40)
        >>> x = np.random.default_rng(0).normal(size=(640, 8)).astype("float32")
        >>> suggestions = finder.run(x, x.sum(axis=1, keepdims=True), batch_size=16).wait()
        >>> sorted(suggestions)
        ['minimum', 'robust_valley', 'slide', 'steep', 'valley']
    """

    def __init__(self, model: Any, *, target: Any = None, max_points: int = 1000, **kwargs: Any) -> None:
        self.max_points = check_int("max_points", max_points, ge=8, le=100_000)
        if target is not None:
            check_rate_target(target)  # now, not at the first Apply
        if isinstance(model, LRRangeTest):
            if kwargs:
                raise TypeError(f"LRFinder(range_test) takes no range-test arguments. Received: {sorted(kwargs)}")
            self.test = model
        else:
            known = set(inspect.signature(LRRangeTest).parameters) - {"model"}
            unknown = sorted(set(kwargs) - known)
            if unknown:  # (Python's own error named LRRangeTest.__init__, which the caller never called)
                raise TypeError(
                    f"Unknown arguments {unknown} of the range test (`LRFinder`, `find_learning_rate`): it takes"
                    f" {sorted(known)} and `max_points`."
                )
            self.test = LRRangeTest(model, **kwargs)
        self.target = target
        self._lock = threading.RLock()
        self._build()
        super().__init__(
            children=[self._status, widgets.HBox([self._stop_button]), self.legend.widget, self.figure, self._table,
                      self._apply_box, self._error],
            layout=widgets.Layout(width="100%"),
        )  # fmt: skip
        self.add_class("lrwidgets-finder")
        self._unsubscribe = self.test.subscribe(self.refresh)
        self.refresh()

    # ---- the range test's API ----------------------------------------------------------------
    def run(self, *args: Any, **kwargs: Any) -> RangeTestRun:
        """Start the sweeps (see :meth:`lrwidgets.training.LRRangeTest.run`); the view follows them."""
        run = self.test.run(*args, **kwargs)
        self.refresh()
        return run

    def run_like(self, session: TrainingSession) -> RangeTestRun:
        """Run on the data of ``session``'s last fit."""
        run = self.test.run_like(session)
        self.refresh()
        return run

    def wait(self, timeout: float | None = None) -> dict[str, float]:
        return self.test.wait(timeout)

    def stop(self) -> None:
        self.test.stop()

    @property
    def learning_rates(self) -> np.ndarray:
        return self.test.learning_rates

    @property
    def losses(self) -> np.ndarray:
        return self.test.losses

    @property
    def smoothed_losses(self) -> np.ndarray:
        return self.test.smoothed_losses

    @property
    def suggestions(self) -> dict[str, float]:
        return self.test.suggestions

    @property
    def suggestion_details(self) -> dict[str, Suggestion]:
        return self.test.suggestion_details

    @property
    def suggestion(self) -> Suggestion | None:
        return self.test.suggestion

    @property
    def sweeps(self) -> list[Any]:
        return self.test.sweeps

    # The range test's status, as on the test itself (``finder.test``).
    @property
    def reason(self) -> str:
        return self.test.reason

    @property
    def message(self) -> str:
        return self.test.message

    @property
    def restored(self) -> bool:
        return self.test.restored

    @property
    def error(self) -> BaseException | None:
        return self.test.error

    @property
    def running(self) -> bool:
        return self.test.running

    def apply(self, target: Any = None, method: str | None = None) -> float:
        """Set ``target``'s rate (default: this widget's ``target``, else the model) to a suggestion."""
        chosen = target if target is not None else self.target if self.target is not None else self.test.model
        return self.test.apply(chosen, method)

    def to_dataframe(self) -> Any:
        return self.test.to_dataframe()

    # ---- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        self._x = bq.LogScale()
        self._y = bq.LinearScale()
        scales = {"x": self._x, "y": self._y}
        self.raw_mark = Lines(
            x=_empty(), y=_empty(), scales=scales, colors=["#1f77b4"], opacities=[0.25], labels=["loss (batch)"],
        )  # fmt: skip
        self.smooth_mark = Lines(
            x=_empty(), y=_empty(), scales=scales, colors=["#1f77b4"], labels=["loss (smoothed)"], stroke_width=2,
        )  # fmt: skip
        # The other sweeps (n_runs > 1), drawn alike but out of the legend: a bqplot legend has an
        # entry for every line of a mark, labelled or not.
        self.raw_more = Lines(
            x=_empty(), y=_empty(), scales=scales, colors=["#1f77b4"], opacities=[0.25], display_legend=False
        )
        self.smooth_more = Lines(
            x=_empty(), y=_empty(), scales=scales, colors=["#1f77b4"], display_legend=False, stroke_width=2
        )
        self.suggestion_mark = Scatter(
            x=_empty(), y=_empty(), scales=scales, colors=["#d62728"], default_size=80, stroke="white",
            names=[], display_names=False,
        )  # fmt: skip
        # Suggestions are named in the legend row, not by text beside their points: nearby
        # suggestions' labels would overlap.
        self._x_axis = Axis(scale=self._x, label="learning rate", tick_format=".2~e")
        self._y_axis = Axis(scale=self._y, side="left", label="loss", tick_format=".3~g", label_offset=Y_LABEL_OFFSET)
        self.figure = bq.Figure(
            marks=[self.raw_mark, self.smooth_mark, self.raw_more, self.smooth_more, self.suggestion_mark],
            axes=[
                self._x_axis,
                self._y_axis,
            ],
            animation_duration=0,
            fig_margin=FIG_MARGIN,
            layout=widgets.Layout(width="100%", height="320px"),
        )
        self.legend = FigureLegend("learning-rate range test")
        self._status = widgets.HTML(layout=widgets.Layout(width="100%"))
        self._stop_button = KernelButton(
            description="Stop", icon="stop", button_style="danger", disabled=True,
            tooltip="End the sweep at the next batch (the model is restored all the same)",
        )  # fmt: skip
        self._stop_button.on_click(lambda _: self._guard(self.test.stop))
        self._table = widgets.HTML(layout=widgets.Layout(width="100%"))
        self._apply_buttons: dict[str, widgets.Button] = {}
        for method in METHODS:
            button = KernelButton(description=f"Apply {method}", disabled=True, layout=widgets.Layout(width="auto"))
            button.on_click(lambda _, m=method: self._guard(lambda: self.apply(method=m)))
            self._apply_buttons[method] = button
        self._apply_box = widgets.HBox(list(self._apply_buttons.values()), layout=widgets.Layout(flex_flow="row wrap"))
        self._error = widgets.HTML(layout=widgets.Layout(width="100%"))
        self._test_error = False  # the error shown is the range test's (not a button's)

    def _guard(self, fn: Any) -> None:
        """A user action; its error is shown in the widget instead of vanishing."""
        self._test_error = False  # what is shown from here on is this action's
        try:
            fn()
            self._error.value = ""
        except Exception as e:
            self._error.value = f'<div class="lrw-message lrw-error" style="color:#c00">{html.escape(str(e))}</div>'

    # ---- drawing -----------------------------------------------------------------------------
    def _points(self, values: np.ndarray) -> np.ndarray:
        return minmax_indices(values, self.max_points) if len(values) > self.max_points else np.arange(len(values))

    def refresh(self) -> None:
        """Redraw from the range test (any thread; O(steps) a call, at most ``max_points`` points a curve)."""
        with self._lock:
            curves = self.test.curves()[-MAX_SWEEP_LINES:]
            raw_x, raw_y, smooth_x, smooth_y = [], [], [], []
            for lrs, losses, smooth in curves:
                finite = np.isfinite(losses)
                keep = self._points(np.where(finite, losses, np.nan))
                raw_x.append(lrs[keep])
                raw_y.append(np.where(finite, losses, np.nan)[keep])
                keep_s = self._points(smooth)
                smooth_x.append(lrs[: len(smooth)][keep_s])
                smooth_y.append(smooth[keep_s])
            with self.figure.hold_sync():
                # The first sweep in the legend's marks (the one `learning_rates` and `losses` hold), the others beside.
                self._draw_lines(self.raw_mark, raw_x[:1], raw_y[:1])
                self._draw_lines(self.smooth_mark, smooth_x[:1], smooth_y[:1])
                self._draw_lines(self.raw_more, raw_x[1:], raw_y[1:])
                self._draw_lines(self.smooth_more, smooth_x[1:], smooth_y[1:])
                self._draw_scales(raw_x, smooth_y)
                self._draw_suggestions()
            self._draw_status(curves)

    @staticmethod
    def _draw_lines(mark: bq.Lines, xs: list[np.ndarray], ys: list[np.ndarray]) -> None:
        """One line a sweep (padded with NaN to a common length)."""
        if not xs:
            mark.x, mark.y = _empty(), _empty()
            return
        n = max(len(x) for x in xs)
        x = np.full((len(xs), n), np.nan, np.float32)
        y = np.full((len(xs), n), np.nan, np.float32)
        for i, (xi, yi) in enumerate(zip(xs, ys, strict=True)):
            x[i, : len(xi)], y[i, : len(yi)] = xi, yi
        with mark.hold_sync():
            mark.x, mark.y = (x[0], y[0]) if len(xs) == 1 else (x, y)
            if len(xs) > 1:
                mark.colors = [mark.colors[0]] * len(xs)
                mark.opacities = [mark.opacities[0] if mark.opacities else 1.0] * len(xs)

    def _draw_scales(self, xs: list[np.ndarray], smooth: list[np.ndarray]) -> None:
        """The loss axis spans the smoothed curves (a raw spike or the blow-up does not squash them)."""
        set_log_ticks(self._x_axis, *xs)
        values = np.concatenate(smooth) if smooth else _empty()
        values = values[np.isfinite(values)]
        if len(values) >= 2 and values.max() > values.min():
            lo, hi = float(values.min()), float(values.max())
            pad = 0.05 * (hi - lo)
            self._y.min, self._y.max = lo - pad, hi + pad
            # Ticks within the curves' span, none in the padding: a label at the bottom edge sat on
            # the rate axis' first label ("2.05" over "1e-7").
            set_linear_ticks(self._y_axis, values)

    def _draw_suggestions(self) -> None:
        details = self.test.suggestion_details if not self.test.running else {}
        shown = [details[m] for m in METHODS if m in details]
        colors = [METHOD_COLORS[s.method] for s in shown] or ["#d62728"]
        with self.suggestion_mark.hold_sync():
            self.suggestion_mark.x = np.array([s.learning_rate for s in shown], dtype=np.float32)
            self.suggestion_mark.y = np.array([s.loss for s in shown], dtype=np.float32)
            self.suggestion_mark.colors = colors
            self.suggestion_mark.names = [s.method for s in shown]
        points = [point_entry(f"{s.method} {s.learning_rate:.2g}", METHOD_COLORS[s.method]) for s in shown]
        self.legend.show([self.raw_mark, self.smooth_mark], points)
        default = self.test.suggestion
        rows = []
        for s in shown:
            star = " (default)" if default is not None and s.method == default.method else ""
            spread = f"<td>{s.spread:.2f} decade</td>" if len(s.runs) > 1 else ""
            rows.append(
                f'<tr><td style="color:{METHOD_COLORS[s.method]}"><b>{s.method}</b>{star}</td>'
                f"<td>{s.learning_rate:.3g}</td>{spread}<td>{html.escape(s.explanation)}</td></tr>"
            )
        self._table.value = f'<table class="lrw-suggestions">{"".join(rows)}</table>' if rows else ""
        for method, button in self._apply_buttons.items():
            found = details.get(method)
            button.disabled = found is None
            button.description = f"Apply {method}" + (f" ({found.learning_rate:.2e})" if found is not None else "")

    def _draw_status(self, curves: list[Any]) -> None:
        t = self.test
        running = t.running
        self._stop_button.disabled = not running
        if running:
            steps = len(curves[-1][1]) if curves else 0
            text = f"<b>running</b> · sweep {len(t.sweeps) + 1}/{t.n_runs} · step {steps}/{t.num_steps}"
            if curves and len(curves[-1][0]):
                text += f" · learning rate {float(curves[-1][0][-1]):.3g}"
        elif t.sweeps:
            last = t.sweeps[-1]
            # The test's message: the last sweep's, and what the sweeps together gave (n_runs > 1).
            text = f"<b>{REASONS.get(last.reason, last.reason)}</b> · {html.escape(t.message or last.message)}"
            if t.restored:
                text += " · the model's weights and optimizer state were restored"
        else:
            text = "<b>ready</b> · call <code>finder.run(x, y, batch_size=...)</code>"
        self._status.value = f'<span class="lrw-status">{text}</span>'
        if t.error is not None and not running:
            self._error.value = (
                f'<div class="lrw-message lrw-error" style="color:#c00">'
                f"{html.escape(type(t.error).__name__ + ': ' + str(t.error))}</div>"
            )
            self._test_error = True
        elif self._test_error:  # a run since ended well, or runs: the last one's error is not this one's
            self._error.value = ""
            self._test_error = False
