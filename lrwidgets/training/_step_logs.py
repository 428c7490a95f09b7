"""What a fit's train step logs: whether the model's own ``train_step`` runs, which of its log
keys are Keras's running means over the epoch, and the floor a compiled loss cannot go below."""

from __future__ import annotations

from typing import Any

from lrwidgets.training.fit_traits import loss_name


def custom_train_step(model: Any) -> bool:
    """True when the model's class (not Keras) defines the ``train_step`` that a fit runs."""
    for cls in type(model).__mro__:
        if "train_step" in vars(cls):
            return not cls.__module__.startswith("keras.")
    return False


def averaged_keys(model: Any) -> frozenset[str] | None:
    """The log keys of the model's train step known to be running means over the epoch: None for
    all (Keras's own step, or a custom step whose model has metric trackers of its own: keras.io's
    VAE returns its `total_loss` tracker as `loss`), else the names of Keras's own metrics (its
    `loss` tracker, the compiled metrics). A custom step with no tracker of its own (keras.io's
    WGAN-GP and CycleGAN) returns its other keys as each batch's own value."""
    if not custom_train_step(model):
        return None
    try:
        metrics = list(model.metrics)
    except Exception:  # an unbuilt or unusual model: taken as Keras's running means
        return None
    builtin = [getattr(model, "_loss_tracker", None), getattr(model, "_compile_metrics", None)]
    if any(all(metric is not b for b in builtin) for metric in metrics):
        return None
    names: set[str] = set()
    for metric in metrics:
        names.add(str(metric.name))
        names.update(str(m.name) for m in getattr(metric, "metrics", None) or [] if m is not metric)
    return frozenset(names)


def loss_tracker_unused(model: Any) -> bool:
    """After a fit's first step (training thread): whether the step updated none of the model's
    metrics, its ``loss`` tracker (Keras's own, or the model's: keras.io's regression example)
    included. A custom train step then returns its ``loss`` as each batch's own value (``return
    {"loss": loss}``). One that updates a tracker of its own (``return {"loss":
    self.total.result()}``, keras.io's VAE) leaves Keras's at no sample too, but not its own."""
    try:
        metrics = list(model.metrics)
        if sum(getattr(m, "name", None) == "loss" for m in metrics) != 1:
            return False
        import keras

        from lrwidgets.training import _state

        _state.sync(model)
        return not any(
            bool(keras.ops.convert_to_numpy(keras.ops.any(keras.ops.not_equal(v.value, 0))))
            for m in metrics
            for v in m.variables
        )
    except Exception:  # an unusual model: taken as a running mean
        return False


def logged_metrics(model: Any) -> list[tuple[str, Any]]:
    """The model's metrics, each with the log key Keras gives it (``reg_rmse`` for the metric
    ``rmse`` of the output ``reg``; a repeated name numbered, a weighted metric whose name is taken
    ``reg_weighted_rmse``: as ``CompileMetrics.result`` names them); none for an unbuilt or unusual model."""
    counters: dict[str, int] = {}

    def numbered(name: str) -> str:
        if name not in counters:
            counters[name] = 1
            return name
        counters[name] += 1
        return f"{name}_{counters[name] - 1}"

    def groups(flat: str) -> list[tuple[str | None, Any]]:
        return [(g.output_name, m) for g in getattr(compiled, flat, None) or [] if g for m in g.metrics]

    def prefixed(output: str | None, name: str) -> str:
        return f"{output}_{name}" if output else name

    found: list[tuple[str, Any]] = []
    try:
        compiled = getattr(model, "_compile_metrics", None)
        for output, m in groups("_flat_metrics"):
            found.append((numbered(prefixed(output, str(m.name))), m))
        for output, m in groups("_flat_weighted_metrics"):
            name = prefixed(output, str(m.name))
            if name in counters:
                name = numbered(prefixed(output, f"weighted_{m.name}"))
            else:
                counters[name] = 1
            found.append((name, m))
        found += [(str(m.name), m) for m in model.metrics if m is not compiled]
    except Exception:  # an unbuilt or unusual model: nothing known
        return []
    return found


def not_running_means(model: Any) -> dict[str, str]:
    """``{log key: metric class}`` of the model's metrics whose value is not a running mean of
    batch values (``RootMeanSquaredError``, ``AUC``, ``Precision``, ...): a batch's own value
    recovered from one is approximate."""
    import keras

    mean = keras.metrics.Mean
    return {
        name: type(m).__name__
        for name, m in logged_metrics(model)
        if not (isinstance(m, mean) and type(m).result is mean.result)
    }


def metric_directions(model: Any) -> dict[str, bool]:
    """``{log key: lower is better}`` of the model's metrics whose direction Keras knows (what its
    callbacks read in mode ``"auto"``): an output named ``error_code`` does not make its accuracy
    a count of errors."""
    return {name: m._direction == "down" for name, m in logged_metrics(model) if getattr(m, "_direction", None)}


NON_NEGATIVE_LOSSES = ("crossentropy", "squared", "absolute", "huber", "hinge", "log_cosh", "logcosh", "kl", "poisson")


def loss_floor(model: Any) -> float | None:
    """0.0 when every compiled loss is one that cannot be negative, else None (no floor known)."""
    losses = getattr(model, "loss", None)
    items = list(losses.values()) if isinstance(losses, dict) else losses if isinstance(losses, list) else [losses]
    if not items or any(item is None for item in items):
        return None
    names = [loss_name(item).lower() for item in items]
    if all(n in ("mse", "mae") or any(k in n for k in NON_NEGATIVE_LOSSES) for n in names):
        return 0.0
    return None
