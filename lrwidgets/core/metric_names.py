"""Which way a metric is better, told by its log name where Keras does not say (pure: no Keras).

Keras marks its own metrics' direction (what its callbacks read in mode ``"auto"``; read from a
model by ``training._step_logs.metric_directions``). A name is all there is for a metric Keras
does not mark, for a sweep's rows once the trials are over, and for a model not yet built: the
sweep ranks by it and the range test refuses a monitor better higher by it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Words of names where lower is better: those Keras itself marks so, its counts of errors
# (`false_negatives`, `false_positives`, which it leaves unmarked) and the usual names of custom
# ones (`nll`, `perplexity`; `rmse` holds `mse`).
LOWER = (
    *("loss", "error", "crossentropy", "hinge", "divergence", "logcosh", "poisson", "mae", "mse", "mape", "msle"),
    *("false_negatives", "false_positives", "nll", "perplexity"),
)

# Names that end in a metric better higher (Keras's, with any prefix: `val_`, an output's name,
# `top_k_categorical_`, `sparse_`): they say what was measured, whatever words come before.
HIGHER = re.compile(r"(.*_)?(acc|accuracy|auc|precision|recall|f1_score|fbeta_score|iou|r2_score)")


#: The log names of a one-output classifier's accuracy, in the order read (Keras logs the name given).
ACCURACY = ("accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy")


def accuracy_of(logs: Mapping[str, float]) -> float | None:
    """A classifier's accuracy in an epoch's ``logs``: the first of :data:`ACCURACY` logged, or None."""
    return next((logs[k] for k in ACCURACY if k in logs), None)


def better_by_name(metric: str) -> str | None:
    """``"higher"`` when ``metric`` (a log name, ``val_`` prefix or not) ends in the name of a
    metric better higher, else ``"lower"`` when it holds a word of a loss or a count of errors,
    else None (the name does not say: each caller has its own default).

    Example:
        >>> better_by_name("val_sparse_categorical_accuracy"), better_by_name("error_code_accuracy")
        ('higher', 'higher')
        >>> better_by_name("val_loss"), better_by_name("false_positives"), better_by_name("true_positives")
        ('lower', 'lower', None)
    """
    name = metric.removeprefix("val_")
    if HIGHER.fullmatch(name):
        return "higher"
    if any(word in name for word in LOWER):
        return "lower"
    return None
