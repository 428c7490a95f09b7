"""The one-click fixes of a session's verdicts: which can still be applied, and applying them
through the session's public requests (any thread). The base of
:class:`~lrwidgets.training.diagnostician.Diagnostician`, which records the verdicts."""

from __future__ import annotations

import contextlib
import threading

from lrwidgets.core.checks import check_name
from lrwidgets.core.diagnosis import Diagnosis, Fix
from lrwidgets.training.best_weights import BestWeights
from lrwidgets.training.rewind import BLOW_UPS, Rewinds, describe
from lrwidgets.training.session import TrainingSession


class Fixes:
    """A verdict's fix is applied once (from any view, or by ``on_diverge``); a blow-up's verdict
    about steps before the last fix applied is not offered (:meth:`stale`)."""

    def __init__(self, session: TrainingSession, kept_best: BestWeights) -> None:
        self.session = session
        self._kept_best = kept_best
        self._rewinds = Rewinds(session.controller.recorder.guard)
        #: the verdicts whose own fix was applied (compared by identity: held here, so none is
        #: mistaken for a later one), and the history step the last fix of a blow-up's verdict was
        #: asked at: a blow-up's verdict about steps before it comes from rows read behind the fit,
        #: that blow-up already acted on
        self._applied: list[Diagnosis] = []
        self._fixed_at: int | None = None
        self._apply_lock = threading.RLock()  # a check, then the request: two views' clicks, on_diverge

    def offers(self, verdict: Diagnosis) -> bool:
        """Whether ``verdict``'s fix can still be applied (a view disables its button when not): it
        has one, not applied yet (from any view, or by ``on_diverge``), not a blow-up's verdict about
        steps before a fix applied since (:meth:`stale`), not a ``rewind`` whose state a later
        verdict or a later fit dropped, and not a ``restore_best`` of an epoch no longer the best kept."""
        fix = verdict.action
        if fix is None or self._was_applied(verdict) or self.stale(verdict):
            return False
        if fix.kind == "restore_best":  # a later best replaced the epoch it names
            return fix.epoch is None or fix.epoch == self.best_epoch
        return fix.kind != "rewind" or self._rewinds.kept(fix)

    def _was_applied(self, verdict: Diagnosis) -> bool:
        return any(done is verdict for done in self._applied)

    def _refuse_again(self, verdict: Diagnosis, fix: Fix) -> None:
        """The verdict's own fix, refused when applied already or when its blow-up was acted on
        since (another fix given is the caller's choice)."""
        if fix != verdict.action:
            return
        if self._was_applied(verdict):
            raise ValueError(f"The `{verdict.kind}` verdict's fix was applied already. Received: fix={fix!r}")
        if self.stale(verdict):
            raise ValueError(
                f"The `{verdict.kind}` verdict is about steps before the fix of a blow-up asked at step"
                f" {self._fixed_at}: that blow-up was acted on then. Received: fix={fix!r}"
            )

    def _mark_applied(self, verdict: Diagnosis, step: int) -> None:
        """``verdict``'s fix applied, asked at history step ``step``: a blow-up's verdicts about
        steps before it are then stale (a raise for `too_slow` acts on no blow-up)."""
        self._applied.append(verdict)
        if verdict.kind in BLOW_UPS:
            self._fixed_at = step

    def stale(self, verdict: Diagnosis) -> bool:
        """Whether ``verdict`` is a blow-up's (``diverging``, ``spiked``, ``collapsed``) about steps
        before the last fix of a blow-up's verdict applied: verdicts come from rows read behind the fit
        (at the snapshots' pace), so one can arrive after the fix of the same blow-up. It is
        recorded, not acted on, and its fix not offered (a second rewind would throw away what was
        trained since the first; a second lowering would lower the rate 100x)."""
        fixed_at = self._fixed_at
        return verdict.kind in BLOW_UPS and fixed_at is not None and verdict.last_step < fixed_at

    @property
    def best_epoch(self) -> int | None:
        """The epoch whose weights a ``restore_best`` fix puts back (None before any ``val_loss``):
        the best of the fits the diagnoser judges, not of a fit before the last one it began afresh
        on (reset weights), which its verdicts do not speak of."""
        best = self._kept_best.best()
        return None if best is None else best.epoch

    def apply(self, verdict: Diagnosis, fix: Fix | None = None, source: str = "diagnosis") -> str:
        """Carry out ``fix`` (default: the verdict's own) through the session; what was done."""
        if not isinstance(verdict, Diagnosis):
            raise TypeError(
                f"Argument `verdict` must be a Diagnosis (one of `diagnoses`). Received: verdict={verdict!r}"
            )
        if fix is not None and not isinstance(fix, Fix):
            raise TypeError(f"Argument `fix` must be a Fix, or None for the verdict's own. Received: fix={fix!r}")
        check_name("source", source)
        fix = fix if fix is not None else verdict.action
        if fix is None:
            raise ValueError(f"The `{verdict.kind}` verdict has no fix to apply.")
        s = self.session
        if fix.kind in ("set_learning_rate", "rewind"):
            return self._set_rate(verdict, fix, source)
        if fix.kind == "stop":
            with self._apply_lock:
                self._refuse_again(verdict, fix)
                s.stop()
                s.controller.recorder.event("action", f"stopped ({source}: {verdict.kind})")
                self._mark_applied(verdict, s.history.num_steps)  # a later verdict on its blow-up: stopped already
            return "stopped"
        with self._apply_lock:
            description = self._restore_best(verdict, fix, source)
            self._applied.append(verdict)
        return description

    def _restore_best(self, verdict: Diagnosis, fix: Fix, source: str) -> str:
        """Put back the best epoch's weights: now when idle, else once the fit has stopped."""
        self._refuse_again(verdict, fix)
        s = self.session
        best = self._kept_best.best()
        if best is None:
            raise ValueError("No weights were kept: a `restore_best` fix needs `val_loss` and `keep_best=True`.")
        _, weights, epoch, step = best
        if fix.epoch is not None and fix.epoch != epoch:
            raise ValueError(
                f"Argument `fix` restores epoch {fix.epoch}'s weights, which are not kept: only those of epoch"
                f" {epoch} (the best `val_loss`, kept at step {step}) are. Received: fix={fix!r}"
            )
        description = f"restored the weights of epoch {epoch} (kept at step {step}; {source}: {verdict.kind})"

        def restore() -> None:
            s.submit(lambda model: model.set_weights(weights), description=description)

        if not s.running:
            restore()
            return description
        s.stop()
        run = s.run

        def after_stop() -> None:  # restored once the fit has ended: no further step moves them
            if run is not None:
                with contextlib.suppress(Exception):  # the fit's own error is in the history already
                    run.wait()
            restore()

        threading.Thread(target=after_stop, name="lrwidgets-restore", daemon=True).start()
        return description

    def _set_rate(self, verdict: Diagnosis, fix: Fix, source: str) -> str:
        """Carry out a ``set_learning_rate`` or ``rewind`` fix: for the next batch of a running fit,
        in one request (a rewind's state and its rate: no batch between them), else now; what was
        done. The verdict's own fix is refused when applied already, or its blow-up acted on since."""
        assert fix.learning_rate is not None
        s = self.session
        with self._apply_lock:
            rewind = self._rewinds.action(fix) if fix.kind == "rewind" else None  # its state first
            self._refuse_again(verdict, fix)
            said = describe(verdict, fix, source) if fix.kind == "rewind" else ""
            # Marked first: carried out idle, the views are drawn from within (their buttons disabled)
            asked_at, before = s.history.num_steps, (self._fixed_at, len(self._applied))
            self._mark_applied(verdict, asked_at)
            if rewind is not None:
                self._rewinds.spend(fix, asked_at)
            try:
                queued = s.controller.queue_for_next_batch(fix.learning_rate, source, rewind, said)
                if not queued:  # idle: now
                    if rewind is not None:
                        s.submit(rewind, said)
                    s.set_learning_rate(fix.learning_rate, source=source)
            except BaseException:  # refused (a rate a schedule holds at 0, a model another session trains)
                self._fixed_at = before[0]
                del self._applied[before[1] :]
                if rewind is not None:
                    self._rewinds.spend(fix, None)
                raise
        done = f"learning rate set to {fix.learning_rate:.3g}"
        if fix.kind == "rewind":
            done = f"{said}; {done}"
        return f"{done} (at the next batch)" if queued else done
