"""The notes a session's fit records as it is set up (``info`` events under the fit, before its
first step): what drives its rate, and what its data lets lrwidgets know of its batches' losses."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lrwidgets.training import _state
from lrwidgets.training.fit_args import MOVING_SHORT_BATCH, SHORT_BATCH_MOVES, FitArguments

if TYPE_CHECKING:
    from lrwidgets.training.controller import TrainingController

Note = Callable[..., None]  # note(message, source=None)


def rate_notes(
    controller: TrainingController, schedule: Any, plateau: Any, standing: Any, alone: bool, note: Note
) -> None:
    """The schedule set for the fits to come that this fit follows (``standing``, when no ``schedule`` is
    given), what a schedule's steps are when the optimizer accumulates gradients, and a ``plateau`` whose
    ``initial_learning_rate`` is not used (``alone``: it acts on the rate as set)."""
    follows = standing is not None and standing.schedule is not None  # a designer's edit, or `set_schedule`
    if follows:
        drives = "`plateau`: its reductions act on" if plateau is not None else "this fit follows"
        what = standing.describe(plateau=plateau is None)
        instead = ", in place of its own plateau" if plateau is not None and standing.has_plateau else ""
        note(
            f"{drives} the schedule set for the fits to come ({what}), from its step 0{instead}"
            " (give a fit `schedule=` to run another)"
        )
    accumulating = _state.accumulation_note(controller.model)
    if accumulating and (schedule is not None or follows):
        note(accumulating)
    start = getattr(plateau, "initial_learning_rate", None)  # alone: over the rate as set; else the schedule's
    rate = controller.learning_rate if alone else None if schedule is None else controller.driver.rate(0)
    if start is not None and rate is not None and _state.float32(start) != _state.float32(rate):
        note(
            f"`plateau`'s initial_learning_rate ({start:.3g}) is not used: its reductions act on "
            + ("the rate as set" if alone else "the schedule given, from")
            + f" ({rate:.3g}){'; give it as `schedule=` to start there' if alone else ''}"
        )


def batch_notes(bound: FitArguments, custom: bool, note: Note) -> None:
    """How exact the loss of an epoch's short last batch is: its data's batch sizes not known before the
    fit, or (``custom``: the model's own ``train_step``) means whose weighting lrwidgets cannot know."""
    if not bound.exact_batches:
        moves = bound.short_batch_moves
        note(
            MOVING_SHORT_BATCH.get(
                moves,
                "the sizes of this data's batches are not known before the fit: the loss of a short last"
                " batch of an epoch is recovered as if it were full (approximate)",
            ),
            SHORT_BATCH_MOVES if moves else None,
        )
    elif custom and bound.samples is not None and bound.batch_size is not None and bound.samples % bound.batch_size:
        # keras.io's train steps log `keras.metrics.Mean().update_state(loss)`: a mean over batches,
        # each weighing the same whatever its size, unlike Keras's own step (a mean over samples).
        note(
            "the model's own `train_step` logs means whose weighting lrwidgets cannot know: each batch is"
            " weighed the same (exact for `keras.metrics.Mean` trackers, as on keras.io), so the loss of"
            " a short last batch of an epoch may be approximate"
        )
