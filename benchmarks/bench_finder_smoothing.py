"""How the range test's ``smoothing`` changes how well its default suggestion (``robust_valley``) trains.

``smoothing`` is the EMA coefficient of the range test's smoothed curve (lrwidgets' default 0.95,
fastai's 0.98). Eight workloads on scikit-learn's bundled or generated data (no network, no files):
the digits 64-64-10 MLP with Adam 1e-3 (``plain_adam``) and with SGD momentum 0.9 (``plain_sgdm``), a
functional dict-in/dict-out model (``dict_io``), an MLP with BatchNorm and Dropout (``mlp_bn_dropout``),
SGD with Nesterov momentum (``sgd_momentum``), a scaled ``make_regression`` with MSE (``regression``),
``breast_cancer`` (binary, sigmoid) and ``make_classification`` (4 classes, logits).

For each workload and sweep seed ``s``: ``clear_session``, ``set_random_seed(s)``, build (so the
seed sets the initial weights of every workload), snapshot the weights; then for each smoothing
``b``, ``set_random_seed(s)`` and ``LRRangeTest(model, smoothing=b)`` with its default ramp (1e-7 to
10, 100 steps); ``test.suggestion`` is ``robust_valley``. Each rate is then trained from that seed's
initial weights, with the optimizer's state fresh (every model and optimizer variable restored
exactly), the rate set, ``set_random_seed(train_seed)``, 3 epochs, and scored by the training-set
loss (``evaluate``, batch 256), for train seeds 0..N-1. The rates are the 1/8-decade grid
``10**(k/8)`` from 1e-4 to 1 (k = -32..0) and every suggestion rounded to its nearest 1/8-decade
point (at most 0.0625 decade away), cached by (sweep seed, k). The first fit of a freshly built model
is not reproducible, so one throw-away fit precedes the measured ones.

Read per workload and smoothing (medians over the sweep seeds): ``offset``, log10(suggestion) minus
log10(best grid rate), the best being the grid point (k in -32..0) with the lowest mean loss;
``ratio``, the mean loss at the suggestion over the best's; ``within noise``, cases whose mean loss is
within 2 standard errors of the best's, ``mean - mean_best <= 2 * sqrt((sd**2 + sd_best**2) / N)``
(sd over train seeds, ddof=1); ``vs 0.98``, a paired count over the same cases (same workload, sweep
seed and initial weights) against smoothing 0.98: *better* / *worse* when the mean loss at this
smoothing's suggestion is lower / higher than at 0.98's by more than 2 standard errors of the
difference of the two means, ``2 * sqrt((sd_a**2 + sd_b**2) / N)``, else *tie* (the same grid point is
always a tie). A non-finite loss counts as infinitely bad. ``best`` is a minimum over ~33 noisy means,
so it is biased low and the ratios are slightly pessimistic for every smoothing alike. The counts are
indicative, not tests: 2 standard errors over 5 train seeds, across ~70 comparisons, and the train
seeds vary the batch order only (the dropout layers' seed state is restored with the weights, so the
two dropout models' noise is understated). A sweep with no suggestion is counted in the first column
and left out of the others. At its defaults it does not separate 0.95 from 0.9; the 40-sweep
measurement that did (RESULTS.md, made with scripts of the same method before this one) corresponds
to ``--workloads sgd_momentum regression breast_cancer make_classification --sweep-seeds 0 1 2 3 4 5
6 7 8 9 --train-seeds 10``.

Usage: ``KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_finder_smoothing.py`` (~6 minutes on 2
CPU cores; ``--workloads``, ``--sweep-seeds``, ``--train-seeds``, ``--smoothings`` to change it)
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import argparse
import hashlib
import math
import time
from typing import Any

import keras
import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, make_classification, make_regression
from sklearn.preprocessing import StandardScaler

from lrwidgets.training import LRRangeTest

SMOOTHINGS = (0.98, 0.95, 0.9, 0.8)
GRID = range(-32, 1)  # k: rate 10**(k/8), 1e-4 .. 1
EPOCHS = 3
WORKLOADS = (
    "plain_adam",
    "plain_sgdm",
    "dict_io",
    "mlp_bn_dropout",
    "sgd_momentum",
    "regression",
    "breast_cancer",
    "make_classification",
)


def digits() -> tuple[np.ndarray, np.ndarray]:
    d = load_digits()
    return (d.data / 16.0).astype("float32"), d.target.astype("int32")


def mlp(inputs: int, *layers: Any) -> keras.Model:
    return keras.Sequential([keras.Input((inputs,)), *layers])


def make(name: str) -> tuple[keras.Model, dict[str, Any]]:
    """The compiled model and its ``fit`` arguments (x, y, batch_size); the weights come from the global seed."""
    dense, sparse_ce = keras.layers.Dense, "sparse_categorical_crossentropy"
    x, y = digits()
    if name in ("plain_adam", "plain_sgdm"):
        m = mlp(64, dense(64, "relu"), dense(10, "softmax"))
        opt = keras.optimizers.Adam(1e-3) if name == "plain_adam" else keras.optimizers.SGD(1e-2, momentum=0.9)
        m.compile(opt, sparse_ce)
        return m, dict(x=x, y=y, batch_size=32)
    if name == "dict_io":
        ia, ib = keras.Input((32,), name="a"), keras.Input((32,), name="b")
        h = keras.layers.Concatenate()([dense(32, "relu")(ia), dense(32, "relu")(ib)])
        outputs = {"digit": dense(10, "softmax", name="digit")(h), "mean_px": dense(1, name="mean_px")(h)}
        m = keras.Model({"a": ia, "b": ib}, outputs)
        m.compile(
            keras.optimizers.Adam(1e-3),
            loss={"digit": sparse_ce, "mean_px": "mse"},
            loss_weights={"digit": 1.0, "mean_px": 0.5},
            metrics={"digit": ["accuracy"]},
        )
        xs = {"a": x[:, :32], "b": x[:, 32:]}
        return m, dict(x=xs, y={"digit": y, "mean_px": x.mean(1, keepdims=True)}, batch_size=32)
    if name == "mlp_bn_dropout":
        layers = [dense(64), keras.layers.BatchNormalization(), keras.layers.Activation("relu")]
        m = mlp(64, *layers, keras.layers.Dropout(0.3), dense(10, "softmax"))
        m.compile(keras.optimizers.Adam(1e-3), sparse_ce, metrics=["accuracy"])
        return m, dict(x=x, y=y, batch_size=32)
    if name == "sgd_momentum":
        m = mlp(64, dense(64, "relu"), dense(10, "softmax"))
        m.compile(keras.optimizers.SGD(1e-2, momentum=0.9, nesterov=True), sparse_ce, metrics=["accuracy"])
        return m, dict(x=x, y=y, batch_size=32)
    if name == "regression":
        xr, yr = make_regression(n_samples=2000, n_features=20, noise=10.0, random_state=0)
        yr = (yr - yr.mean()) / yr.std()
        m = mlp(20, dense(64, "relu"), dense(1))
        m.compile(keras.optimizers.Adam(1e-3), "mse", metrics=["mae"])
        return m, dict(x=xr.astype("float32"), y=yr.astype("float32"), batch_size=32)
    if name == "breast_cancer":
        d = load_breast_cancer()
        xb = StandardScaler().fit_transform(d.data).astype("float32")
        m = mlp(30, dense(16, "relu"), dense(1, "sigmoid"))
        m.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy", metrics=["accuracy"])
        return m, dict(x=xb, y=d.target.astype("float32"), batch_size=32)
    if name == "make_classification":
        xc, yc = make_classification(n_samples=4000, n_features=40, n_informative=20, n_classes=4, random_state=0)
        layers = [dense(128, "relu"), keras.layers.Dropout(0.2), dense(128, "relu"), dense(4)]
        m = mlp(40, *layers)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        m.compile(keras.optimizers.Adam(1e-3), loss, metrics=["accuracy"])
        return m, dict(x=xc.astype("float32"), y=yc.astype("int32"), batch_size=64)
    raise KeyError(name)


def snapshot(model: keras.Model) -> dict[str, np.ndarray]:
    """Copies of every model and optimizer variable, by path."""
    if hasattr(model, "jax_state_sync"):
        model.jax_state_sync()
    out = {"m:" + v.path: np.array(keras.ops.convert_to_numpy(v.value), copy=True) for v in model.variables}
    for v in model.optimizer.variables:
        out["o:" + v.path] = np.array(keras.ops.convert_to_numpy(v.value), copy=True)
    return out


def weights_hash(init: dict[str, np.ndarray]) -> str:
    return hashlib.sha1(b"".join(init[k].tobytes() for k in sorted(init) if k.startswith("m:"))).hexdigest()[:10]


def train(model: keras.Model, fit: dict[str, Any], init: dict[str, np.ndarray], rate: float, seed: int) -> float:
    """The training-set loss after 3 epochs at ``rate`` from ``init``, the optimizer fresh."""
    for v in model.variables:
        v.assign(init["m:" + v.path])
    for v in model.optimizer.variables:  # built by the range test: slots absent from the snapshot start at zero
        key = "o:" + v.path
        v.assign(init[key] if key in init else np.zeros(v.shape, v.dtype))
    model.optimizer.learning_rate.assign(rate)
    keras.utils.set_random_seed(seed)
    model.fit(**fit, epochs=EPOCHS, verbose=0)
    loss = float(model.evaluate(x=fit["x"], y=fit["y"], batch_size=256, verbose=0, return_dict=True)["loss"])
    return loss if math.isfinite(loss) else math.inf


def kof(rate: float) -> int:
    return round(8 * math.log10(rate))


def stats(losses: list[float]) -> tuple[float, float]:
    a = np.array(losses)
    if not np.all(np.isfinite(a)):
        return math.inf, math.nan
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def beyond(a: tuple[float, float], b: tuple[float, float], n: int) -> int:
    """-1 / 0 / +1: mean ``a`` lower than, within 2 standard errors of, or higher than mean ``b``."""
    (ma, sa), (mb, sb) = a, b
    if math.isinf(ma) or math.isinf(mb):
        return 0 if ma == mb else (1 if math.isinf(ma) else -1)
    se2 = 2 * math.sqrt((sa**2 + sb**2) / n)
    return -1 if ma < mb - se2 else (1 if ma > mb + se2 else 0)


def measure(name: str, sweep_seed: int, smoothings: tuple[float, ...], n_train: int) -> list[dict[str, Any]]:
    """One workload and sweep seed: the range tests at every smoothing, then the training grid."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(sweep_seed)
    model, fit = make(name)
    init = snapshot(model)
    cases = []
    for b in smoothings:
        keras.utils.set_random_seed(sweep_seed)
        test = LRRangeTest(model, smoothing=b)
        test.run(**fit).wait()
        rv = test.suggestion
        rate = None if rv is None else float(rv.learning_rate)
        steps = len(test.learning_rates)
        cases.append(dict(workload=name, seed=sweep_seed, smoothing=b, rate=rate, reason=test.reason, steps=steps))
    train(model, fit, init, 1e-2, 0)  # throw-away: the first fit of a fresh model does not reproduce
    ks = sorted(set(GRID) | {kof(c["rate"]) for c in cases if c["rate"] is not None})
    grid = {k: stats([train(model, fit, init, 10 ** (k / 8), t) for t in range(n_train)]) for k in ks}
    kbest = min(GRID, key=lambda k: grid[k][0])
    for c in cases:
        c.update(weights=weights_hash(init), kbest=kbest, best=grid[kbest])
        if c["rate"] is not None:
            c.update(loss=grid[kof(c["rate"])], offset=math.log10(c["rate"]) - kbest / 8)
            c["ratio"] = c["loss"][0] / c["best"][0]
            c["ok"] = beyond(c["loss"], c["best"], n_train) <= 0
    return cases


def paired(cases: list[dict[str, Any]], smoothing: float, n_train: int) -> tuple[int, int, int, list[float]]:
    """Better / tie / worse against 0.98 in the same case, and the loss ratios to 0.98's."""
    ref = {(c["workload"], c["seed"]): c for c in cases if c["smoothing"] == 0.98}
    counts, ratios = [0, 0, 0], []
    for c in cases:
        r = ref.get((c["workload"], c["seed"]))
        if c["smoothing"] != smoothing or r is None or "loss" not in c or "loss" not in r:
            continue
        counts[beyond(c["loss"], r["loss"], n_train) + 1] += 1
        ratios.append(c["loss"][0] / r["loss"][0])
    return counts[0], counts[1], counts[2], ratios


def row(cases: list[dict[str, Any]], smoothing: float, n_train: int) -> list[str]:
    """The cells read per smoothing: stop, offset, ratio, within noise, vs 0.98."""
    sel = [c for c in cases if c["smoothing"] == smoothing]
    got = [c for c in sel if "loss" in c]
    offsets, ratios = [c["offset"] for c in got], [c["ratio"] for c in got]
    diverged = sum(c["reason"] == "diverged" for c in sel)
    none = f", {len(sel) - len(got)} without a suggestion" if len(got) < len(sel) else ""
    cells = [
        f"{diverged}/{len(sel)}, {np.median([c['steps'] for c in sel]):.0f}{none}",
        f"{np.median(offsets):+.2f}" if got else "-",
        f"{sum(o > 0 for o in offsets)}/{len(got)}",
        f"{np.median(ratios):.3f}" if got else "-",
        f"{max(ratios):.3g}" if got else "-",
        f"{sum(c['ok'] for c in got)}/{len(sel)}",
    ]
    better, tie, worse, vs = paired(cases, smoothing, n_train)
    if smoothing == 0.98 or not vs:
        return [*cells, "-", "-"]
    return [*cells, f"{better} / {tie} / {worse}", f"{math.exp(np.mean(np.log(vs))):.3f}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    ap.add_argument("--sweep-seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--train-seeds", type=int, default=5, help="train seeds 0..N-1 per rate (>= 2)")
    ap.add_argument("--smoothings", nargs="+", type=float, default=list(SMOOTHINGS))
    args = ap.parse_args()
    smoothings = tuple(dict.fromkeys([0.98, *args.smoothings]))  # 0.98 is the paired reference
    n = args.train_seeds
    t0 = time.perf_counter()
    cases = []
    for name in args.workloads:
        hashes = set()
        for s in args.sweep_seeds:
            got = measure(name, s, smoothings, n)
            hashes.add(got[0]["weights"])
            cases += got
            print(f"[{time.perf_counter() - t0:6.0f}s] {name} seed {s}", flush=True)
        if len(hashes) != len(args.sweep_seeds):
            print(f"WARNING: {name}: the sweep seeds gave only {len(hashes)} distinct initial weights")
    minutes = (time.perf_counter() - t0) / 60

    print(f"\n{keras.__version__=}, backend {keras.backend.backend()}; sweep seeds {args.sweep_seeds}, ", end="")
    print(f"train seeds 0..{n - 1}, {EPOCHS} epochs; {minutes:.1f} minutes\n")
    print("Per case: robust_valley's rate, the stop, and the training loss at it (mean ± sd over train seeds):\n")
    print("| workload | seed | weights | smoothing | stop | robust_valley | offset | loss", end="")
    print(" | best rate | best loss | ratio |")
    print("|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for c in cases:
        head = f"| {c['workload']} | {c['seed']} | {c['weights']} | {c['smoothing']} | {c['reason']} {c['steps']} |"
        best = f"{10 ** (c['kbest'] / 8):.4g} | {c['best'][0]:.4g} ± {c['best'][1]:.2g}"
        if "loss" not in c:
            print(f"{head} none | | | {best} | |")
            continue
        loss = f"{c['loss'][0]:.4g} ± {c['loss'][1]:.2g}"
        print(f"{head} {c['rate']:.4g} | {c['offset']:+.2f} | {loss} | {best} | {c['ratio']:.3g} |")

    cols = "stop: diverged, median steps | median offset (dec) | above best | median ratio | worst ratio"
    cols += " | within noise of best | vs 0.98: better / tie / worse | geometric mean loss ratio to 0.98"
    print("\nPer workload, robust_valley (medians over the sweep seeds):\n")
    print(f"| workload | smoothing | {cols} |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---|---:|")
    for name in args.workloads:
        sub = [c for c in cases if c["workload"] == name]
        for b in smoothings:
            print(f"| {name} | {b} | " + " | ".join(row(sub, b, n)) + " |")

    print(f"\nSummary, robust_valley over {len(args.workloads)} workloads x {len(args.sweep_seeds)} sweep seeds:\n")
    print(f"| smoothing | {cols} |")
    print("|---:|---|---:|---:|---:|---:|---:|---|---:|")
    for b in smoothings:
        print(f"| {b} | " + " | ".join(row(cases, b, n)) + " |")


if __name__ == "__main__":
    main()
