"""One sweep of a range test: the callback that stops its fit where the core's rule says, and the
:class:`Sweep` it leaves (its curve, why it ended, its suggestions); the sweeps' suggestions
combined; the handle of a range test's run."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import keras
import numpy as np

from lrwidgets.core.checks import received
from lrwidgets.core.fall import FallVerdict
from lrwidgets.core.finder import Ramp, RangeTestMonitor, Suggestion, combine, judge_fall, suggest
from lrwidgets.core.history import TrainingHistory
from lrwidgets.core.metric_names import better_by_name
from lrwidgets.core.range_test import RampByRow, by_update
from lrwidgets.training import _state, _step_logs
from lrwidgets.training.fit_args import DATA_ARGUMENTS, SHORT_BATCH_MOVES, dataset_batches
from lrwidgets.training.run import TrainingRun

COLUMNS = ["sweep", "step", "learning_rate", "loss", "smoothed_loss"]
#: the source of the session's warning that the train step logs no value of the monitored key
MISSING_KEY = "missing_key"
#: the reasons whose message says why nothing is suggested
SAYS_WHY = ("error", "optimizer", "monitor")

#: ``model.fit`` arguments a sweep takes from the caller: the data and how it is batched.
REFUSED = {
    "epochs": "the sweep's length is `num_steps`",
    "initial_epoch": "the sweep's length is `num_steps`",
    "validation_data": "a sweep looks at the training loss only",
    "validation_split": "a sweep looks at the training loss only",
    "validation_steps": "a sweep looks at the training loss only",
    "validation_batch_size": "a sweep looks at the training loss only",
    "validation_freq": "a sweep looks at the training loss only",
    "callbacks": "a callback could change the rate the sweep sets",
}


@dataclass(frozen=True)
class Sweep:
    """One sweep: the rate each step used, its raw batch loss, the smoothed curve and why it ended."""

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    reason: str
    message: str
    suggestions: dict[str, Suggestion] = field(default_factory=dict)
    #: how the loss fell beyond its batch noise (``judge_fall``; the message says it): ``"none"`` (no
    #: suggestion), ``"weak"`` (uncertain ones), or ``""`` (clear, or not judged)
    fall: str = ""


@dataclass(frozen=True)
class SweepPlan:
    """How a range test's sweeps run on its model: the schedule of batches their fits follow, their
    epochs, and the batches a step of the sweep is: an update of an optimizer with
    ``gradient_accumulation_steps`` (``batches``), else 1 (a row: a batch, or a call of
    ``steps_per_execution`` batches)."""

    schedule: Callable[[Any], Any]
    epochs: int
    batches: int = 1


def plan_sweeps(model: Any, ramp: Ramp, steps: int | None, data: dict[str, Any], once: bool) -> SweepPlan:
    """The :class:`SweepPlan` of ``ramp`` on ``model`` and ``data`` (``steps``: batches an epoch as the
    fit's arguments say, None if unknown; ``once``: a generator read to its end, one epoch)."""
    per = _state.batches_per_row(model)  # a recorded row: one call of `steps_per_execution` batches
    every = getattr(_state.innermost(model.optimizer), "gradient_accumulation_steps", None) or 1
    if per > 1 and every > 1:
        raise ValueError(
            f"Argument `model` is compiled with steps_per_execution={per} and its optimizer accumulates gradients"
            f" (gradient_accumulation_steps={every}): the range test sets one rate a call of {per} batches and"
            f" cannot make each update a step; compile it with steps_per_execution=1 for the range test."
        )
    epoch = None if data.get("steps_per_epoch") is not None else steps or dataset_batches(data.get("x"))
    if every > 1:  # step i: the i-th update, its batches at ramp(i)
        schedule: Callable[[Any], Any] = RampByRow(ramp, every)
    else:  # recorded step i (one call of `per` batches) at ramp(i), counted as the session counts
        schedule = ramp if per == 1 else RampByRow(ramp, per, epoch)
    if once:
        epochs = 1
    elif steps is None:
        epochs = ramp.num_steps * every
    else:
        epochs = max(1, math.ceil(ramp.num_steps * every / -(-steps // per)))
    # An epoch to spare for batches the optimizer does not count (a loss scale's overflow skips them);
    # the sweep ends at its last update.
    return SweepPlan(schedule, epochs + (every > 1 and not once), every)


def start_at_an_update(model: Any, plan: SweepPlan) -> None:
    """Before a sweep (the model idle) of a plan whose step is an update: the optimizer's count of batches
    taken back to an update's start and its accumulated gradients emptied, so that the sweep's first
    update is its own N batches (the count of updates, which Adam's bias correction reads, is the
    same; the range test puts the whole state back at its end)."""
    if plan.batches == 1:
        return
    inner = _state.innermost(model.optimizer)
    count = _state.optimizer_steps(model, inner) or 0
    inner._iterations.assign(count - count % plan.batches)
    for accumulated in getattr(inner, "_accumulated_gradients", None) or ():
        if accumulated is not None:
            accumulated.assign(np.zeros(accumulated.shape, accumulated.dtype))


def recorded(
    history: TrainingHistory, first: int, updates: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Copies of the rate and the raw batch loss of each step recorded from step ``first`` on (where the
    step is an update of several rows, numbered by ``updates``: each update's rate and its batches'
    mean loss, ``by_update``)."""
    n = history.num_steps
    lrs, losses = history.column("learning_rate", n)[first:].copy(), history.column("loss", n)[first:].copy()
    return (lrs, losses) if updates is None else by_update(lrs, losses, updates)


class SweepStopper(keras.callbacks.Callback):
    """Feeds each recorded batch loss to the stop rule (each update's mean loss, where the plan's step
    is an update of several batches) and ends the fit at the step it says (or when ``stop_requested()``
    is true).

    Where a step is an update, each row is numbered by the update it belongs to (:attr:`updates`), read
    from the optimizer's own count of batches after each: a batch the optimizer does not count (a loss
    scale's overflow skips it under mixed precision) joins the update that follows."""

    def __init__(
        self,
        history: TrainingHistory,
        monitor: RangeTestMonitor,
        stop_requested: Callable[[], bool],
        plan: SweepPlan | None = None,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self._history = history
        self._first = history.num_steps
        self._events = len(history.events)
        self._stop_requested = stop_requested
        self._batches = 1 if plan is None else plan.batches
        #: each row's update (where a step is an update: else None)
        self.updates: list[int] | None = [] if self._batches > 1 else None
        self._count: int | None = None  # the optimizer's count of batches after the last row
        self._pending: list[float] = []  # the losses of the update's batches so far

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.updates is not None:
            self._count = _state.optimizer_steps(self._model, self._model.optimizer) or 0

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        h = self._history
        if h.num_steps <= self._first:
            return
        # After the session's own callback (first in the list): the true loss of this batch is recorded.
        loss = h.last("loss")
        missing = loss != loss and any(e.source == MISSING_KEY for e in h.events[self._events :])  # not a NaN
        fed: float | None = loss
        if self.updates is not None and not missing:
            before = self._count or 0
            self._count = _state.optimizer_steps(self._model, self._model.optimizer) or 0
            self.updates.append(before // self._batches)
            self._pending.append(loss)
            applied = self._count != before and self._count % self._batches == 0
            fed = self._mean() if applied or not math.isfinite(loss) else None
        if missing or (fed is not None and self.monitor.update(fed) is not None) or self._stop_requested():
            self._model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._pending:  # an update cut short (the data ran out, a stop): its batches' mean, as recorded
            self.monitor.update(self._mean())

    def _mean(self) -> float:
        """The pending batches' mean loss, as ``by_update`` takes it (float32), and none pending after."""
        pending, self._pending = self._pending, []
        return float(np.float32(sum(pending) / len(pending)))


class RangeTestRun(TrainingRun):
    """The handle of a background range test (``LRRangeTest.run``): a ``TrainingRun`` over all its sweeps.

    ``wait()`` returns the suggestions ``{method: rate}`` once every sweep ended and the model was
    restored, or re-raises what ended it; a kernel interrupt while waiting stops the sweep, waits
    for the restore, then raises ``KeyboardInterrupt``.
    """

    def stop(self) -> None:
        """Ask the range test to end its sweep at the next batch and skip the others (the model is
        restored); nothing once it ended (a later run of the same test is not stopped)."""
        test: Any = self._controller
        if not self.done and test._run is self:  # not a later run, started as this one ended
            test.stop()

    def __repr__(self) -> str:
        test: Any = self._controller
        return f"<RangeTestRun {'done' if self.done else 'running'}, {len(test.sweeps)}/{test.n_runs} sweeps>"


def check_run(arguments: dict[str, Any], model: Any, monitor: str) -> None:
    """Refuse what ``run()`` cannot take: a ``model.fit`` argument other than the data's, and a
    ``monitor`` that is a metric to maximize (Keras's direction for the model's metrics, else by its
    name): the range test sweeps a loss, and places its rates where it falls."""
    for name in arguments:
        if name in REFUSED:
            said = received(name, arguments[name])
            raise TypeError(f"run() takes the data arguments of `model.fit` only; {REFUSED[name]}. {said}")
        if name not in DATA_ARGUMENTS and name != "verbose":
            raise TypeError(f"run() got an unexpected argument `{name}`.")
    name = monitor.removeprefix("val_")
    lower = _step_logs.metric_directions(model).get(name)
    if lower is False or (lower is None and better_by_name(name) == "higher"):
        raise ValueError(
            f"Argument `monitor` must be a loss the range test can watch fall (lower is better): `{monitor}` is"
            f" better higher. Received: monitor={monitor!r}"
        )


def ended_sweep(
    history: TrainingHistory,
    first: int,
    monitor: RangeTestMonitor,
    smoothing: float,
    error: BaseException | None,
    stopped: bool,
    events: int = 0,
    updates: Sequence[int] | None = None,
) -> Sweep:
    """The sweep recorded from step ``first`` on, once its fit ended: with ``error`` (what ended the
    fit, if anything) or ``stopped`` (a stop request) when the stop rule gave no reason. None is
    suggested (the session's warnings among its events, from ``events`` on) from a fit whose
    optimizer took no step, nor from one whose steps logged no value of the monitored key."""
    new = history.events[events:]
    idle_optimizer = next((e.message for e in new if e.source == "idle_optimizer"), "")
    missing_key = next((e.message for e in new if e.source == MISSING_KEY), "")
    lrs, losses = recorded(history, first, updates)
    monitor.curve.finish()
    reason, message = monitor.reason, monitor.message
    if missing_key and error is None:
        return Sweep(lrs, losses, monitor.curve.smoothed, "monitor", f"{missing_key}: no learning rate is suggested")
    if error is not None:
        reason, message = "error", f"training failed: {type(error).__name__}: {error}"
    elif idle_optimizer:
        message = f"{idle_optimizer}: no learning rate is suggested"  # the session's warning says why
        return Sweep(lrs, losses, monitor.curve.smoothed, "optimizer", message)
    elif reason is None:
        if stopped:
            reason, message = "stopped", f"stopped at step {len(losses)}"
        else:
            reason, message = "data", f"the data ran out after {len(losses)} of {monitor.num_steps} steps"
    suggestions = suggest(lrs, losses, monitor.num_steps, smoothing)
    fall, said, why = (
        judge_fall(lrs, losses, monitor.num_steps, smoothing, ran_out=reason == "data")
        if suggestions
        else FallVerdict("", "")
    )
    if fall == "weak":  # each says so where it is shown (the widget's table)
        suggestions = {m: replace(s, explanation=f"{s.explanation}; uncertain: {why}") for m, s in suggestions.items()}
    # The session's note that a short batch comes mid-epoch, its loss and the next ones' recovered
    # approximately (one Keras shuffles into an epoch: up to several times off), said with the sweep.
    approximate = next((e.message for e in new if e.source == SHORT_BATCH_MOVES), "")
    message = "; ".join(m for m in (message, said, approximate and f"note: {approximate}") if m)
    return Sweep(
        learning_rates=lrs,
        losses=losses,
        smoothed_losses=monitor.curve.smoothed,
        reason=reason,
        message=message,
        suggestions={} if fall == "none" else suggestions,
        fall=fall,
    )


#: how a sweep that ran its whole ramp, or up to the blow-up, ended
WHOLE = ("finished", "diverged", "nan")


def combined(sweeps: Sequence[Sweep]) -> tuple[dict[str, Suggestion], str]:
    """The suggestions of several sweeps (the median of each method's rates), and what to add to
    the test's message. A sweep cut short (stopped, an error, the data ran out) stopped at a rate
    it chose by chance: it is left out when a whole one is there (it dragged the median by decades),
    else the suggestions are its own, said to be from a cut sweep."""
    whole = [s for s in sweeps if s.reason in WHOLE and s.suggestions]
    used = whole or [s for s in sweeps if s.suggestions]
    suggestions = combine([s.suggestions for s in used])
    if not suggestions:
        return suggestions, ""
    note = ""
    cut = [s for s in sweeps if s.reason not in WHOLE and s.suggestions]
    if whole and cut:
        why = ", ".join(sorted({s.reason for s in cut}))
        note = f"; {len(cut)} sweep(s) cut short ({why}) left out of the suggestions"
    elif not whole:
        reached = max(float(s.learning_rates[-1]) for s in used if len(s.learning_rates))
        note = f"; suggested from a sweep cut short (its rate reached {reached:.2g}): it may be too low"
    if len(sweeps) > 1:  # the last sweep's message speaks of that sweep only
        if flat := sum(s.fall == "none" for s in sweeps):
            note += f"; {flat} of the {len(sweeps)} sweeps showed no clear fall and suggest nothing"
        if weak := sum(s.fall == "weak" for s in used):
            note += f"; the fall was weak in {weak} of the {len(used)} sweeps combined: the suggestions are uncertain"
    return suggestions, note


def sweeps_dataframe(sweeps: Sequence[Sweep]) -> Any:
    """One row a step of every sweep: ``sweep``, ``step``, ``learning_rate``, ``loss``, ``smoothed_loss``."""
    import pandas as pd

    frames = []
    for i, s in enumerate(sweeps):
        frames.append(
            pd.DataFrame(
                {
                    "sweep": i,
                    "step": np.arange(len(s.losses)),
                    "learning_rate": s.learning_rates,
                    "loss": s.losses,
                    "smoothed_loss": _padded(s.smoothed_losses, len(s.losses)),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def _padded(values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan, np.float32)
    out[: len(values)] = values[:n]
    return out
