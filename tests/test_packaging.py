"""The release: an sdist and a wheel that ``twine check`` accepts, with the version, licence and
front ends users expect; and the wheel alone, installed with Keras and jax into a clean virtual
environment, draws its front ends and trains a model through a ``TrainingDashboard``.

The clean environment is built once into ``build/wheel-venv`` with nothing but
``pip install lrwidgets-*.whl keras jax`` and kept while ``pyproject.toml`` stays the same (a fresh
clone, as in CI, builds it anew); the freshly built wheel is reinstalled into it at every run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from lrwidgets import __version__
from scripts.venvs import cached_venv, clean_environment, pip_install

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "build" / "wheel-venv"
FORCE_INCLUDE = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"][
    "force-include"
]
FRONT_ENDS = sorted(Path(target).name for target in FORCE_INCLUDE.values())

# The first run installs keras and jax into the clean environment: minutes on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = out.glob("lrwidgets-*.whl")
    (sdist,) = out.glob("lrwidgets-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_every_front_end_the_widgets_load_is_shipped() -> None:
    sources = "".join(p.read_text() for p in (ROOT / "lrwidgets").rglob("*.py"))
    loaded = set(re.findall(r'esm_path\("([^"]+)"\)', sources))
    assert loaded, "no widget loads a front end through esm_path"
    assert sorted(loaded) == FRONT_ENDS
    assert {f"js/{name}": f"lrwidgets/static/{name}" for name in FRONT_ENDS} == FORCE_INCLUDE


def test_sdist_and_wheel_pass_twine_check(dist: dict[str, Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dist["wheel"]), str(dist["sdist"])],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_wheel_carries_version_licence_urls_classifiers_and_front_ends(dist: dict[str, Path]) -> None:
    assert dist["wheel"].name == f"lrwidgets-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(dist["wheel"]) as whl:
        names = set(whl.namelist())
        info = f"lrwidgets-{__version__}.dist-info"
        meta = Parser().parsestr(whl.read(f"{info}/METADATA").decode())
        for name in FRONT_ENDS:  # shipped byte for byte as the sources in js/
            assert whl.read(f"lrwidgets/static/{name}") == (ROOT / "js" / name).read_bytes(), name
        assert f"{info}/licenses/LICENSE" in names
    assert FRONT_ENDS, "js/ holds no front end"
    assert meta["Version"] == __version__
    assert meta["License-Expression"] == "MIT"
    classifiers = meta.get_all("Classifier")
    assert "Framework :: Jupyter :: JupyterLab :: 4" in classifiers, classifiers
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert set(urls) >= {"Homepage", "Source", "Issues", "Changelog"}, urls
    assert not any(n.startswith(("tests/", "js/", "notebooks/")) for n in names)


def test_sdist_has_the_front_end_sources_licence_and_changelog(dist: dict[str, Path]) -> None:
    import tarfile

    with tarfile.open(dist["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml"} <= names
    assert {f"js/{name}" for name in FRONT_ENDS} <= names


def wheel_python(wheel: Path) -> Path:
    """The clean environment's python with ``wheel`` installed: (re)built when pyproject.toml changed."""
    python, built = cached_venv(
        VENV, (ROOT / "pyproject.toml").read_bytes(), lambda python: pip_install(python, str(wheel), "keras", "jax")
    )
    if not built:  # the same dependencies; the wheel just built
        pip_install(python, "--no-deps", "--force-reinstall", str(wheel))
    return python


TRAIN = """
import json, pathlib
import keras, numpy as np
import lrwidgets as lrw
from lrwidgets.widgets._esm import esm_path

keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="hidden"), keras.layers.Dense(1, name="out")])
model.compile(optimizer=lrw.LayerwiseOptimizer(keras.optimizers.SGD(1e-2), multipliers={"hidden": 0.5}), loss="mse")
dash = lrw.TrainingDashboard(model)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
history = dash.fit(x, y, epochs=3, batch_size=16).wait(timeout=300)
package = pathlib.Path(lrw.__file__).parent
print(json.dumps({
    "module": lrw.__file__,
    "version": lrw.__version__,
    "static": sorted(p.name for p in (package / "static").glob("*.js")),
    "esm_path": {p.name: str(esm_path(p.name)) for p in (package / "static").glob("*.js")},
    "sent_esm": {
        "pacer.js": dash._pacer.get_state()["_esm"],
        "layer_controls.js": dash.layer_controls.get_state()["_esm"],
    },
    "steps": dash.history.num_steps,
    "losses": history.history["loss"],
}))
"""


def test_installed_wheel_loads_its_front_ends_and_trains(dist: dict[str, Path], tmp_path: Path) -> None:
    python = wheel_python(dist["wheel"])
    # Run outside the checkout, so that only the installed wheel can be imported.
    result = subprocess.run(
        [str(python), "-c", TRAIN],
        cwd=tmp_path,
        env={**clean_environment(), "KERAS_BACKEND": "jax"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    package = Path(out["module"]).parent
    assert package.is_relative_to(VENV), out["module"]
    assert out["version"] == __version__
    assert out["static"] == FRONT_ENDS
    for name in FRONT_ENDS:  # esm_path finds the shipped module, and the widget sends its text
        assert Path(out["esm_path"][name]) == package / "static" / name
    for name, sent in out["sent_esm"].items():
        assert sent == (ROOT / "js" / name).read_text(), name
    assert out["steps"] == 12
    assert out["losses"][-1] < out["losses"][0], out["losses"]
