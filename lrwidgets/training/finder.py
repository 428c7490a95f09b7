"""The learning-rate range test on a real model: sweeps run as ``TrainingSession`` fits, then undone.

:class:`LRRangeTest` runs the core's :class:`~lrwidgets.core.finder.Ramp` as the schedule of a
background :class:`~lrwidgets.training.TrainingSession` fit (so every step's rate is recorded as
the step used it), stops a sweep at the step the core's
:class:`~lrwidgets.core.finder.RangeTestMonitor` says (divergence, NaN, all steps run), and puts
the model back exactly as it was afterwards, however the run ended.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np

from lrwidgets.core.checks import check_float, check_int, check_name, received
from lrwidgets.core.finder import DEFAULT_METHOD, METHODS, Ramp, RangeTestMonitor, Suggestion
from lrwidgets.core.range_test import SMOOTHING
from lrwidgets.training import _state, ownership
from lrwidgets.training._range_sweep import (
    SAYS_WHY,
    RangeTestRun,
    Sweep,
    SweepPlan,
    SweepStopper,
    check_run,
    combined,
    ended_sweep,
    plan_sweeps,
    recorded,
    start_at_an_update,
    sweeps_dataframe,
)
from lrwidgets.training._rate_target import set_learning_rate
from lrwidgets.training._reorder import reordered
from lrwidgets.training.fit_args import DATA_ARGUMENTS, bind_fit, class_fit
from lrwidgets.training.model_state import ModelState
from lrwidgets.training.session import TrainingSession

__all__ = ["DATA_ARGUMENTS", "LRRangeTest", "ModelState", "RangeTestRun", "Sweep"]


class LRRangeTest:
    """The learning-rate range test: raise the rate step by step until the loss blows up, then undo it all.

    Each sweep trains the model for up to ``num_steps`` batches at a rate rising from
    ``start_learning_rate`` to ``end_learning_rate`` (step ``i`` runs at exactly
    ``start * (end / start) ** (i / (num_steps - 1))``, or the linear interpolation), and stops
    early once the smoothed loss passes ``diverge_threshold`` times its best, or on a NaN or inf
    loss. Afterwards the model is put back bit for bit (every model and optimizer variable, the
    random generators a fit draws from), however the run ended: finished, diverged, stopped,
    an exception, a NaN, a kernel interrupt while waiting. A fit after the test gives exactly the
    weights a fit without it gives. On a ``LayerwiseOptimizer`` the base rate is swept and the
    per-layer multipliers kept.

    Suggestions (``lrwidgets.core.finder``): fastai's four methods (``valley``, ``slide``,
    ``minimum``, ``steep``, against ``log10`` of the rate) and the default, ``robust_valley``.
    With ``n_runs > 1``, each sweep starts from the same weights and sees the batches in another
    order (array data, numpy or a backend's tensors or pandas, is reordered, seeded by the sweep's
    number: a copy of it is held during that sweep; other data forms keep their own order); each
    suggestion is then the median of the sweeps' and carries their spread.

    Args:
        model: a compiled, built ``keras.Model`` with a float learning rate (the same check as
            ``TrainingSession``: a Keras schedule or a ``MultiOptimizer`` is refused).
        start_learning_rate: the ramp's first rate, > 0 and below ``end_learning_rate``.
        end_learning_rate: the ramp's last rate.
        num_steps: steps of a sweep, 11 to 100,000 (11: the fewest a suggestion can be made from); a
            step is a batch, a call of ``steps_per_execution`` batches, or an update of an optimizer
            that accumulates gradients (its batches' mean loss; refused with ``steps_per_execution``).
        mode: ``"exponential"`` (default) or ``"linear"``.
        smoothing: EMA coefficient of the smoothed curve (drawn, read for the suggestions and by the
            stop rule), in [0, 1). Default 0.95; fastai's 0.98 lags, and over 100 steps put the
            default suggestion further above the best rate (README, "Finding a learning rate").
        diverge_threshold: stop when the smoothed loss passes this multiple of its best (> 1), its
            best taken after the first ``min(10, num_steps // 10)`` steps.
        n_runs: sweeps, 1 to 20.
        update_interval: seconds between two listener calls during a sweep.
        monitor: the log key swept as the loss (a custom ``train_step``'s ``g_loss``), as
            ``TrainingSession``'s ``monitor``. Default: ``loss``; for :meth:`run_like`, the session's. A
            train step that logs no value of it ends the test with reason ``monitor`` and no suggestion.

    Example:
        >>> import keras, numpy as np
        >>> keras.utils.set_random_seed(0)
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
        >>> x = np.random.default_rng(0).normal(size=(512, 8)).astype("float32")
        >>> test = LRRangeTest(model, start_learning_rate=1e-5, end_learning_rate=10.0, num_steps=50)
        >>> _ = test.run(x, x.sum(axis=1, keepdims=True), batch_size=16).wait()
        >>> test.sweeps[0].reason, len(test.learning_rates) < 50, test.suggestion.method
        ('diverged', True, 'robust_valley')
    """

    def __init__(
        self,
        model: Any,
        *,
        start_learning_rate: float = 1e-7,
        end_learning_rate: float = 10.0,
        num_steps: int = 100,
        mode: str = "exponential",
        smoothing: float = SMOOTHING,
        diverge_threshold: float = 4.0,
        n_runs: int = 1,
        update_interval: float = 0.1,
        monitor: str | None = None,
    ) -> None:
        self.ramp = Ramp(start_learning_rate, end_learning_rate, num_steps, mode)
        self.smoothing = check_float("smoothing", smoothing, ge=0, lt=1)
        self.diverge_threshold = check_float("diverge_threshold", diverge_threshold, gt=1)
        self.n_runs = check_int("n_runs", n_runs, ge=1, le=20)
        self.update_interval = check_float("update_interval", update_interval, gt=0, le=3600)
        self.monitor = None if monitor is None else check_name("monitor", monitor)
        _state.steerable_optimizer(model)  # the session's refusals: Keras schedule, MultiOptimizer, ...
        if not model.built or not model.variables:
            raise ValueError(
                "Argument `model` must be built (its weights created) before a range test, so that they can be"
                " put back afterwards: give it an `keras.Input(...)` or call `model.build(input_shape)`."
            )
        self.model = model
        self._sweeps: list[Sweep] = []
        self._live: tuple[TrainingSession, RangeTestMonitor, int, SweepStopper] | None = None
        self._suggestions: dict[str, Suggestion] = {}
        self._listeners: list[Callable[[], None]] = []
        self._run: RangeTestRun | None = None
        self._active = False
        self._stop_requested = False
        self._state: ModelState | None = None
        self.message = ""
        self.error: BaseException | None = None
        self.restored = False

    # ---- reading ----------------------------------------------------------------------------
    @property
    def num_steps(self) -> int:
        return self.ramp.num_steps

    @property
    def running(self) -> bool:
        """True from ``run`` until the model is restored and the suggestions are made."""
        return self._active

    # The run handle's lifecycle (``TrainingRun`` calls these, as it does a controller's).
    def begin(self, thread: threading.Thread) -> None:
        self._active = True

    def finish(self, error: BaseException | None = None) -> None:
        self._active = False
        if error is not None and self._run is None:  # the run could not start: its views show why
            self.error = error
        self._notify()

    @property
    def sweeps(self) -> list[Sweep]:
        """The finished sweeps (each with its curve, why it ended and its own suggestions)."""
        return list(self._sweeps)

    def curves(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(learning rates, raw losses, smoothed losses)`` of each sweep so far, the running one included."""
        out = [(s.learning_rates, s.losses, s.smoothed_losses) for s in self._sweeps]
        live = self._live
        if live is not None:
            session, monitor, first, stopper = live
            out.append((*recorded(session.history, first, stopper.updates), monitor.curve.smoothed))
        return out

    def _first(self) -> Sweep | None:
        return self._sweeps[0] if self._sweeps else None

    @property
    def learning_rates(self) -> np.ndarray:
        """The rate each step of the first sweep used (float32, as the optimizer held it)."""
        s = self._first()
        return s.learning_rates if s is not None else np.zeros(0, np.float32)

    @property
    def losses(self) -> np.ndarray:
        """The raw batch loss of each step of the first sweep."""
        s = self._first()
        return s.losses if s is not None else np.zeros(0, np.float32)

    @property
    def smoothed_losses(self) -> np.ndarray:
        """The first sweep's smoothed curve: median of 3, then the debiased EMA (``smoothing``)."""
        s = self._first()
        return s.smoothed_losses if s is not None else np.zeros(0, np.float32)

    @property
    def reason(self) -> str:
        """Why the last sweep ended: ``finished``, ``diverged``, ``nan``, ``data`` (the data ran out
        before its last step), ``stopped``, ``error``, ``optimizer`` (the model's optimizer took no
        step), ``monitor`` (the train step logs no value of the monitored key: nothing is suggested
        after either); ``""`` until a sweep of the latest run has ended."""
        return self._sweeps[-1].reason if self._sweeps else ""

    @property
    def suggestions(self) -> dict[str, float]:
        """``{method: learning rate}`` (``robust_valley``, ``valley``, ``slide``, ``minimum``, ``steep``)."""
        return {k: s.learning_rate for k, s in self._suggestions.items()}

    @property
    def suggestion_details(self) -> dict[str, Suggestion]:
        """Each method's :class:`~lrwidgets.core.finder.Suggestion` (rate, explanation, per-sweep rates)."""
        return dict(self._suggestions)

    @property
    def suggestion(self) -> Suggestion | None:
        """The default suggestion (``robust_valley``), or None when no sweep gave enough steps."""
        return self._suggestions.get(DEFAULT_METHOD)

    # ---- running ----------------------------------------------------------------------------
    def run(self, *args: Any, **kwargs: Any) -> RangeTestRun:
        """Start the sweeps in the background on ``model.fit``'s data arguments; a :class:`RangeTestRun`.

        Takes the data arguments of ``model.fit`` (``x``, ``y``, ``batch_size``, ``sample_weight``,
        ``class_weight``, ``steps_per_epoch``, ``shuffle``), in any data form Keras takes.
        """
        return self._start(args, kwargs, self.monitor)

    def _start(self, args: tuple[Any, ...], kwargs: dict[str, Any], monitor: str | None) -> RangeTestRun:
        if self.running:
            raise RuntimeError("This range test is already running; wait for it (`run.wait()`) or `stop()` it.")
        bound = bind_fit(class_fit(self.model), args, kwargs, "run")
        bound.require(("callbacks", "epochs"), "run", self.model, by_name=True)  # as `_sweep` passes them
        check_run(bound.bound.arguments, self.model, monitor or "loss")
        data = {k: v for k, v in bound.bound.arguments.items() if k in DATA_ARGUMENTS}
        # A generator of unknown length: read to its end, Keras would serve the batches it peeked at
        # again in every later epoch. Its sweep is one epoch, which ends when the data runs out.
        once = bound.steps is None and isinstance(data.get("x"), Iterator)
        if ownership.owner(self.model) is not None:
            raise RuntimeError(
                f"Argument `model` ({self.model.name!r}) is training in an lrwidgets session or dashboard: run the"
                " range test between two fits (wait for the fit with `run.wait()` or stop it first)."
            )
        plan = plan_sweeps(self.model, self.ramp, bound.steps, data, once)
        session = TrainingSession(
            self.model,
            update_interval=self.update_interval,
            on_nan="stop",
            divergence_factor=self.diverge_threshold,
            monitor=monitor or "loss",  # not the first key logged: a step that logs no `loss` is told so
        )
        state = ModelState(self.model)  # before anything of the last run is cleared: either may raise
        unreserve = ownership.reserve(self.model, session.controller)  # the whole test, restore included
        self._sweeps, self._suggestions, self._stop_requested = [], {}, False
        self.message, self.error, self.restored, self._run, self._state = "", None, False, None, state
        try:
            self._run = RangeTestRun(cast(Any, self), lambda: self._main(session, data, plan, unreserve, once))
        except BaseException as e:  # no run started (no thread): nothing of the last one is shown as this one's
            self.error = e
            unreserve()
            raise
        return self._run

    def run_like(self, session: TrainingSession) -> RangeTestRun:
        """Run on the data of ``session``'s last fit (its ``x``, ``y``, batch size, weights,
        shuffling), a ``session.fit`` or a ``model.fit(callbacks=[session.callback])``, recording
        the session's ``monitor`` unless this test has its own."""
        data = session.fit_data
        if data is None:
            raise ValueError(
                "The session has no data of a last fit to run the range test on (no fit yet, or a generator"
                " the fit read to its end): give the data to `LRRangeTest.run(x, y, ...)`."
            )
        if session.running:
            raise RuntimeError("The session is training: run the range test between two fits.")
        monitor = self.monitor if self.monitor is not None else session.monitor
        return self._start((), data, monitor)

    def stop(self) -> None:
        """End the current sweep at the next batch and skip the others; the model is still restored."""
        self._stop_requested = True
        live = self._live
        if live is not None:
            live[0].stop()

    def wait(self, timeout: float | None = None) -> dict[str, float]:
        if self._run is None:
            if self.error is not None:
                raise RuntimeError(f"The range test could not start: {self.error}") from self.error
            raise RuntimeError("The range test has not been started: call `run(x, y, ...)` first.")
        return self._run.wait(timeout)

    def _main(
        self,
        session: TrainingSession,
        data: dict[str, Any],
        plan: SweepPlan,
        unreserve: Callable[[], None],
        once: bool,
    ) -> dict[str, float]:
        assert self._state is not None
        unsubscribe = session.subscribe(lambda _: self._notify())
        try:
            for r in range(self.n_runs):
                last = self._sweeps[-1].reason if self._sweeps else ""
                if self._stop_requested or (once and last == "data") or last == "monitor":
                    break  # (a generator that ran out has nothing left for another sweep)
                if r:
                    self._state.restore_variables()  # the same start; another batch order below
                self._sweep(session, reordered(data, r), plan)
        finally:
            self._live = None
            unsubscribe()
            try:
                self._state.restore()
                self.restored = True
            finally:
                unreserve()
                self._suggestions, note = combined(self._sweeps)
                self.message += note
                ended = self._sweeps[-1] if self._sweeps else None
                if not self._suggestions and ended is not None and ended.reason not in SAYS_WHY and not ended.fall:
                    self.message = f"{self.message}: too few steps to suggest a learning rate"
        return self.suggestions

    def _sweep(self, session: TrainingSession, data: dict[str, Any], plan: SweepPlan) -> None:
        monitor = RangeTestMonitor(self.num_steps, self.smoothing, self.diverge_threshold)
        first, events = session.history.num_steps, len(session.history.events)
        stopper = SweepStopper(session.history, monitor, lambda: self._stop_requested, plan)
        start_at_an_update(self.model, plan)
        self._live = (session, monitor, first, stopper)
        error: BaseException | None = None
        try:
            # verbose=0: the session sets it where the model's fit takes one
            session.fit(**data, epochs=plan.epochs, callbacks=[stopper], schedule=plan.schedule).wait()
        except BaseException as e:
            error = e
        stopped = self._stop_requested
        sweep = ended_sweep(session.history, first, monitor, self.smoothing, error, stopped, events, stopper.updates)
        self._sweeps.append(sweep)
        self._live = None
        self.message = sweep.message
        if error is not None:
            self.error = error
            raise error

    # ---- listeners ----------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` as the sweep grows (throttled, from the training thread) and at the end."""
        if not callable(listener):
            raise TypeError(f"Argument `listener` must be callable. Received: listener={listener!r}")
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception as e:  # a broken view must not end the sweep
                self.message = f"display update failed: {type(e).__name__}: {e}"

    # ---- results --------------------------------------------------------------------------------
    def _rate(self, method: str | None) -> float:
        method = DEFAULT_METHOD if method is None else method
        if method not in METHODS:
            raise ValueError(f"Argument `method` must be one of {METHODS}. {received('method', method)}")
        if self.running:
            raise RuntimeError("The range test is running: apply a suggestion once it has ended.")
        if method not in self._suggestions:
            raise ValueError(
                "There is no suggestion to apply: "
                + (self.message or "run the range test first (`finder.run(x, y, ...)`).")
            )
        return self._suggestions[method].learning_rate

    def apply(self, target: Any, method: str | None = None) -> float:
        """Set ``target``'s learning rate to a suggestion (the default unless ``method`` names one); the rate.

        ``target``: a ``TrainingSession`` or a dashboard (recorded as set by ``finder``), a
        ``ScheduleDesigner`` (its initial or maximum rate), a compiled Keras model (its optimizer's
        rate; through its session when one trains it), or anything with ``set_learning_rate`` or a
        settable ``learning_rate``.
        """
        rate = self._rate(method)
        set_learning_rate(target, rate, source="finder")
        return rate

    def to_dataframe(self) -> Any:
        """One row a step of every sweep: ``sweep``, ``step``, ``learning_rate``, ``loss``, ``smoothed_loss``."""
        return sweeps_dataframe(self._sweeps)

    def __repr__(self) -> str:
        state = "running" if self.running else (self.reason or "not run")
        return f"<LRRangeTest {self.model.name!r} {state}, {len(self._sweeps)}/{self.n_runs} sweeps>"
