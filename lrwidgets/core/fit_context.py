"""What the detectors know about a fit beside its losses: the model's classes, the batches'
size and weights, the labels' largest share (:class:`Context`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lrwidgets.core.loss_track import LossTrack


def starts_where_it_ended(first_loss: float, level: float, factor: float) -> bool:
    """Whether a fit whose first batch loss is ``first_loss`` continues the last one, which ended at
    the smoothed ``level``: within ``factor`` x it (a rate raised between two fits is judged against
    what the model had reached), not far above (reset weights, another model: judged on its own)."""
    return math.isfinite(level) and first_loss <= factor * max(level, 0.0)


@dataclass
class Context:
    """The track, plus what is known about the model (its number of classes, for chance accuracy)."""

    track: LossTrack
    num_classes: int | None = None
    last_epoch: dict[str, float] = field(default_factory=dict)
    #: the fit weighs its samples (``class_weight``, ``sample_weight``): set by the Diagnostician
    weighted: bool = False
    #: batches a row covers (``steps_per_execution``: a row is the mean of that many): set by the Diagnostician
    batches_per_row: int = 1
    #: samples a batch, when known (a row's loss is the mean of ``batch_size x batches_per_row``)
    batch_size: int | None = None
    #: the loss is a regression's, unbounded above (MSE, MAE, Huber...): set by the Diagnostician
    regression: bool = False
    #: the largest class's share of the training labels, when known: set by the Diagnostician
    majority: float | None = None
    #: an output of a model of several is a 2-class one (a sigmoid's): judged as 2 classes are (spikes)
    binary: bool = False

    @property
    def samples_per_row(self) -> int | None:
        """Samples a row's loss is the mean of, when the batch size is known."""
        return None if not self.batch_size else self.batch_size * self.batches_per_row

    @property
    def chance(self) -> float | None:
        return None if not self.num_classes else 1.0 / self.num_classes

    @property
    def collapse_veto(self) -> float:
        """The accuracy above which a flat loss is no collapse: twice chance, or halfway from the
        labels' largest share (:attr:`majority`; a constant prediction scores it at most) to 1 where
        known and twice chance is not above it (with 2 classes it is 1, never exceeded). Binary fits
        on 63/37 data got ``collapsed`` at 0.84-0.95 accuracy (bar 0.815 now)."""
        bar = 2.0 / self.num_classes if self.num_classes else math.inf
        m = self.majority
        return (1.0 + m) / 2 if m is not None and (self.num_classes == 2 or m >= bar) else bar

    @property
    def untrained_loss(self) -> float:
        """The untrained model's loss, which the rules' gaps and bands are shares of: the fit's first
        batch loss (``LossTrack.initial``), or for a classifier whose first loss is under half of
        ln(classes) (a trained model in a new session: fine-tuned, loaded) ln(classes), a uniform
        guess's loss. Scaled by a trained model's tiny first loss, they collapsed: a classifier at
        98% accuracy got ``oscillating`` at Adam 1e-3 and ``unstable`` while it improved. Also
        ln(classes) when the first row was already blown up (:attr:`first_row_blown`)."""
        initial, classes = self.track.initial, self.num_classes or 0
        trained = classes >= 2 and initial < 0.5 * math.log(classes)
        return math.log(classes) if trained or self.first_row_blown else initial

    @property
    def first_row_blown(self) -> bool:
        """Whether the fit's first row, a mean of several batches (``batches_per_row`` > 1) of which
        only the first ran before an update, stands above 2 x ln(classes) (a classifier's): Adam 1.0
        on the digits MLP with ``steps_per_execution=4`` made it 10.9 (then ~14.5; ln 10 = 2.30), and
        that row, read as the untrained loss, hid the blow-up (no verdict; with 8, `too_slow`). A
        classifier fed raw inputs, whose untrained loss can stand that high, then gets no `too_slow`."""
        classes = self.num_classes or 0
        return self.batches_per_row > 1 and classes >= 2 and self.track.initial > 2 * math.log(classes)

    @property
    def judges_spikes(self) -> bool:
        """Whether the rules that read single batches far above the loss judge this fit: a
        classifier's (a regression's heavy-tailed batch losses spike at good rates), its samples
        not weighted (a batch of heavy samples stands far above the rest at any rate)."""
        return (self.num_classes or 0) >= 2 and not self.weighted

    @property
    def judges_spread(self) -> bool:
        """Whether ``unstable`` judges this fit: :attr:`judges_spikes`, with 3 classes or more (with 2,
        a wrong sample in 32 moves a batch past its gaps, shares of ln 2: ``oscillating``'s is 3x)."""
        return self.judges_spikes and (self.num_classes or 0) >= 3 and not self.binary
