"""Whether a kept copy of a model's state is healthy, judged from the fit's batch losses (pure numpy).

The NaN guard (:class:`lrwidgets.training.nan_guard.NanGuard`) keeps copies of the weights and the
optimizer's state during a fit and confirms each from the batch losses recorded after it: these are
its rules, on the history's columns alone.
"""

from __future__ import annotations

import numpy as np

#: batch losses in each block whose median may be the fit's best
BEST_WINDOW = 64
#: batch losses in each running median over a fit's first steps, before a block is whole
FIRST_WINDOW = 5
#: batch losses (the copy's and the next ones) whose median judges a copy
JUDGED_BATCHES = 16
#: a change of the rate between two batches by this factor or more (the diagnosis's ``rate_jump``)
#: ends the batches that judge a copy taken before it (:func:`judged_losses`)
RATE_JUMP = 1.5


def judged_losses(
    losses: np.ndarray, rates: np.ndarray, copy: int, step: int | None = None, floor: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """The batch losses that judge a copy taken for history step ``copy`` (its batch; ``step``: the
    first at or after it that returned a loss, default ``copy``), and, when a raise of the rate cut
    them short, the ones from the copy's batch to the raise's first batch (else None).

    They are the copy's own batch loss and the next ones, :data:`JUDGED_BATCHES` in all, but none
    after the first batch at a rate :data:`RATE_JUMP` x or more above the one before (that batch
    still computes its loss with weights the old rate made; the next ones judge the raised rate, not
    the copy); the batches before the copy, which made its weights, then fill in (none before
    ``floor``: the fit's first step, or the step of a rewind since, whose earlier batches are of the
    trajectory it left). A cut does not shorten them: a lower rate does not blow a healthy state
    up, and the batches after it still show one that was. A jump is a change between two batches:
    a ramp of smaller steps is judged as any rate. A copy taken as a rate was raised 1000x (at an
    epoch's start) was judged by the raised rate's blown-up batches, never confirmed, and a rewind
    went back to the copy before it, an epoch earlier. (With ``steps_per_execution`` > 1 a row is
    the mean of several batches, the copy's with the raised ones after it: still judged so.)

    Example:
        >>> losses = np.array([2.0, 1.9, 1.8, 1.7, 9.0, 14.0, 14.5])
        >>> rates = np.array([1e-3, 1e-3, 1e-3, 1.0, 1.0, 1.0, 1.0])  # raised at step 3
        >>> judged, upto = judged_losses(losses, rates, 3)  # step 3's own batch, then the ones before it
        >>> judged.tolist(), upto.tolist()
        ([2.0, 1.9, 1.8, 1.7], [1.7])
        >>> judged_losses(losses, rates, 1)[0].tolist()  # up to the raise's first batch
        [2.0, 1.9, 1.8, 1.7]
        >>> judged_losses(losses, rates[::-1].copy(), 1)[1] is None  # a cut: the batches after it judge
        True
    """
    step = copy if step is None else step
    ahead = rates[copy : copy + JUDGED_BATCHES].astype(np.float64)
    before = rates[copy - 1 : copy].astype(np.float64) if copy > 0 else ahead[:1]  # the last row's, any fit's
    ratio = np.concatenate([before, ahead])
    with np.errstate(divide="ignore", invalid="ignore"):
        raises = np.flatnonzero(ratio[1:] / ratio[:-1] >= RATE_JUMP)
    if not len(raises):
        return losses[step : step + JUDGED_BATCHES], None
    forward = losses[step : copy + int(raises[0]) + 1]  # empty when the raise came in a gap of no loss
    return np.concatenate([losses[max(floor, copy - (JUDGED_BATCHES - len(forward))) : copy], forward]), forward


def lowest_median(best: float, tail: np.ndarray, blocks: int, new: np.ndarray) -> tuple[float, np.ndarray, int]:
    """The fit's best after the finite losses ``new``: the lowest of ``best`` and the medians of the
    whole blocks of ``BEST_WINDOW`` losses they complete (after the ``tail`` of the last block),
    and the running medians of ``FIRST_WINDOW`` losses over the fit's first ``BEST_WINDOW - 1``
    (fewer at its very start: a fit of few steps, one an epoch, is judged from its first; a median
    of all so far would lag far above a fast fall and let a copy 80x above the best pass, the
    lowest single loss is too low in a trained model's noise). Blocks, not a running median: a
    running median over a fast fit's rows would cost ~1% of its time. Returns the new
    ``(best, tail, blocks)``."""
    values = np.concatenate([tail, new])
    whole = len(values) // BEST_WINDOW
    if not blocks and len(values):  # the fit's first steps: short medians (a block's would lag a fast fall)
        first = values[: BEST_WINDOW - 1]
        window = min(FIRST_WINDOW, len(first))
        best = min(best, float(np.median(np.lib.stride_tricks.sliding_window_view(first, window), axis=1).min()))
    if whole:
        medians = np.median(values[: whole * BEST_WINDOW].reshape(whole, BEST_WINDOW), axis=1)
        best, blocks, values = min(best, float(medians.min())), blocks + whole, values[whole * BEST_WINDOW :]
    return best, values, blocks
