"""``TrainingSession``: a Keras fit that is run, steered and recorded, with no widget at all."""

from __future__ import annotations

import functools
import inspect
import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from lrwidgets.core import TrainingHistory
from lrwidgets.core.checks import check_int
from lrwidgets.training import _state, callback_list, ownership, warnings_hook
from lrwidgets.training.callback import StoppedBeforeStart
from lrwidgets.training.callback_list import acts_before_batches
from lrwidgets.training.controller import TrainingController
from lrwidgets.training.fit_args import DATA_ARGUMENTS, FitArguments, bind_fit, class_fit, reporting
from lrwidgets.training.progress import Progress
from lrwidgets.training.recorder import SetupNote
from lrwidgets.training.run import TrainingRun
from lrwidgets.training.setup_notes import batch_notes, rate_notes
from lrwidgets.training.snapshot import Listener, Snapshot, Snapshots
from lrwidgets.training.update_monitor import UpdateSizeMonitor

MAX_PLAN_POINTS = 100_000
__all__ = ["Listener", "Snapshot", "TrainingSession"]  # Snapshot: its home before `snapshot.py`


class TrainingSession:
    """A compiled Keras model, trained in the background and steered live, with everything recorded.

    The fit runs in a background thread (``fit`` returns a :class:`TrainingRun` at once); every
    change (learning rate, per-layer multipliers, a schedule edit, pause, stop) takes effect at the
    next batch boundary, in the training thread, and is recorded in :attr:`history` with its
    source. Works in a script, a terminal or a Dask worker: nothing here imports a widget.

    Args:
        model: a compiled ``keras.Model`` whose optimizer has a float learning rate (a
            ``LossScaleOptimizer`` is looked through; a ``LayerwiseOptimizer`` adds per-layer rates).
        update_interval: seconds between two listener snapshots while training (default 0.1;
            longer when the listeners take more than 1% of the training thread's time, at most 10x).
        on_nan: ``"restore"`` (default): on a NaN or inf loss, put back the last weights and optimizer
            state whose loss was finite and not diverging, then stop; ``"stop"``: only stop.
        divergence_factor: flag the loss when its smoothed value stays above this multiple of its best.
        monitor: the log key recorded as the per-batch loss (e.g. a GAN's ``g_loss``). Default:
            ``loss``, or, when the train step returns no ``loss`` (a custom ``train_step``), the key
            that comes first alphabetically among its scalar logs (a warning event names it).

    Example:
        >>> import keras, numpy as np, lrwidgets as lrw
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mse")
        >>> session = lrw.TrainingSession(model)
        >>> run = session.fit(np.ones((256, 8)), np.ones((256, 1)), epochs=2, batch_size=32)
        >>> session.learning_rate = 5e-3        # from the next batch on; recorded with its source
        >>> _ = run.wait()
        >>> session.history.num_steps, session.learning_rate
        (16, 0.005)
    """

    def __init__(
        self,
        model: Any,
        *,
        update_interval: float = 0.1,
        on_nan: str = "restore",
        divergence_factor: float = 4.0,
        monitor: str | None = None,
    ) -> None:
        self.controller = TrainingController(
            model,
            update_interval=update_interval,
            on_nan=on_nan,
            divergence_factor=divergence_factor,
            monitor=monitor,
        )
        self._run: TrainingRun | None = None
        self._fit: FitArguments | None = None
        self._plan_start = 0
        self._update_sizes: dict[str, float] = {}
        self._snapshots = Snapshots(self.controller, lambda: self._update_sizes)
        self._lock = threading.Lock()

    @classmethod
    def of(cls, model: Any, **settings: Any) -> TrainingSession:
        """For views that take a model or a session: ``model`` itself if it is a session, else a new
        session of it made with ``settings`` (the keyword arguments of ``TrainingSession``). A
        setting given (not None) with a session raises ``TypeError``: it is the session's own."""
        given = {k: v for k, v in settings.items() if v is not None}
        if not isinstance(model, TrainingSession):
            return cls(model, **given)
        if given:
            raise TypeError(
                f"Arguments {', '.join(f'`{k}`' for k in given)} belong to the session: give them to"
                f" `TrainingSession(...)`, not to a view of one."
                f" Received: {', '.join(f'{k}={v!r}' for k, v in given.items())}"
            )
        return model

    # ---- reading ----------------------------------------------------------------------------
    @property
    def model(self) -> Any:
        return self.controller.model

    @property
    def history(self) -> TrainingHistory:
        """Every step, epoch and event of every fit of this session (append-only; any thread)."""
        return self.controller.history

    @property
    def progress(self) -> Progress:
        return self.controller.progress()

    @property
    def state(self) -> str:
        """``idle``, ``running``, ``paused`` or ``stopping``."""
        return self.controller.state

    @property
    def running(self) -> bool:
        return self.controller.running

    @property
    def pause_requested(self) -> bool:
        return self.controller.pause_requested

    @property
    def run(self) -> TrainingRun | None:
        """The handle of the last background fit."""
        return self._run

    @property
    def monitor(self) -> str | None:
        """The log key recorded as the loss (None: ``loss``, or the step's first scalar log)."""
        return self.controller.recorder.monitor

    @property
    def fit_data(self) -> dict[str, Any] | None:
        """The data arguments of the last fit (``x``, ``y``, ``batch_size``, ``sample_weight``,
        ``class_weight``, ``steps_per_epoch``, ``shuffle``: those given), by :meth:`fit` or by a
        ``model.fit(callbacks=[session.callback])``, read from Keras's ``fit`` (``x`` and ``y`` are
        its training part once ``validation_split`` took the rest); None before any, and after a
        fit on a generator of unknown length (read to its end)."""
        return self.controller.fit_data

    @property
    def callback(self) -> Any:
        """A Keras callback for ``model.fit(..., callbacks=[session.callback])`` in your own thread.

        The history records; but only a background fit (:meth:`fit`) can be steered from a
        notebook, whose kernel handles no widget message while a cell runs.
        """
        return self.controller.callback

    @property
    def schedule(self) -> Any:
        return self.controller.schedule

    @property
    def fit_step(self) -> int:
        return self.controller.fit_step

    @property
    def layer_groups(self) -> list[dict[str, Any]]:
        """``[{"name": group, "params": count}, ...]`` of a ``LayerwiseOptimizer`` model (else ``[]``)."""
        return _state.layer_group_sizes(self.model)

    @property
    def multipliers(self) -> dict[str, float]:
        """Per-layer multipliers in effect (or requested); ``{}`` without a ``LayerwiseOptimizer``."""
        return self.controller.multipliers

    # ---- steering (any thread) ------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The learning rate; setting it takes effect at the next batch (recorded as ``user``)."""
        return self.controller.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.controller.set_learning_rate(value, source="user")

    def set_learning_rate(self, value: float, source: str = "user") -> None:
        """Set the learning rate, recorded with ``source`` (``user``, ``slider``, ``finder``...)."""
        self.controller.set_learning_rate(value, source=source)

    def set_multipliers(self, multipliers: Mapping[str, float], source: str = "user", exact: bool = False) -> None:
        """Set per-layer multipliers ``{key: value >= 0}``, at the next batch: each key matched as
        ``LayerwiseOptimizer`` matches its keys (a group's name, a sub-model's name, a pattern), so
        that the same mapping means the same here and in ``opt.set_multipliers``. With ``exact``
        each key is a group's name (as ``session.multipliers`` lists them) that sets that group
        only: ``block`` and not ``block#2``, a sub-model's own weights and not its layers'."""
        self.controller.set_multipliers(multipliers, source=source, exact=exact)

    def replace_schedule(self, schedule: Any, source: str = "designer") -> None:
        """Follow ``schedule`` from the next batch on (see ``TrainingController.replace_schedule``)."""
        self.controller.replace_schedule(schedule, source)

    def pause(self) -> None:
        """Hold the fit at its next batch boundary (returns at once; no CPU used while paused).

        Once :attr:`state` reads ``"paused"`` the model's variables hold the fit's state: its
        weights can be read (``model.get_weights()``) and saved (:meth:`save`). Asked during a
        validation pass, the pass is held at its next batch; a save is made at once, and other
        changes made while it is held (rate, multipliers, schedule) before the next training batch.
        """
        self.controller.pause()

    def resume(self) -> None:
        self.controller.resume()

    def stop(self) -> None:
        """End the fit at its next batch boundary (returns at once), keeping everything recorded.

        During an epoch that validates, the validation pass ends at its next batch too, its
        results NaN to the other callbacks (the history records an epoch that did not validate);
        not when another callback compares a ``val_`` result from epoch to epoch, such as
        ``EarlyStopping`` (``lrwidgets.training.validation_cut``)."""
        self.controller.stop()

    def submit(self, action: Callable[[Any], None], description: str = "") -> None:
        """Run ``action(model)`` in the training thread before the next batch (now when idle)."""
        self.controller.submit(action, description)

    def save(self, filepath: Any, **kwargs: Any) -> None:
        """``model.save(filepath, ...)``, safe during a fit: done between two batches, written atomically.
        While training, the save runs in the training thread at the next batch boundary (also
        when paused) and this call waits for it; a failure leaves any earlier file untouched.
        ``model.save`` itself does the same while a session trains the model. ``overwrite=False``
        over a file that exists: Keras asks first, or during a fit a FileExistsError (no save).
        """
        asks = not self.controller.running and not kwargs.get("overwrite", True)  # as Keras does, here
        ownership.refuse_overwrite(filepath, (), kwargs, can_ask=asks)
        if asks:
            return self.model.save(filepath, **kwargs)
        self.controller.call(lambda m: ownership.save_atomically(type(m).save, m, filepath, **kwargs))

    # ---- listeners ----------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(snapshot)`` after changes: at most once per ``update_interval`` while
        training (from the training thread: keep it cheap), always at a fit's start and end, and
        at once for changes made while idle. Returns a function that unsubscribes it."""
        return self._snapshots.subscribe(listener)

    # ---- fitting -------------------------------------------------------------------------------
    def fit(self, *args: Any, schedule: Any = None, plateau: Any = None, **kwargs: Any) -> TrainingRun:
        """Start ``model.fit(*args, **kwargs)`` in a background thread; returns a :class:`TrainingRun`.

        Takes every argument of ``model.fit`` (any data form Keras takes); ``verbose`` defaults to 0
        (where the model's ``fit`` takes one: a subclass's own ``fit`` is bound by its signature).

        Args:
            schedule: optional; any callable mapping the step of this fit (from 0) to a learning
                rate, such as an ``lrwidgets.schedules`` object. The rate is set before each batch
                and checked first (a bad one stops the fit, naming the step); a live change scales
                the rest of the schedule. Defaults to `None`: the schedule set for the fits to
                come (``controller.set_schedule``, or ``replace_schedule`` while idle) if any,
                else the rate as set.
            plateau: optional ``lrwidgets.schedules.ReduceOnPlateau``: its reductions (watching its
                ``monitor``, without ``val_`` when the fit has no validation data) multiply the
                rest of the schedule, or the rate as set (its ``initial_learning_rate`` is then
                not used: an ``info`` event says so; as ``schedule=`` it starts the fit there),
                each one recorded.
                Epochs that do not validate (``validation_freq``) are skipped, as Keras's
                ``ReduceLROnPlateau`` skips them.
        """
        self.controller.end_stale()
        if self.controller.running:
            raise RuntimeError(
                "A fit is already running in this session; wait for it (`run.wait()`) or stop it"
                " (`session.stop()`) before starting another."
            )
        current = ownership.owner(self.model)
        if current is not None and current is not self.controller:
            ownership.claim(self.model, self.controller)  # raises the clear error
        _state.steerable_optimizer(self.model)  # a re-compile since (a Keras schedule): refused here, not in the fit
        fit = class_fit(self.model)
        bound = bind_fit(fit, args, kwargs, "fit")
        bound.require(("callbacks",), "fit", self.model)
        callbacks = callback_list.given(bound.value("callbacks"), self.controller.callback)
        # Given here, for this fit only; else the one set for the fits to come drives it (if any).
        standing = self.controller.standing_driver if schedule is None else None
        alone = standing is not None and plateau is not None and standing.schedule is None
        if schedule is not None:
            self.controller.set_schedule(schedule, plateau, for_fit=True)  # checks the schedule's first step now
        elif plateau is not None:
            self.controller.set_plateau_for_fit(plateau)
        else:
            self.controller.forget_schedule()
        # A plateau on a `val_` key skips the epochs that do not validate, rather than watch the training key.
        validates = bool(bound.value("validation_split")) or bound.value("validation_data") is not None
        self.controller.driver.validation_freq = bound.value("validation_freq", 1) if validates else None
        a = bound.bound.arguments
        extra = []
        if _state.layerwise(self.model) is not None:
            extra.append(UpdateSizeMonitor(self._on_update_sizes))
        cb = self.controller.callback
        # First, so that every batch is recorded even when a later callback fails; the reader last,
        # to read the rate after every other callback had its say. When none acts before an epoch
        # or a batch, the first callback reads it itself: one callback less to call each batch.
        cb.others = callbacks + extra
        cb.reader_attached = acts_before_batches(cb.others)
        a["callbacks"] = [cb, *callbacks, *extra, *([cb.reader] if cb.reader_attached else [])]
        if bound.accepts("verbose"):
            a.setdefault("verbose", 0)
        rec = self.controller.recorder
        notes: list[SetupNote] = []  # recorded under this fit once it begins (Recorder.hold_setup)

        def note(message: str, source: str | None = None) -> None:
            notes.append(SetupNote("info", message, rec.now(), source))

        rate_notes(self.controller, schedule, plateau, standing, alone, note)
        custom = rec.use_batches(bound.batch_size, bound.samples, bound.exact_batches, self.model)
        batch_notes(bound, custom, note)
        self._fit = bound
        self.controller.fit_data = {k: v for k, v in a.items() if k in DATA_ARGUMENTS}
        self._plan_start = self.history.num_steps

        raised: list[BaseException] = []
        if inspect.isgenerator(a.get("x")):
            # its batch size (the live diagnosis reads it) from its first batch
            a["x"] = reporting(a["x"], raised, functools.partial(setattr, rec.meter, "batch_size"))

        def target() -> Any:
            rec.hold_setup(notes)  # the fit is claimed: no other can begin before this one
            # Routed from the thread's start: Keras warns about the data before any callback runs.
            with warnings_hook.routed(lambda text: rec.setup_event("warning", text)):
                try:
                    call_args, call_kwargs = bound.call_args()
                    return fit(*call_args, **call_kwargs)
                except StoppedBeforeStart:  # Stop came while Keras set the fit up: no batch was run
                    return None
                except Exception as e:
                    if raised and raised[0] is not e:  # tensorflow wraps a generator's error in its own
                        raise raised[0] from e
                    raise

        self._run = TrainingRun(self.controller, target)
        return self._run

    def plan(self, max_points: int = 600) -> tuple[np.ndarray, np.ndarray]:
        """The planned rate of the current (or last) fit: ``(history rows, rates)``, at most
        ``max_points`` points, O(max_points) whatever the fit's length; empty without a schedule
        or when the fit's length is unknown."""
        max_points = check_int("max_points", max_points, ge=2, le=MAX_PLAN_POINTS)
        total = None if self._fit is None else self._fit.total_steps
        if total is None:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        steps, values = self.controller.driver.plan(total, max_points)  # against rows: N batches a row (spe=N)
        return (steps / _state.batches_per_row(self.model) + self._plan_start).astype(np.float32), values

    def _on_update_sizes(self, sizes: dict[str, float], multipliers: dict[str, float]) -> None:
        self._update_sizes = {k: float(v) for k, v in sizes.items() if math.isfinite(float(v))}

    def __repr__(self) -> str:
        return f"<TrainingSession {self.model.name!r} {self.state}, {self.history.num_steps} steps>"
