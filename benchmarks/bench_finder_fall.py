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

For each: the reason it ended, ``fall_evidence`` (the z-score of the losses' fall with the rate,
up to the lowest smoothed point), what ``judge_fall`` says of it and the ``robust_valley``
suggestion. Then the same statistic on 300 curves of pure noise (the null).

Usage: ``KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_finder_fall.py`` (~2 minutes)
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np
from sklearn.datasets import load_diabetes, load_digits

from lrwidgets.core.suggestions import fall_evidence, judge_fall
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
    print("| kind | sweep | batch | steps | ended | z | judged | robust_valley |")
    print("|---|---|---:|---:|---|---:|---|---:|")
    for kind, name, optimizer, regression, trained, (start, end) in CASES:
        for batch, steps in ((4, 100), (8, 100), (8, 300), (32, 100), (32, 300), (128, 100)):
            m = model(optimizer(), regression, trained)
            test = LRRangeTest(m, num_steps=steps, start_learning_rate=start, end_learning_rate=end)
            test.run(*data(regression), batch_size=batch).wait(600)
            z, _ = fall_evidence(test.learning_rates, test.losses, steps)
            said = judge_fall(test.learning_rates, test.losses, steps)
            judged = "none" if said.startswith("no clear") else "weak" if said else "clear"
            rate = test.suggestions.get("robust_valley")
            shown = "-" if rate is None else f"{rate:.2g}"
            print(f"| {kind} | {name} | {batch} | {steps} | {test.reason} | {z:.2f} | {judged} | {shown} |", flush=True)
    lrs = 10.0 ** np.linspace(-7, 1, 100)
    for label, draw in (
        ("Student's t, 3 d.o.f.", lambda g: g.standard_t(3, size=100)),
        ("normal", lambda g: g.normal(size=100)),
    ):
        zs = [fall_evidence(lrs, 2.3 + 0.05 * draw(np.random.default_rng(s)), 100)[0] for s in range(300)]
        q = np.percentile(zs, [50, 90, 95, 99])
        print(
            f"pure noise ({label}, 300 curves of 100 steps): z median {q[0]:.2f}, 90% {q[1]:.2f},"
            f" 95% {q[2]:.2f}, 99% {q[3]:.2f}"
        )


if __name__ == "__main__":
    main()
