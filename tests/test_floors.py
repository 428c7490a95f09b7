"""The declared floors are the tested ones: every `>=` floor in pyproject.toml is pinned in
constraints-floors.txt (which the floors stage of scripts/run_tests.py installs), and nothing else."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Pinned alongside a floor without being a direct dependency: jax's own compiled half.
COMPANIONS = {"jaxlib": "jax"}


def floors(requirements: list[str]) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?>=([0-9][0-9.]*)", requirement.replace(" ", ""))
        assert match, f"{requirement!r}: a direct dependency is declared as name>=floor"
        found[match.group(1).lower()] = Version(match.group(2))
    return found


def pins(path: Path) -> dict[str, Version]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {name.lower(): Version(version) for name, version in (line.split("==") for line in lines if line)}


def test_floors_file_pins_exactly_the_declared_floors() -> None:
    project = PYPROJECT["project"]
    declared = floors(project["dependencies"] + project["optional-dependencies"]["jax"])
    pinned = pins(ROOT / "constraints-floors.txt")
    companions = {name: pinned.pop(name) for name in COMPANIONS if name in pinned}
    assert pinned == declared
    assert companions.keys() == COMPANIONS.keys()
    for companion, owner in COMPANIONS.items():  # released together, versioned alike
        assert companions[companion] == declared[owner]
