"""The real fits of the diagnosis benchmark: digits (scikit-learn's bundled ``load_digits``, 1,797
images, split 1,437 / 360 with a fixed seed), MLPs, Adam and plain SGD at rates from far too
small to far too large, and a small-data run that overfits; and a hard binary task (scikit-learn's
``make_classification`` with half the labels flipped: the best loss ~0.9x the untrained one) at
good rates, once with ``ReduceLROnPlateau`` cutting the rate at convergence.

Each configuration carries its ground truth: the kinds a verdict may rightly have (``expected``;
empty for a clean run at a good rate, where any verdict is a false positive) and the step from
which the bad rate acts (``onset``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrwidgets.core.diagnosis import TOO_LARGE  # the kinds that name a rate too large: any is right for one


@dataclass(frozen=True)
class FitConfig:
    name: str
    #: "mlp64" (64-64-10), "mlp256" (256-256-10), "binary" (20-16-2, the hard binary task); in the
    #: wider sweep also "cnn" (digits as 8x8 images), "bn" (digits, 128-128-10 with BatchNorm) and
    #: "synth10" (a 10-class synthetic task, 64-64-10); "cnngap", the CNN ending in global average
    #: pooling and dropout (``bench_too_slow_raise.py``)
    model: str
    optimizer: str  # "adam", "sgd" or "momentum" (SGD with momentum 0.9)
    learning_rate: float
    expected: tuple[str, ...]
    epochs: int = 6
    train_samples: int | None = None  # None: the whole training split
    onset: int = 0  # the step from which the bad rate acts
    raise_to: float | None = None  # a rate set at step `onset` (a good run made bad mid-fit)
    #: kinds that are not wrong either (a verdict of these is neither a hit nor a false alarm)
    tolerated: tuple[str, ...] = field(default=())
    plateau: bool = False  # a keras ReduceLROnPlateau (training loss, factor 0.1, patience 1) in the fit


def configs(quick: bool = False) -> list[FitConfig]:
    """The table of fits. ``quick``: the 64-64-10 MLP only."""
    rows: list[FitConfig] = []
    for model in ("mlp64",) if quick else ("mlp64", "mlp256"):
        rows += [
            FitConfig(f"{model} adam 1e-5 (100x small)", model, "adam", 1e-5, ("too_slow",), tolerated=("plateau",)),
            FitConfig(f"{model} adam 1e-3 (good)", model, "adam", 1e-3, ()),
            FitConfig(f"{model} adam 0.1 (100x large)", model, "adam", 0.1, TOO_LARGE, tolerated=("plateau",)),
            FitConfig(f"{model} adam 1.0 (1000x large)", model, "adam", 1.0, TOO_LARGE, tolerated=("plateau",)),
            FitConfig(f"{model} sgd 1e-3 (100x small)", model, "sgd", 1e-3, ("too_slow",), tolerated=("plateau",)),
            FitConfig(f"{model} sgd 0.1 (good)", model, "sgd", 0.1, ()),
            FitConfig(f"{model} sgd 2.0 (20x large)", model, "sgd", 2.0, TOO_LARGE, tolerated=("plateau",)),
        ]
    # A good run whose rate is raised at step 90 (after 2 epochs): the verdict counts from there.
    rows += [
        FitConfig("mlp64 adam 1e-3, raised to 1.0 at step 90", "mlp64", "adam", 1e-3, TOO_LARGE, epochs=4, onset=90,
                  raise_to=1.0, tolerated=("plateau",)),
        FitConfig("mlp64 sgd 0.1, raised to 2.0 at step 90", "mlp64", "sgd", 0.1, TOO_LARGE, epochs=4, onset=90,
                  raise_to=2.0, tolerated=("plateau",)),
    ]  # fmt: skip
    # 50 samples, 2 batches an epoch: val_loss bottoms out after ~10-15 epochs, then rises.
    rows.append(FitConfig("mlp256 adam 3e-3, 50 samples (overfits)", "mlp256", "adam", 3e-3, ("overfitting",),
                          epochs=30, train_samples=50))  # fmt: skip
    # The hard binary task at good rates: a loss flat near the untrained one is not a collapse, nor
    # one flat after a plateau cut a too small rate (`plateau` at convergence is tolerated).
    rows += [
        FitConfig("binary adam 1e-3 (noisy labels)", "binary", "adam", 1e-3, (), epochs=8, tolerated=("plateau",)),
        FitConfig("binary adam 1e-2, ReduceLROnPlateau (noisy labels)", "binary", "adam", 1e-2, (), epochs=12,
                  tolerated=("plateau",), plateau=True),
    ]  # fmt: skip
    return rows


def sweep_configs() -> list[FitConfig]:
    """The wider sweep (``bench_diagnosis.py --sweep``), 8 epochs, no ground truth set: which rate
    is good is read from the runs' own training accuracy, printed beside their verdicts. Both
    digits MLPs at plain SGD 0.03-1.5 and Adam 1e-3 to 0.1; a small CNN on digits, a BatchNorm MLP
    on digits and an MLP on a 10-class synthetic task at plain SGD 0.03-2.0, Adam 1e-3 to 3e-2 and
    SGD with momentum 0.9 at 0.01-0.3."""
    mlps = (("sgd", (0.03, 0.1, 0.3, 0.5, 1.0, 1.5)), ("adam", (1e-3, 3e-3, 1e-2, 3e-2, 0.1)))
    others = (("sgd", (0.03, 0.1, 0.3, 1.0, 2.0)), ("adam", (1e-3, 1e-2, 3e-2)), ("momentum", (0.01, 0.03, 0.1, 0.3)))
    return [
        FitConfig(f"{model} {optimizer} {rate:g}", model, optimizer, rate, (), epochs=8)
        for models, grid in ((("mlp64", "mlp256"), mlps), (("cnn", "synth10", "bn"), others))
        for model in models
        for optimizer, rates in grid
        for rate in rates
    ]


def digits(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype("float32")
    y = d.target.astype("int32")
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    return x[:1437], y[:1437], x[1437:], y[1437:]


def noisy_binary(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """4,000 rows of 20 features (5 informative), half the labels flipped (drawn with ``seed``),
    split 3,000 / 1,000."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=4000, n_features=20, n_informative=5, flip_y=0.5, class_sep=0.8, random_state=seed
    )
    x, y = x.astype("float32"), y.astype("int32")
    return x[:3000], y[:3000], x[3000:], y[3000:]


def build(config: FitConfig, seed: int) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    if config.model == "binary":
        body = [keras.Input((20,)), layers.Dense(16, activation="relu"), layers.Dense(2, activation="softmax")]
    elif config.model in ("cnn", "cnngap"):
        body = [
            keras.Input((8, 8, 1)),
            layers.Conv2D(16, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, activation="relu", padding="same"),
        ]
        # "cnngap": global average pooling and dropout, as keras.io's small convnets end (a slow starter)
        body += [layers.Flatten()] if config.model == "cnn" else [layers.GlobalAveragePooling2D(), layers.Dropout(0.2)]
        body.append(layers.Dense(10, activation="softmax"))
    elif config.model == "bn":
        body = [keras.Input((64,))]
        for _ in range(2):
            body += [layers.Dense(128), layers.BatchNormalization(), layers.Activation("relu")]
        body.append(layers.Dense(10, activation="softmax"))
    else:
        width = 256 if config.model == "mlp256" else 64
        body = [
            keras.Input((20,) if config.model == "synth10" else (64,)),
            layers.Dense(width, activation="relu"),
            layers.Dense(width, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    model = keras.Sequential(body)
    rate = config.learning_rate
    opt = {
        "adam": lambda: keras.optimizers.Adam(rate),
        "sgd": lambda: keras.optimizers.SGD(rate),
        "momentum": lambda: keras.optimizers.SGD(rate, momentum=0.9),
    }[config.optimizer]()
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def synthetic10() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """6,000 rows of 20 features (12 informative), 10 classes, 10% of the labels flipped (fixed
    draw), split 4,800 / 1,200: its best training accuracy after 8 epochs was ~0.82."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=6000, n_features=20, n_informative=12, n_classes=10, n_clusters_per_class=1, flip_y=0.1,
        random_state=0,
    )  # fmt: skip
    x, y = x.astype("float32"), y.astype("int32")
    return x[:4800], y[:4800], x[4800:], y[4800:]


def fit_data(config: FitConfig, seed: int = 0) -> dict[str, Any]:
    """The fit's data: the digits' fixed split (as 8x8 images for the CNN), the binary task drawn
    with the run's ``seed``, or the 10-class synthetic task."""
    if config.model == "binary":
        x, y, vx, vy = noisy_binary(seed)
    elif config.model == "synth10":
        x, y, vx, vy = synthetic10()
    else:
        x, y, vx, vy = digits()
        if config.model.startswith("cnn"):
            x, vx = x.reshape(-1, 8, 8, 1), vx.reshape(-1, 8, 8, 1)
    if config.train_samples is not None:
        x, y = x[: config.train_samples], y[: config.train_samples]
    return {"x": x, "y": y, "validation_data": (vx, vy), "epochs": config.epochs, "batch_size": 32}
