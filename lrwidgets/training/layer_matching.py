"""Which layer group each key of a ``LayerwiseOptimizer``'s multipliers applies to.

Groups are formed from the trainable variables' paths (:func:`layer_groups`); a key matches a
group by name, by a layer-path component or by a regular expression, the most specific match
winning (:func:`resolve`; the rule is in ``LayerwiseOptimizer``'s docstring).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from lrwidgets.core.checks import FLOAT32_MAX, FLOAT32_TINY, rounds_to_zero


def layer_groups(variables: list[Any]) -> tuple[list[str], list[str], list[list[Any]], list[int]]:
    """Group variables by layer: (group names, layer paths, variables per group, group of each variable).

    See "Groups" in the `LayerwiseOptimizer` docstring for how names are formed.
    """
    paths = [v.path.rsplit("/", 1)[0] if "/" in v.path else "" for v in variables]
    heads = {p.split("/", 1)[0] for p in paths}
    strip = len(heads) == 1 and all("/" in p for p in paths)
    names: list[str] = []
    group_paths: list[str] = []
    members: list[list[Any]] = []
    group_of_index: list[int] = []
    for var, path in zip(variables, paths, strict=True):
        name = path.split("/", 1)[1] if strip else (path or var.path)
        if name not in names:
            names.append(name)
            group_paths.append(path)
            members.append([])
        group_of_index.append(names.index(name))
        members[names.index(name)].append(var)
    return names, group_paths, members, group_of_index


def checked_multipliers(multipliers: Any) -> dict[str, float]:
    if not isinstance(multipliers, Mapping):
        raise TypeError(
            "Argument `multipliers` must be a dict mapping layer names or patterns to numbers. "
            f"Received: multipliers={multipliers!r}"
        )
    checked: dict[str, float] = {}
    for key, value in multipliers.items():
        if not isinstance(key, str) or not key:
            raise TypeError(
                f"Argument `multipliers` must have non-empty string keys. Received: multipliers={multipliers!r}"
            )
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
    best: dict[int, tuple[tuple[int, int], str]] = {}
    unmatched = []
    for key in spec:
        pattern = _compile(key)
        hit = False
        for i, (name, path) in enumerate(zip(names, paths, strict=True)):
            rank = _rank(key, pattern, name, path, members[i])
            if rank is None:
                continue
            hit = True
            if i in best and best[i][0] == rank and best[i][1] != key:
                raise BadKeysError(
                    [key],
                    f"Argument `multipliers` has keys {best[i][1]!r} and {key!r} that both match layer {name!r} "
                    f"equally specifically; keep one or use a more specific key. Received: multipliers={dict(spec)!r}",
                )
            if i not in best or rank > best[i][0]:
                best[i] = (rank, key)
        if not hit:
            unmatched.append(key)
    if unmatched and require_all:
        raise BadKeysError(
            unmatched,
            f"Argument `multipliers` has keys that match no trainable layer: {unmatched}. Layers: {list(names)}. "
            f"Received: multipliers={dict(spec)!r}",
        )
    return {i: spec[key] for i, (_, key) in best.items()}


def _rank(
    key: str, pattern: re.Pattern[str] | None, name: str, path: str, variables: list[Any]
) -> tuple[int, int] | None:
    """How specifically `key` matches a group: (depth, 2 for the group's own name, 1 for a layer-path
    component, 0 for a pattern), or None. A group's own name outranks the same text as a component
    of a deeper group's path (``fc`` and ``body/fc``)."""
    parts = path.split("/") if path else [name]
    depth = len(parts)
    ranks = []
    if key == name:
        ranks.append((depth, 2))
    for d, part in enumerate(parts, start=1):
        if part == key:
            ranks.append((d, 1))
        elif pattern is not None and pattern.fullmatch(part):
            ranks.append((d, 0))
    if pattern is not None and any(pattern.fullmatch(c) for c in (name, path, *(v.path for v in variables))):
        ranks.append((depth, 0))
    return max(ranks) if ranks else None


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
