"""Which layer group each key of a ``LayerwiseOptimizer``'s multipliers applies to.

Groups are formed from the trainable variables' paths (:func:`layer_groups`); a key matches a
group by name, by a layer-path component or by a regular expression, the most specific match
winning (:func:`resolve`; the rule is in ``LayerwiseOptimizer``'s docstring).
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from lrwidgets.core.checks import FLOAT32_MAX, FLOAT32_TINY, check_keyed, rounds_to_zero


def layer_groups(variables: list[Any], model: Any = None) -> tuple[list[str], list[str], list[list[Any]], list[int]]:
    """Group variables by layer: (group names, layer paths, variables per group, group of each variable).

    With the `model` that holds every variable, a group is named by the layer names from the
    model down to the layer that owns it; else by the variables' paths. See "Groups" in the
    `LayerwiseOptimizer` docstring.
    """
    owners = _owners(model) if model is not None else {}
    if variables and all(id(v) in owners for v in variables):
        paths = [owners[id(v)][0] for v in variables]
        names = _distinct_names([owners[id(v)] for v in variables])
    else:
        paths = [v.path.rsplit("/", 1)[0] if "/" in v.path else "" for v in variables]
        heads = {p.split("/", 1)[0] for p in paths}
        strip = len(heads) == 1 and all("/" in p for p in paths)
        names = [p.split("/", 1)[1] if strip else (p or v.path) for v, p in zip(variables, paths, strict=True)]
    group_names: list[str] = []
    group_paths: list[str] = []
    members: list[list[Any]] = []
    group_of_index: list[int] = []
    for var, name, path in zip(variables, names, paths, strict=True):
        if name not in group_names:
            group_names.append(name)
            group_paths.append(path)
            members.append([])
        group_of_index.append(group_names.index(name))
        members[group_names.index(name)].append(var)
    return group_names, group_paths, members, group_of_index


def by_inner_index(inner: Any, variables: list[Any], group_of_index: list[int]) -> list[int]:
    """``group_of_index`` (a group for each of ``variables``, in their order) by the index an
    already built ``inner`` optimizer gives each variable: it keeps its own order (all the
    variables it was built for; a model re-compiled after a layer was frozen trains fewer).
    A variable it has no state for is refused, naming ``inner_optimizer``."""
    by_index = [0] * len(inner._trainable_variables)  # frozen since: never stepped, never looked up
    for position, variable in enumerate(variables):
        try:
            by_index[inner._get_variable_index(variable)] = group_of_index[position]
        except KeyError:
            raise ValueError(
                f"Argument `inner_optimizer` was built for other variables than the model's trainable ones"
                f" ({variable.path!r} is new to it: a layer unfrozen since?). Wrap a fresh optimizer, such as"
                f" `{type(inner).__name__}.from_config(optimizer.get_config())`."
            ) from None
    return by_index


def layer_owners(model: Any) -> dict[int, str]:
    """`{id(variable): layer path}` for each trainable variable of `model`: the names of the layers
    from the model (left out) down to the layer that owns it, the first way found when a layer is
    shared; the model's name for its own variables.

    Not from `variable.path`: Keras names a variable by the scope it was built in, so the layers
    of a functional backbone nested in a `Sequential` have no `backbone/` in their paths, and the
    layers of a model loaded from a file have none of their enclosing layers' names.
    """
    return {key: path for key, (path, _) in _owners(model).items()}


def _owners(model: Any) -> dict[int, tuple[str, int]]:
    """`{id(variable): (layer path, id(layer))}` (see :func:`layer_owners`)."""
    found: dict[int, tuple[str, int]] = {}
    seen: set[int] = set()

    def walk(layer: Any, path: str) -> None:
        if id(layer) in seen:
            return
        seen.add(id(layer))
        for variable in getattr(layer, "_trainable_variables", ()):
            found.setdefault(id(variable), (path or layer.name, id(layer)))
        for sub in getattr(layer, "_layers", ()):
            walk(sub, f"{path}/{sub.name}" if path else sub.name)

    walk(model, "")
    return found


def _distinct_names(owners: list[tuple[str, int]]) -> list[str]:
    """Each variable's group name: its layer's path, with ``#2``, ``#3``, ... for the second and later
    layers at one path (a subclassed model may give two of its layers one name)."""
    numbers: dict[str, dict[int, int]] = {}
    names = []
    for path, layer in owners:
        layers = numbers.setdefault(path, {})
        number = layers.setdefault(layer, len(layers) + 1)
        names.append(path if number == 1 else f"{path}#{number}")
    return names


def building_model(variables: list[Any], frames: int = 12) -> Any:
    """The `keras.Model` whose trainable variables `variables` are, found among the local names of
    the callers of an optimizer's `build` (Keras builds it from the model's own methods, `fit`,
    `evaluate`, `load_model`; lrwidgets and a notebook's cell have the model at hand), or `None`
    (no caller holds it: `build(variables, model=...)` says which it is)."""
    import keras

    ids = [id(v) for v in variables]

    def holds(candidate: Any) -> bool:
        try:
            return isinstance(candidate, keras.Model) and [id(v) for v in candidate.trainable_variables] == ids
        except Exception:  # a model half built
            return False

    frame = sys._getframe(1)
    for _ in range(frames):
        frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            return None
        local = frame.f_locals
        if holds(local.get("self")):  # Keras's own call, from the model's method
            return local["self"]
        found = list({id(c): c for c in list(local.values()) if holds(c)}.values())
        if len(found) > 1 and len({tuple(layer_owners(m).get(i) for i in ids) for m in found}) > 1:
            warnings.warn(
                f"Several models hold the variables the optimizer is built for ({[m.name for m in found]}), their "
                f"layers named differently: the groups follow {found[0].name!r}. Say which with "
                "`optimizer.build(model.trainable_variables, model=model)`.",
                stacklevel=4,
            )
        if found:
            return found[0]
    return None


def checked_multipliers(multipliers: Any) -> dict[str, float]:
    multipliers = check_keyed("multipliers", multipliers)
    checked: dict[str, float] = {}
    for key, value in multipliers.items():
        if isinstance(value, bool | np.bool_) or not (isinstance(value, int | float) or hasattr(value, "__float__")):
            raise TypeError(
                f"Argument `multipliers` must map to numbers; key {key!r} maps to {value!r}. "
                f"Received: multipliers={multipliers!r}"
            )
        try:
            number = float(value)
        except OverflowError:  # an int beyond the float range
            number = math.inf
        if not math.isfinite(number) or number < 0:
            raise ValueError(
                f"Argument `multipliers` must map to finite numbers >= 0; key {key!r} maps to {value!r}. "
                f"Received: multipliers={multipliers!r}"
            )
        if number > FLOAT32_MAX or rounds_to_zero(number):  # inf or 0 once held as float32
            raise ValueError(
                f"Argument `multipliers` must map to 0 or to numbers from {FLOAT32_TINY:.3g} to {FLOAT32_MAX:.4g}"
                f" (the optimizer holds them as float32); key {key!r} maps to {value!r}."
                f" Received: multipliers={multipliers!r}"
            )
        checked[key] = number
    return checked


class BadKeysError(ValueError):
    """Keys of `multipliers` that cannot be applied to the groups (`keys`: the ones to drop)."""

    def __init__(self, keys: list[str], message: str) -> None:
        super().__init__(message)
        self.keys = keys


def resolve(
    spec: Mapping[str, float],
    names: list[str],
    paths: list[str],
    members: list[list[Any]],
    *,
    require_all: bool,
) -> dict[int, float]:
    """`{group index: value}` for the groups that keys of `spec` match (see the matching rule)."""
    matches: dict[int, list[tuple[tuple[int, int, int], str]]] = {}
    unmatched = []
    earlier = [_path_names(m) for m in members]
    for key in spec:
        pattern = _compile(key)
        if pattern is not None and any(  # a layer's name or path is that name, not also a pattern ("a+b", "aab")
            _rank(key, None, *group) is not None for group in zip(names, paths, members, earlier, strict=True)
        ):
            pattern = None
        hit = False
        for i, (name, path) in enumerate(zip(names, paths, strict=True)):
            rank = _rank(key, pattern, name, path, members[i], earlier[i])
            if rank is not None:
                hit = True
                matches.setdefault(i, []).append((rank, key))
        if not hit:
            unmatched.append(key)
    if unmatched and require_all:
        raise BadKeysError(
            unmatched,
            f"Argument `multipliers` has keys that match no trainable layer: {unmatched}. Layers: {list(names)}. "
            f"Received: multipliers={dict(spec)!r}",
        )
    best: dict[int, tuple[tuple[int, int, int], str]] = {}
    for i, found in matches.items():  # the most specific key of each group, whatever the keys' order
        top = max(rank for rank, _ in found)
        first, *others = [key for rank, key in found if rank == top]
        if others:
            raise BadKeysError(
                others[:1],
                f"Argument `multipliers` has keys {first!r} and {others[0]!r} that both match layer {names[i]!r} "
                f"equally specifically; keep one or use a more specific key. Received: multipliers={dict(spec)!r}",
            )
        best[i] = (top, first)
    return {i: spec[key] for i, (_, key) in best.items()}


def _rank(
    key: str, pattern: re.Pattern[str] | None, name: str, path: str, variables: list[Any], earlier: set[str]
) -> tuple[int, int, int] | None:
    """How specifically `key` matches a group: (depth, 2 for the group's own name, 1 for layer-path
    components, 0 for a pattern, how many components), or None. A group's own name outranks the
    same text as components of a deeper group's path (``fc`` and ``body/fc``); at one depth, more
    components outrank fewer (``body/fc`` outranks ``fc`` on the layer ``net/body/fc``). A name the
    group had from its variables' paths (`earlier`) ranks as components of its length."""
    parts = path.split("/") if path else [name]
    depth = len(parts)
    ranks = []
    run = key.split("/")
    if key == name:
        ranks.append((depth, 2, 0))
    elif key in earlier:  # a key written for an earlier version, or saved in its configuration
        ranks.append((depth, 1, len(run)))
    for end in range(len(run), depth + 1):  # the key's components, in a row, ending at depth `end`
        if parts[end - len(run) : end] == run:
            ranks.append((end, 1, len(run)))
    if pattern is not None:
        ranks.extend((d, 0, 0) for d, part in enumerate(parts, start=1) if pattern.fullmatch(part))
    if pattern is not None and any(pattern.fullmatch(c) for c in (name, path, *(v.path for v in variables))):
        ranks.append((depth, 0, 0))
    return max(ranks) if ranks else None


def _path_names(variables: list[Any]) -> set[str]:
    """The names a group had from its variables' paths (``sequential/head`` and ``head``): a key
    written with one, or saved in a configuration by an earlier version, still finds the group."""
    layers = {v.path.rsplit("/", 1)[0] for v in variables if "/" in v.path}
    return layers | {p.split("/", 1)[1] for p in layers if "/" in p}


def _compile(key: str) -> re.Pattern[str] | None:
    try:
        return re.compile(key)
    except re.error:
        return None


def matching(optimizer: Any, multipliers: Mapping[str, float]) -> dict[str, float]:
    """``{group name: value}`` for the groups of a built ``LayerwiseOptimizer`` that the keys of
    ``multipliers`` match, by its matching rule (values as given). Keys that match no group are
    left out; two keys that match a group equally specifically raise ``ValueError``."""
    names = optimizer._group_names
    values = resolve(multipliers, names, optimizer._group_paths, optimizer._group_variables, require_all=False)
    return {names[i]: value for i, value in sorted(values.items())}
