"""A run of plain rows fed to a :class:`~lrwidgets.core.diagnosis.Diagnoser` in one loop (``step_many``).

:func:`feed_plain_rows` runs the per-step rules of ``diverging``, ``oscillating`` and ``plateau``
over a run of rows in one loop over local names, as long as none of them reports; the first rows
at each rate go row by row (``Diagnoser.step``) while ``spiked`` may still report. What it does
on each row is what ``LossTrack.update`` and those detectors' ``on_step`` do, with the same
arithmetic in the same order (``tests/test_diagnosis_runs.py`` checks it to the bit).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from lrwidgets.core.detectors import Detector, DivergingDetector
from lrwidgets.core.diagnostics import TRIM, MonitorState
from lrwidgets.core.verdicts import Diagnosis

if TYPE_CHECKING:
    from lrwidgets.core.curve_detectors import OscillatingDetector, PlateauDetector
    from lrwidgets.core.diagnosis import Diagnoser
    from lrwidgets.core.start_detector import SpikedDetector

__all__ = ["feed_plain_rows", "plain_rules", "start_rule"]


def plain_rules(
    every_step: Sequence[Detector],
) -> tuple[DivergingDetector | None, OscillatingDetector | None, PlateauDetector | None] | None:
    """The per-step rules that :func:`feed_plain_rows` runs inline (``diverging``, ``oscillating``, ``plateau``), or
    None when another one runs each step (then every row goes through ``Diagnoser.step``)."""
    from lrwidgets.core.curve_detectors import OscillatingDetector, PlateauDetector

    div, osc, plat = None, None, None
    start = start_rule(every_step)
    for det in every_step:
        if det is start:
            continue  # fed row by row while it is live (feed_plain_rows)
        if type(det) is DivergingDetector and div is None:
            div = det
        elif type(det) is OscillatingDetector and osc is None:
            osc = det
        elif type(det) is PlateauDetector and plat is None:
            plat = det
        else:
            return None
    return div, osc, plat


def start_rule(every_step: Sequence[Detector]) -> SpikedDetector | None:
    """The ``spiked`` detector among ``every_step`` (the first), which :func:`feed_plain_rows`
    leaves to ``Diagnoser.step`` while it is live: in the first steps at each rate."""
    from lrwidgets.core.start_detector import SpikedDetector

    return next((d for d in every_step if type(d) is SpikedDetector), None)


def feed_plain_rows(
    diagnoser: Diagnoser, step: int, rows: Iterator[tuple[float, float]], found: list[Diagnosis]
) -> tuple[int, tuple[float, float] | None]:
    """Feed ``diagnoser`` the plain rows of ``rows`` (history steps ``step`` on) in one loop over local names, their
    verdicts added to ``found``. Returns the step of the next row, with that row's ``(loss, learning_rate)`` when it
    is not plain (then not fed: the caller feeds it to ``Diagnoser.step``), or with None when ``rows`` ran out or
    after a row on which a window rule reported (the rules' muted and fired flags changed: the caller calls again).

    A plain row has a finite loss, no jump of the rate, no rise of it that unmutes the rules ``too_slow`` muted, no
    recomputation of the track's running sums, and no per-step rule reporting on it. On such a row this does what
    ``LossTrack.update`` and the ``on_step`` of ``diverging`` (``DivergenceMonitor.update``), ``oscillating`` and
    ``plateau`` do, with the same arithmetic in the same order, and calls the window rules when they are due, in the
    Diagnoser's order: the same verdicts and state, to the bit (``tests/test_diagnosis_runs.py`` checks it against
    ``Diagnoser.step`` on random curves). A row on which a per-step rule would report is left to ``Diagnoser.step``:
    each verdict is written in one place.
    """
    t = diagnoser.context.track
    rules, muted, rs, start = diagnoser._plain_rules, diagnoser._muted, t.rate_steps, diagnoser._start_rule
    live = start is not None and start.kind not in muted and start.live(diagnoser.context)
    if rules is None or live or rs != t._n or rs < t.head_steps or t._initial_count < t.initial_steps:
        return next(((step, (loss, rate)) for loss, rate in rows), (step, None))  # row by row
    div, osc, plat = rules
    div = None if div is None or div.kind in muted else div  # a muted rule is not called: its state stays
    osc = None if osc is None or osc.kind in muted else osc
    plat = None if plat is None or plat.kind in muted else plat
    # The track.
    b = t.smoothing
    c = 1 - b  # as LossTrack.update computes it
    acc, weight, steps, t_warm, best, best_step = t._acc, t._weight, t.steps, t.warmup_steps, t.best, t.best_step
    cur_rate, jump, rate_max, rate_max_step = t.learning_rate, diagnoser.rate_jump, t.rate_max, t.rate_max_step
    unmute_at = diagnoser._unmute_at  # a row at this rate or above unmutes rules: Diagnoser.step's
    ring, window, total, total_sq, t_rate_steps = t._ring, t.window, t._sum, t._sumsq, rs
    slot = rs % window
    # The row that brings `rate_steps` to `last + 1` recomputes the running sums: not plain. A
    # window rule that can still report is due when it brings it to `due` (Detector._due).
    last = (rs // (64 * window) + 1) * 64 * window - 1
    quarter = max(window // 4, 1)
    due = max(rs + 1, window)
    due += -due % quarter
    per_step = diagnoser._per_step
    if not any(d.windowed and not d.fired and d.kind not in muted for d in per_step):
        due = -1
    # `diverging`: DivergenceMonitor.update, fed the same losses: its EMA and step count are the track's.
    d_on, m_warm, m_best, floor, above, flagged = False, 0, 0.0, 0.0, 0, False
    factor, patience, noise_floor, gap, half_gap = 2.0, 1, 0.0, 0.0, 0.0
    if div is not None:
        m, ms = div.monitor, div.monitor.state()
        if (
            m.smoothing != b
            or (ms.acc, ms.weight, ms.steps) != (acc, weight, steps)
            or ms.initial != ms.initial
            or window < TRIM  # its last losses are read from the track's window
        ):
            return next(((step, (loss, rate)) for loss, rate in rows), (step, None))
        d_on, m_warm, m_best, floor, above, flagged = True, m.warmup_steps, ms.best, ms.floor, ms.above, ms.flagged
        factor, patience, noise_floor = m.factor, m.patience, m.noise_floor
        gap, half_gap = m.least_rise, 0.5 * m.gap  # the re-arming's half gap takes no min_gap (update)
    rearm = math.sqrt(factor)
    # `oscillating`: `before` is the smoothed loss before the row (OscillatingDetector.state()).
    before, in_spike, o_on, o_ratio, o_gap = t.smooth, False, False, 2.0, 0.0
    if osc is not None:
        (before, in_spike), o_on = osc.state(), not osc.fired and diagnoser.context.judges_spikes
        o_ratio, o_gap = osc.ratio, osc.spike_gap(diagnoser.context)
    # `plateau`: a new reference below `p_thr`; it reports from step `p_due` on.
    p_on, p_live, p_ref, p_ref_step, p_keep, p_patience, p_conv = False, False, math.inf, 0, 1.0, 0, 0.0
    if plat is not None:
        (p_ref, p_ref_step), p_on, p_live = plat.state(), True, not plat.fired
        p_keep, p_patience, p_conv = (
            1 - plat.min_delta,
            plat.patience,
            plat.converged * diagnoser.context.untrained_loss,
        )
    p_thr, p_due = p_ref * p_keep, p_ref_step + p_patience
    first, step = step, step - 1
    loss = rate = math.nan
    special = reported = False
    for loss, rate in rows:
        step += 1
        # x - x is NaN (true) for a NaN or infinite x, 0.0 (false) for a finite one.
        if loss - loss or rs == last:
            special = True
            break
        # A jump of the rate, or a rise to `unmute_at` (the rate before was below it: Diagnoser.step
        # unmutes at once, and a verdict that sets it ends this loop; an unchanged rate cannot reach it).
        if rate != cur_rate and (
            rate >= unmute_at
            or (
                cur_rate > 0
                and rate > 0
                and not cur_rate - cur_rate
                and (rate / cur_rate if rate > cur_rate else cur_rate / rate) >= jump
            )
        ):
            special = True
            break
        a = b * acc + c * loss
        w = b * weight + c  # > 0, as c > 0
        s = a / w
        spike = in_spike
        if o_on and steps >= t_warm and not before - before:
            spike = loss > o_ratio * before and loss - before > o_gap
            if spike and not in_spike:
                special = True
                break
        new_ref = p_on and (s < p_thr or p_ref - p_ref != 0.0)
        if p_live and not new_ref and step >= p_due and not p_ref < p_conv:
            special = True
            break
        if d_on and steps >= m_warm and not s - s:
            new_best = s if s < m_best else m_best
            new_floor = floor or noise_floor * (0.0 if s < 0.0 else s)
            ref = new_floor if new_floor > new_best else new_best
            if ref > 0:
                if flagged:
                    if s < rearm * ref or s - ref < half_gap:
                        flagged, above = False, 0
                else:
                    count = above + 1 if s > factor * ref and s - ref > gap else 0
                    if count >= patience:
                        special = True
                        break
                    above = count
            m_best, floor = new_best, new_floor
        # No per-step rule reports: commit the row, the track first.
        acc, weight, cur_rate = a, w, rate
        steps += 1
        if steps > t_warm and s < best:
            best, best_step = s, step
        if loss > rate_max:
            rate_max, rate_max_step = loss, step
        if rs >= window:
            old = ring[slot]
            total -= old
            total_sq -= old * old
        ring[slot] = loss
        total += loss
        total_sq += loss * loss
        rs += 1
        slot = slot + 1 if slot + 1 < window else 0
        if rs == due:  # the window rules, in the Diagnoser's order, on the track as of this row
            t.load_state(
                step=step, smooth=s, acc=acc, weight=weight, steps=steps, best=best, best_step=best_step,
                learning_rate=cur_rate, rate_max=rate_max, rate_max_step=rate_max_step, rate_steps=rs, total=total,
                total_sq=total_sq,
            )  # fmt: skip
            for det in per_step:
                if det.kind in muted:  # muted by a verdict before it: not called (of the rules run
                    # inline, only plateau can be: Diagnoser._keep mutes MUTED_WHEN_TOO_LARGE)
                    new_ref = new_ref and det is not plat
                elif det.windowed and (verdict := det.on_step(diagnoser.context)) is not None:
                    diagnoser._keep(verdict, found)
                    reported = True
            due += quarter
        # The per-step rules.
        before, in_spike = s, spike
        if new_ref:
            p_ref, p_ref_step, p_thr, p_due = s, step, s * p_keep, step + p_patience
        if reported:  # muted or fired rules: this loop's view of them is out of date
            step += 1
            break
    else:
        step += 1  # no row left: `step` is the next one
    if step > first:  # rows were fed (the last one is `step - 1`): write their state back
        t.load_state(
            step=step - 1, smooth=before, acc=acc, weight=weight, steps=steps, best=best, best_step=best_step,
            learning_rate=cur_rate, rate_max=rate_max, rate_max_step=rate_max_step, rate_steps=rs, total=total,
            total_sq=total_sq,
        )  # fmt: skip
        if div is not None:  # the last losses fed: the newest of the track's window (all at this rate)
            fed = min(rs - t_rate_steps, TRIM)
            recent = (*ms.recent, *(float(ring[(rs - fed + j) % window]) for j in range(fed)))[-TRIM:]
            div.monitor.load_state(
                MonitorState(acc, weight, steps, before, m_best, floor, above, flagged, div.monitor.initial, recent)
            )
        if osc is not None:
            osc.load_state(before, in_spike)
        if plat is not None:
            plat.load_state(p_ref, p_ref_step)
    return step, (loss, rate) if special else None
