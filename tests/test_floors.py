"""The declared floors are the tested ones: every `>=` floor of pyproject.toml's dependencies and of
its `jax` and `sweep` extras is pinned in constraints-floors.txt (which the floors stage of
scripts/run_tests.py installs), and nothing else; the `tensorflow` and `torch` extras' floors are
the versions their stages test (constraints.txt, .ci/run)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Pinned alongside a floor without being a direct dependency: jax's own compiled half, and the dask
# that distributed is released with.
COMPANIONS = {"jaxlib": "jax", "dask": "distributed"}
FLOORS_STAGE_EXTRAS = ("jax", "sweep")


def floors(requirements: list[str]) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for text in requirements:
        requirement = Requirement(text)
        (spec,) = requirement.specifier
        assert spec.operator == ">=", f"{text!r}: a direct dependency is declared as name>=floor"
        found[requirement.name.lower()] = Version(spec.version)
    return found


def pins(path: Path) -> dict[str, Version]:
    lines = [line.split("#")[0].split(";")[0].strip() for line in path.read_text().splitlines()]
    return {name.lower(): Version(version) for name, version in (line.split("==") for line in lines if line)}


def test_floors_file_pins_exactly_the_declared_floors() -> None:
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    declared = floors(project["dependencies"] + [r for extra in FLOORS_STAGE_EXTRAS for r in extras[extra]])
    pinned = pins(ROOT / "constraints-floors.txt")
    companions = {name: pinned.pop(name) for name in COMPANIONS if name in pinned}
    assert pinned == declared
    assert companions.keys() == COMPANIONS.keys()
    for companion, owner in COMPANIONS.items():  # released together, versioned alike
        assert companions[companion] == declared[owner]


def test_the_floors_stage_installs_the_extras_whose_floors_it_pins() -> None:
    script = (ROOT / "scripts" / "run_tests.py").read_text()
    assert f'".[{",".join(FLOORS_STAGE_EXTRAS)}]"' in script


def test_backend_extras_floors_are_the_versions_their_stages_test() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    tested = pins(ROOT / "constraints.txt")
    tensorflow = floors(extras["tensorflow"])
    # tensorflow-cpu (no macOS wheels) and, on macOS, tensorflow: the same release
    assert tensorflow == {"tensorflow-cpu": tested["tensorflow-cpu"], "tensorflow": tested["tensorflow"]}
    ci_torch = re.search(r"pip install -q torch==([0-9.]+)", (ROOT / ".ci" / "run").read_text())
    assert ci_torch, ".ci/run installs torch at an exact version"
    assert floors(extras["torch"]) == {"torch": Version(ci_torch.group(1))}
