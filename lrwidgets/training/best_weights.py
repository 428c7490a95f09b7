"""The weights of the best ``val_loss`` epoch, kept for an ``overfitting`` verdict's ``restore_best`` fix.

Kept by a session's :class:`~lrwidgets.Diagnostician`, at each epoch's end (the training thread);
read by its fix (any thread).
"""

from __future__ import annotations

import math
import threading
from typing import Any, NamedTuple


class Best(NamedTuple):
    """A kept epoch: its ``val_loss``, its weights, its epoch (as Keras counts it in its fit) and the
    history step it ended at."""

    val_loss: float
    weights: list[Any]
    epoch: int
    step: int


class BestWeights:
    """The best ``val_loss`` epoch's weights of the fits a diagnosis judges: two copies at most, the
    current fit's best and, when better, the earlier fits' (dropped together when a fit is
    diagnosed on its own, :meth:`drop_before`). Fits are named by their first history step."""

    def __init__(self, enabled: bool = True) -> None:
        #: whether epochs are kept (False: a ``restore_best`` fix has nothing to put back)
        self.enabled = enabled
        self._lock = threading.Lock()
        self._bests: dict[int, Best] = {}

    def keep(self, model: Any, val_loss: Any, epoch: int, step: int, fit: int) -> None:
        """Copy the weights if ``val_loss`` is a new best of the fit starting at ``fit``."""
        if not (self.enabled and isinstance(val_loss, float) and self._improves(val_loss, fit)):
            return
        best = Best(val_loss, model.get_weights(), epoch, step)
        with self._lock:
            earlier = min(
                ((k, b) for k, b in self._bests.items() if k != fit), key=lambda kb: kb[1].val_loss, default=None
            )
            self._bests = (
                {fit: best} if earlier is None or earlier[1].val_loss >= val_loss else dict([earlier, (fit, best)])
            )

    def _improves(self, val_loss: float, fit: int) -> bool:
        """Whether ``val_loss`` is finite and better than the best kept of the fit starting at ``fit``."""
        kept = self._bests.get(fit)
        return math.isfinite(val_loss) and (kept is None or val_loss < kept.val_loss)

    def best(self) -> Best | None:
        """The best epoch kept (None before any ``val_loss``)."""
        with self._lock:
            kept = list(self._bests.values())
        return min(kept, key=lambda b: b.val_loss, default=None)

    def drop_before(self, fit_start: int) -> None:
        """Forget the fits before the one starting at ``fit_start`` (diagnosed on its own)."""
        with self._lock:
            self._bests = {k: b for k, b in self._bests.items() if k >= fit_start}


def best_weights_callback(keep: Any) -> Any:
    """A Keras callback calling ``keep(model, epoch, logs)`` at each epoch's end."""
    import keras

    class KeepBestWeights(keras.callbacks.Callback):
        """Keeps the weights of the best ``val_loss`` epoch, at its end (for a ``restore_best`` fix)."""

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            keep(self.model, epoch, logs or {})

    return KeepBestWeights()
