"""Imports point one way: widgets -> training controller -> core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "lrwidgets"
WIDGET_LIBS = {"ipywidgets", "bqplot", "anywidget", "traitlets", "IPython"}
CORE_FORBIDDEN = WIDGET_LIBS | {"keras", "jax", "tensorflow", "torch", "lrwidgets.training", "lrwidgets.widgets"}
TRAINING_FORBIDDEN = WIDGET_LIBS | {"lrwidgets.widgets"}
BACKENDS = {"keras", "jax", "jaxlib", "tensorflow", "torch"}


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
    [("core", CORE_FORBIDDEN), ("schedules", CORE_FORBIDDEN), ("training", TRAINING_FORBIDDEN)],
)
def test_layers_import_one_way(folder: str, forbidden: set[str]) -> None:
    if not (PKG / folder).exists():
        pytest.skip(f"lrwidgets/{folder} does not exist yet")
    assert violations(folder, forbidden) == []


def test_widgets_import_no_keras_and_only_public_training_names() -> None:
    """Widgets talk to `lrwidgets.training`'s public names and the core, never to Keras or a backend."""
    import lrwidgets.training as training

    bad = violations("widgets", BACKENDS)
    for path in sorted((PKG / "widgets").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                not isinstance(node, ast.ImportFrom)
                or not node.module
                or not node.module.startswith("lrwidgets.training")
            ):
                continue
            if node.module != "lrwidgets.training":
                bad.append(f"{path.relative_to(PKG.parent)} imports the private {node.module}")
            bad += [
                f"{path.relative_to(PKG.parent)} imports {a.name}, not public in lrwidgets.training"
                for a in node.names
                if a.name not in training.__all__
            ]
    assert bad == []
