"""Imports point one way: widgets -> sweep -> training controller -> core."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "lrwidgets"
WIDGET_LIBS = {"ipywidgets", "bqplot", "anywidget", "traitlets", "IPython"}
DASK = {"dask", "distributed"}
CORE_FORBIDDEN = (
    WIDGET_LIBS
    | DASK
    | {"keras", "jax", "tensorflow", "torch", "lrwidgets.training", "lrwidgets.sweep", "lrwidgets.widgets"}
)
TRAINING_FORBIDDEN = WIDGET_LIBS | DASK | {"lrwidgets.sweep", "lrwidgets.widgets"}
BACKENDS = {"keras", "jax", "jaxlib", "tensorflow", "torch"}
# The sweep engine: the training layer, the core and dask.distributed; the Keras work of a trial
# is done by lrwidgets.training.trial, so the sweep itself imports no Keras, backend or widget.
SWEEP_FORBIDDEN = WIDGET_LIBS | BACKENDS | {"lrwidgets.widgets"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(folder: str, forbidden: set[str]) -> list[str]:
    bad = []
    for path in sorted((PKG / folder).rglob("*.py")):
        for name in imported_modules(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(PKG.parent)} imports {name}")
    return bad


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("core", CORE_FORBIDDEN),
        ("schedules", CORE_FORBIDDEN),
        ("training", TRAINING_FORBIDDEN),
        ("sweep", SWEEP_FORBIDDEN),
    ],
)
def test_layers_import_one_way(folder: str, forbidden: set[str]) -> None:
    if not (PKG / folder).exists():
        pytest.skip(f"lrwidgets/{folder} does not exist yet")
    assert violations(folder, forbidden) == []


def test_widgets_import_no_keras_and_only_public_training_and_sweep_names() -> None:
    """Widgets talk to the public names of `lrwidgets.training` and `lrwidgets.sweep` and to the core,
    never to Keras, a backend or Dask."""
    import lrwidgets.sweep as sweep
    import lrwidgets.training as training

    bad = violations("widgets", BACKENDS | DASK)
    for path in sorted((PKG / "widgets").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            for package in (training, sweep):
                name = package.__name__
                if node.module != name and not node.module.startswith(name + "."):
                    continue
                if node.module != name:
                    bad.append(f"{path.relative_to(PKG.parent)} imports the private {node.module}")
                bad += [
                    f"{path.relative_to(PKG.parent)} imports {a.name}, not public in {name}"
                    for a in node.names
                    if a.name not in package.__all__
                ]
    assert bad == []


def test_sweep_layer_rules_catch_a_widget_or_keras_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep rule can fail: a module of lrwidgets/sweep importing Keras or a widget is reported."""
    folder = tmp_path / "lrwidgets" / "sweep"
    folder.mkdir(parents=True)
    (folder / "bad.py").write_text("import keras\nfrom lrwidgets.widgets import LRSweep\nimport distributed\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", tmp_path / "lrwidgets")
    assert sorted(violations("sweep", SWEEP_FORBIDDEN)) == [
        "lrwidgets/sweep/bad.py imports keras",
        "lrwidgets/sweep/bad.py imports lrwidgets.widgets",
    ]


MAX_MODULE_LINES = 400


def long_modules(package: Path, limit: int = MAX_MODULE_LINES) -> list[str]:
    """The modules of ``package`` longer than ``limit`` lines (every line counted: code, docstrings, blanks)."""
    return [
        f"{path.relative_to(package.parent)}: {n} lines"
        for path in sorted(package.rglob("*.py"))
        if (n := len(path.read_text().splitlines())) > limit
    ]


def test_every_module_is_short_enough_to_read_in_one_sitting() -> None:
    """No module of lrwidgets over 400 lines: a longer one holds more than one concept; split it by responsibility."""
    assert long_modules(PKG) == []


def test_the_module_length_rule_can_fail(tmp_path: Path) -> None:
    package = tmp_path / "lrwidgets"
    (package / "core").mkdir(parents=True)
    (package / "core" / "long.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    (package / "core" / "short.py").write_text('"""doc"""\n\n' + "x = 1\n" * (MAX_MODULE_LINES - 2))
    assert long_modules(package) == [f"lrwidgets/core/long.py: {MAX_MODULE_LINES + 1} lines"]
