"""Diagnostics on the loss curve: non-finite values and divergence."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from lrwidgets.core.checks import check_bool, check_float, check_int, check_real, received
from lrwidgets.core.smoothing import EmaSmoother


class MonitorState(NamedTuple):
    """What a :class:`DivergenceMonitor` carries from one loss to the next."""

    acc: float  #: the EMA's accumulator and weight (``EmaSmoother.state()``)
    weight: float
    steps: int  #: losses fed
    smoothed: float  #: the smoothed loss after the last one
    best: float
    floor: float
    above: int  #: steps in a row above the threshold
    flagged: bool
    initial: float = math.nan  #: the first finite loss fed (NaN before it)
    recent: tuple[float, ...] = ()  #: the last ``TRIM`` finite losses fed (fewer before), oldest first


#: How many of the last batch losses the rule looks at besides the smoothed loss, and how many of
#: them must stand above ``sqrt(factor)`` x the reference for a run of steps above to be a divergence.
TRIM = 5
TRIM_ABOVE = 3


def small_batch_gap(samples: int | None) -> float:
    """The least rise of a classifier's smoothed loss that counts as a divergence, for rows of
    ``samples`` samples (None: not known, 0): ``4 / samples``, what confidently wrong samples (a
    cross-entropy clipped at 1e-7 by Keras: up to 16.1 each) in one batch of four lift a smoothed
    loss by; never more than half the first loss (:attr:`DivergenceMonitor.least_rise`: a loss back
    at untrained is a divergence at any batch size). It binds where ``min_rise`` x the untrained loss
    is smaller: 2 classes below 24 samples (0.25 x ln 2 = 0.17), 10 classes below 7."""
    return 4.0 / samples if samples else 0.0


def held_up(recent: Sequence[float], bar: float) -> bool:
    """Whether ``recent`` (:data:`TRIM` batch losses; fewer: True) has :data:`TRIM_ABOVE` above ``bar``."""
    return len(recent) < TRIM or sum(v > bar for v in recent) >= TRIM_ABOVE


class DivergenceMonitor:
    """Flags a loss that has risen far above its best smoothed value, and stays there.

    The smoothed loss ``s`` (debiased EMA) is compared with a reference: its lowest value after the warm-up,
    but never less than ``noise_floor`` times its value at the end of the warm-up (a loss that
    fell a thousandfold and wobbles near zero is converged, not diverging). A step is *above*
    when ``s > factor * reference`` and ``s - reference > min_rise * initial``, ``initial`` being
    the first finite loss fed (an untrained model's loss, in a fit from fresh weights; a negative
    one sets no gap): a rise that is large against the best but small against what the model has
    learned (a loss near zero that bursts from 0.02 to 0.15 and comes back) is not a divergence.
    The run diverges when ``patience`` steps in a row are above, after ``warmup_steps``, and 3 of
    the last 5 batch losses (``TRIM_ABOVE`` of ``TRIM``) stand above ``sqrt(factor)`` x the reference:
    one batch far out (a target far out in a regression with heavy tails) lifts ``s`` above the bar
    for a dozen steps, a loss that blows up (steadily or bouncing) lifts its batches. It
    reports once, and re-arms only when ``s`` comes back under ``sqrt(factor) * reference`` or
    within ``min_rise / 2 * initial`` of it (hysteresis: noise around the threshold does not flag
    again and again).

    Args:
        factor: ratio to the reference that counts as diverging (> 1).
        smoothing: EMA coefficient in [0, 1).
        warmup_steps: steps to ignore at the start (early losses are noisy).
        patience: steps in a row above the threshold before the run is flagged (>= 1).
        noise_floor: the reference is at least this fraction of the smoothed loss after warm-up.
        min_rise: a step is above only when ``s`` is also more than this fraction of the first
            loss above the reference (0: the ratio alone). Measured (``benchmarks/RESULTS.md``,
            2026-12-04 22:15 and 2026-12-05): the diagnosis sweep's bursts that came back on their own
            (BatchNorm MLPs, plain SGD at its best rate, on digits) were flagged by the ratio alone in
            10 runs; 0.25 spares 9 of them from their recorded losses (the 10th rose 0.587 above its
            best against a bar of 0.578) and all 10 in the sweep's own run; a rate raised 20-1000x
            mid-fit sent the loss to ~14, past both bars within the same steps.

    Example:
        >>> m = DivergenceMonitor(factor=2.0, smoothing=0.0, warmup_steps=0)
        >>> [m.update(x) for x in (1.0, 0.5, 0.9, 1.2, 0.4)]
        [False, False, False, True, False]
    """

    def __init__(
        self,
        factor: float = 4.0,
        smoothing: float = 0.9,
        warmup_steps: int = 20,
        patience: int = 1,
        noise_floor: float = 1e-2,
        min_rise: float = 0.25,
    ) -> None:
        self.factor = check_float("factor", factor, gt=1)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, ge=0)
        self.patience = check_int("patience", patience, ge=1)
        self.noise_floor = check_float("noise_floor", noise_floor, ge=0, lt=1)
        self.min_rise = check_float("min_rise", min_rise, ge=0)
        #: the least rise that counts, whatever the first loss (:func:`small_batch_gap`: a classifier's small batches)
        self.min_gap = 0.0
        # the first finite loss fed; set from an earlier fit's monitor when a fit carries on from it,
        # so that the gap stays a share of the untrained model's loss
        self.initial = math.nan
        self._smoother = EmaSmoother(smoothing)
        self._best = math.inf
        self.smoothed = math.nan  # the smoothed loss after the last update
        self._floor = 0.0
        self._steps = 0
        self._above = 0
        self._flagged = False
        self._recent: list[float] = []  # the last TRIM finite losses, oldest first

    @property
    def best(self) -> float:
        """Lowest smoothed loss so far."""
        return self._best

    @property
    def smoothing(self) -> float:
        return self._smoother.smoothing

    def state(self) -> MonitorState:
        """The state :meth:`load_state` takes to carry on from here."""
        acc, weight = self._smoother.state()
        above, flagged, recent = self._above, self._flagged, tuple(self._recent)
        return MonitorState(
            acc, weight, self._steps, self.smoothed, self._best, self._floor, above, flagged, self.initial, recent
        )

    def load_state(self, state: MonitorState) -> None:
        """Carry on from ``state`` (as :meth:`update` would have left it: the same rule run elsewhere)."""
        if not isinstance(state, MonitorState):
            raise TypeError(f"Argument `state` must be a MonitorState (from `state()`). {received('state', state)}")
        check_int("steps", state.steps, ge=0)
        check_int("above", state.above, ge=0)
        check_bool("flagged", state.flagged)
        for name in ("smoothed", "best", "floor"):  # NaN before the first loss, inf before the warm-up's end
            check_real(name, getattr(state, name))
        initial = check_real("initial", state.initial)
        if math.isinf(initial):
            raise ValueError(
                "Argument `initial` must be finite, or NaN before the first finite loss. "
                + received("initial", initial)
            )
        recent = state.recent
        if (
            not isinstance(recent, tuple)
            or len(recent) > TRIM
            or not all(isinstance(v, float) and math.isfinite(v) for v in recent)
        ):
            raise ValueError(
                f"Argument `recent` must be a tuple of at most {TRIM} finite floats (the last losses fed)."
                f" {received('recent', recent)}"
            )
        self._smoother.load_state(state.acc, state.weight)
        self._recent = list(recent)
        self._steps, self.smoothed, self._best, self._floor = state.steps, state.smoothed, state.best, state.floor
        self._above, self._flagged, self.initial = state.above, state.flagged, initial

    @property
    def gap(self) -> float:
        """``min_rise`` x the first loss: how far above the reference ``s`` must also be to count (with
        :attr:`min_gap`: :attr:`least_rise`), and twice how close to it it re-arms (no min_gap there: no more
        re-arming than without it)."""
        initial = self.initial
        return self.min_rise * initial if initial > 0 else 0.0

    @property
    def least_rise(self) -> float:
        """How far above the reference ``s`` must be to count: the :attr:`gap`, or :attr:`min_gap` where
        larger, but that never more than half the first loss."""
        initial = self.initial
        return max(self.gap, min(self.min_gap, 0.5 * initial) if initial > 0 else self.min_gap)

    def update(self, loss: float) -> bool:
        """Feed one batch loss; True exactly when the run starts to diverge."""
        self._steps += 1
        if math.isfinite(loss):
            if self.initial != self.initial:  # NaN: no finite loss before this one
                self.initial = loss
            recent = self._recent
            recent.append(float(loss))
            if len(recent) > TRIM:
                del recent[0]
        s = self.smoothed = self._smoother.update(loss)
        if not math.isfinite(s):
            return False
        if self._steps <= self.warmup_steps:
            return False  # nor is the best taken from them: an early EMA is a handful of batches
        self._best = min(self._best, s)
        if not self._floor:
            self._floor = self.noise_floor * max(s, 0.0)
        reference = max(self._best, self._floor)
        if reference <= 0:
            return False
        gap = self.gap
        if self._flagged:
            if s < math.sqrt(self.factor) * reference or s - reference < 0.5 * gap:
                self._flagged = False
                self._above = 0
            return False
        self._above = self._above + 1 if s > self.factor * reference and s - reference > self.least_rise else 0
        if self._above >= self.patience and held_up(self._recent, math.sqrt(self.factor) * reference):
            self._flagged = True
            return True
        return False

    def _held_up(self, values: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """:func:`held_up` at each of ``values`` (fed after the losses kept so far), against ``bars``."""
        finite = np.isfinite(values)
        recent = np.asarray(self._recent, dtype=np.float64)
        kept = np.concatenate([recent, values[finite]])
        if not len(kept):
            return np.ones(len(values), dtype=bool)
        newest = len(recent) + np.cumsum(finite) - 1  # in `kept`, the newest loss at each value (-1: none)
        padded = np.concatenate([np.full(TRIM - 1, math.nan), kept])
        windows = np.lib.stride_tricks.sliding_window_view(padded, TRIM)[np.maximum(newest, 0)]
        with np.errstate(invalid="ignore"):
            above = (windows > bars[:, None]).sum(axis=1)
        return (newest < TRIM - 1) | (above >= TRIM_ABOVE)

    def update_many(self, losses: Sequence[float] | np.ndarray) -> list[tuple[int, float, float]]:
        """Feed many batch losses: ``(index, smoothed, best)`` where :meth:`update` would say True.

        The same verdicts, values and state as ``update`` called once per loss (a best or floor of
        exactly zero may differ in its sign): the EMA in one loop over local names
        (:meth:`EmaSmoother.update_many`), the rule over the whole run in numpy, with a Python step
        only where its state changes (a divergence flagged or re-armed). A recorder scans a few
        hundred new steps at a time; each change costs a pass over the rest of them, so a loss
        that flags and re-arms every few steps costs more than one loop would.
        """
        values = np.asarray(losses, dtype=np.float64)
        s = np.asarray(self._smoother.update_many(values), dtype=np.float64)
        n = len(s)
        if not n:
            return []
        gap: float | np.ndarray = self.gap
        rise: float | np.ndarray = self.least_rise
        if self.initial != self.initial:
            finite = np.flatnonzero(np.isfinite(values))
            if len(finite):  # set at that loss: `update` uses no gap before it (and min_gap uncapped)
                self.initial = float(values[finite[0]])
                gap = np.where(np.arange(n) >= finite[0], self.gap, 0.0)
                rise = np.where(np.arange(n) >= finite[0], self.least_rise, self.min_gap)
        with np.errstate(invalid="ignore", over="ignore"):
            valid = np.isfinite(s) & (np.arange(self._steps + 1, self._steps + n + 1) > self.warmup_steps)
            # `update`'s best and floor at each step (the floor: set at the first valid step where it
            # is not 0, then kept), and the reference they make.
            best = np.minimum(np.minimum.accumulate(np.where(valid, s, math.inf)), self._best)
            floor = np.full(n, self._floor)
            if not self._floor:
                candidates = self.noise_floor * np.maximum(s, 0.0)
                set_at = np.flatnonzero(valid & (candidates != 0))
                if len(set_at):
                    floor[set_at[0] :] = candidates[set_at[0]]
            reference = np.where(best > floor, best, floor)
            ruled = np.flatnonzero(valid & (reference > 0))  # the steps the rule looks at
            up = ((s > self.factor * reference) & (s - reference > rise))[ruled]
            back = ((s < math.sqrt(self.factor) * reference) | (s - reference < 0.5 * gap))[ruled]
            held = self._held_up(values, math.sqrt(self.factor) * reference)[ruled]
        found = []
        above, flagged, pos = self._above, self._flagged, 0
        while pos < len(ruled):
            if flagged:  # re-armed at the first step back under sqrt(factor) x the reference or the half gap
                hits = np.flatnonzero(back[pos:])
                if not len(hits):
                    break
                flagged, above, pos = False, 0, pos + int(hits[0]) + 1
                continue
            k = np.arange(len(ruled) - pos)
            last_below = np.maximum.accumulate(np.where(up[pos:], -1, k))
            run = np.where(last_below < 0, k + 1 + above, k - last_below)  # steps above in a row
            hits = np.flatnonzero((run >= self.patience) & held[pos:])
            if not len(hits):
                above = int(run[-1])
                break
            j = int(hits[0])
            i = int(ruled[pos + j])
            flagged, above, pos = True, int(run[j]), pos + j + 1
            found.append((i, float(s[i]), float(best[i])))
        self._steps += n
        self._recent = [*self._recent, *values[np.isfinite(values)][-TRIM:].tolist()][-TRIM:]
        self._best, self._floor = float(best[-1]), float(floor[-1])
        self._above, self._flagged = above, flagged
        self.smoothed = float(s[-1])
        return found
