"""What a diagnosis says: the kinds of verdict, a verdict (:class:`Diagnosis`) with its evidence and
advice, and its one-click fix (:class:`Fix`). The detectors (:mod:`lrwidgets.core.detectors` and its
siblings) make them; :class:`lrwidgets.core.diagnosis.Diagnoser` runs the detectors."""

from __future__ import annotations

import math
from dataclasses import dataclass

from lrwidgets.core.checks import check_choice, check_float, check_int

KINDS = (
    "nan", "diverging", "spiked", "collapsed", "oscillating", "unstable", "too_slow", "plateau", "overfitting",
)  # fmt: skip
#: Verdicts that say the rate is too large.
TOO_LARGE = ("nan", "diverging", "spiked", "collapsed", "oscillating", "unstable")
FIX_KINDS = ("set_learning_rate", "rewind", "restore_best", "stop")
#: The evidence key of a ``too_slow`` verdict after a raise that made the batches noisier but the
#: loss fall no faster: the rate before that raise. It advises no further raise, and mutes nothing.
RAISE_FAILED = "rate_before"


@dataclass(frozen=True)
class Fix:
    """What the one-click fix of a verdict does.

    ``set_learning_rate``: set the rate to ``learning_rate``; ``rewind``: put back the weights and
    optimizer state kept before the batch of history step ``step`` (the last healthy state before a
    blow-up) and set the rate to ``learning_rate``, training going on; ``restore_best``: stop and put
    back the weights of epoch ``epoch`` (0-based, as Keras counts; None: the best epoch kept);
    ``stop``: stop training.
    """

    kind: str
    learning_rate: float | None = None
    epoch: int | None = None
    step: int | None = None

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, FIX_KINDS)
        # The rate to set, present (the detectors' own value: not converted here). A `restore_best`
        # with no epoch restores the best epoch kept.
        if self.kind in ("set_learning_rate", "rewind") and self.learning_rate is None:
            raise ValueError(f"Argument `learning_rate` is needed by a '{self.kind}' fix. Received: learning_rate=None")
        if self.kind == "rewind" and self.step is None:
            raise ValueError("Argument `step` is needed by a 'rewind' fix. Received: step=None")
        if self.step is not None:
            if self.kind != "rewind":
                raise ValueError(f"Argument `step` is only for a 'rewind' fix. Received: step={self.step!r}")
            check_int("step", self.step, ge=0)
        if self.learning_rate is not None:
            if self.kind not in ("set_learning_rate", "rewind"):
                raise ValueError(
                    f"Argument `learning_rate` is only for a 'set_learning_rate' or 'rewind' fix. "
                    f"Received: learning_rate={self.learning_rate!r}"
                )
            check_float("learning_rate", self.learning_rate, gt=0)
        if self.epoch is not None:
            if self.kind != "restore_best":
                raise ValueError(f"Argument `epoch` is only for a 'restore_best' fix. Received: epoch={self.epoch!r}")
            check_int("epoch", self.epoch, ge=0)

    @property
    def label(self) -> str:
        """A button label: ``set the rate to 3.0e-03``, ``rewind to step 420, rate 3.0e-03``,
        ``stop and restore epoch 12``, ``stop training``."""
        if self.kind == "set_learning_rate":
            return f"set the rate to {self.learning_rate:.1e}"
        if self.kind == "rewind":
            return f"rewind to step {self.step}, rate {self.learning_rate:.1e}"
        if self.kind == "restore_best":
            return "stop and restore the best epoch" if self.epoch is None else f"stop and restore epoch {self.epoch}"
        return "stop training"


@dataclass(frozen=True)
class Diagnosis:
    """One verdict: what is wrong, over which steps, the numbers that show it, and what to do.

    ``first_step``/``last_step`` are history steps (0-based, as on the plots); ``evidence`` holds
    the measured values the verdict rests on; ``message`` states them; ``advice`` says what to do
    in numbers; ``action`` is the one-click fix (None when there is none to offer).
    """

    kind: str
    first_step: int
    last_step: int
    evidence: dict[str, float]
    message: str
    advice: str
    action: Fix | None = None

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, KINDS)
        first = check_int("first_step", self.first_step, ge=0)
        check_int("last_step", self.last_step, ge=first)
        for name in ("message", "advice"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Argument `{name}` must be a str. Received: {name}={getattr(self, name)!r}")
        if self.action is not None and not isinstance(self.action, Fix):
            raise TypeError(f"Argument `action` must be a Fix or None. Received: action={self.action!r}")

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}; {self.advice}"


def rate_fix(value: float) -> Fix | None:
    """The fix that sets the rate to ``value``: None where the rate it was computed from was not a
    finite positive number (no rate to advise)."""
    return Fix("set_learning_rate", value) if math.isfinite(value) and value > 0 else None


def rate_text(value: float) -> str:
    """A learning rate as advice writes it: two significant digits (``3e-03``, ``0.3``)."""
    return f"{value:.2g}"
