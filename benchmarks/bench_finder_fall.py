"""Does the range test's loss fall beyond its noise? The evidence that sets ``NO_FALL`` and ``WEAK_FALL``.

78 sweeps of ``LRRangeTest`` on bundled scikit-learn data, of three kinds, each at batch sizes 4,
8, 32 and 128 (100 steps) and 8 and 32 (300 steps):

- ``falls``: a model from fresh weights over a range in which it learns (the default 1e-7 to 10,
  or 1e-5 to 1e-1, 1e-4 to 10): a 64-unit MLP on digits with Adam, SGD, SGD with momentum and
  RMSprop, and on diabetes (a regression, MSE) with Adam;
- ``too low``: the same models over a range three decades wide far below any that trains (Adam
  1e-9 to 1e-6, SGD 1e-8 to 1e-5): the loss cannot fall in it;
- ``trained``: a model already trained (digits 20 epochs, diabetes 100), over the default range.
- Beside them: diabetes with SGD over the default range, which is flat until it diverges.

For each: the reason it ended, ``fall_evidence`` as ``fall / noise`` (how far running medians of
10 batch losses fell, from the highest before the lowest, against the batch-to-batch noise), what
``judge_fall`` says of it and the ``robust_valley`` suggestion (given whatever the verdict). Then
the same statistic on 300 curves of pure noise (the null), at 100, 300 and 1,000 steps.

Usage: ``KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_finder_fall.py`` (~2 minutes)
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np
from sklearn.datasets import load_diabetes, load_digits

from lrwidgets.core.fall import fall_evidence, judge_fall
from lrwidgets.core.suggestions import suggest
from lrwidgets.training import LRRangeTest


def data(regression: bool) -> tuple[np.ndarray, np.ndarray]:
    if regression:
        d = load_diabetes()
        y = (d.target - d.target.mean()) / d.target.std()
        return d.data.astype("float32"), y.astype("float32")
    d = load_digits()
    return (d.data / 16).astype("float32"), d.target


def model(optimizer: keras.optimizers.Optimizer, regression: bool = False, trained: int = 0) -> keras.Model:
    keras.utils.set_random_seed(0)
    x, y = data(regression)
    out = keras.layers.Dense(1) if regression else keras.layers.Dense(10, activation="softmax")
    m = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(64, activation="relu"), out])
    m.compile(optimizer=optimizer, loss="mse" if regression else "sparse_categorical_crossentropy")
    if trained:
        m.fit(x, y, epochs=trained, batch_size=32, verbose=0)
    return m


Adam, SGD, RMSprop = keras.optimizers.Adam, keras.optimizers.SGD, keras.optimizers.RMSprop
DEFAULT = (1e-7, 10.0)  # LRRangeTest's range
#: (kind, name, optimizer, regression, epochs trained before, the range swept)
CASES = [
    ("falls", "digits adam", Adam, False, 0, DEFAULT),
    ("falls", "digits sgd", SGD, False, 0, DEFAULT),
    ("falls", "digits sgd momentum", lambda: SGD(momentum=0.9), False, 0, DEFAULT),
    ("falls", "digits rmsprop", RMSprop, False, 0, DEFAULT),
    ("falls", "digits adam 1e-5..1e-1", Adam, False, 0, (1e-5, 1e-1)),
    ("falls", "digits sgd 1e-4..10", SGD, False, 0, (1e-4, 10.0)),
    ("falls", "diabetes adam", Adam, True, 0, DEFAULT),
    ("flat, then diverges", "diabetes sgd", SGD, True, 0, DEFAULT),
    ("too low", "digits adam 1e-9..1e-6", Adam, False, 0, (1e-9, 1e-6)),
    ("too low", "digits sgd 1e-8..1e-5", SGD, False, 0, (1e-8, 1e-5)),
    ("too low", "diabetes adam 1e-9..1e-6", Adam, True, 0, (1e-9, 1e-6)),
    ("trained", "digits adam, 20 epochs", lambda: Adam(3e-3), False, 20, DEFAULT),
    ("trained", "diabetes adam, 100 epochs", lambda: Adam(3e-3), True, 100, DEFAULT),
]


def main() -> None:
    print("| kind | sweep | batch | steps | ended | fall / noise | judged | robust_valley |")
    print("|---|---|---:|---:|---|---:|---|---:|")
    for kind, name, optimizer, regression, trained, (start, end) in CASES:
        for batch, steps in ((4, 100), (8, 100), (8, 300), (32, 100), (32, 300), (128, 100)):
            m = model(optimizer(), regression, trained)
            test = LRRangeTest(m, num_steps=steps, start_learning_rate=start, end_learning_rate=end)
            test.run(*data(regression), batch_size=batch).wait(600)
            fall, noise = fall_evidence(test.learning_rates, test.losses, steps)
            judged = judge_fall(test.learning_rates, test.losses, steps)[0] or "clear"
            found = suggest(test.learning_rates, test.losses, steps).get("robust_valley")
            shown = "-" if found is None else f"{found.learning_rate:.2g}"
            row = f"| {kind} | {name} | {batch} | {steps} | {test.reason} | {fall / noise:.2f} | {judged} | {shown} |"
            print(row, flush=True)
    for n in (100, 300, 1000):
        lrs = 10.0 ** np.linspace(-7, 1, n)
        for label, draw in (("Student's t, 3 d.o.f.", "standard_t"), ("normal", "normal")):
            ratios = []
            for seed in range(300):
                noise = getattr(np.random.default_rng(seed), draw)(*((3,) if draw == "standard_t" else ()), size=n)
                fall, sd = fall_evidence(lrs, 2.3 + 0.05 * noise, n)
                ratios.append(fall / sd)
            q = np.percentile(ratios, [50, 90, 95, 99])
            print(
                f"pure noise ({label}, 300 curves of {n} steps): fall / noise median {q[0]:.2f}, 90% {q[1]:.2f},"
                f" 95% {q[2]:.2f}, 99% {q[3]:.2f}"
            )


if __name__ == "__main__":
    main()
