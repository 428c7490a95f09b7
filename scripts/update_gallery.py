"""Copy the browser suite's notebook screenshots into docs/img for the README's gallery.

    python scripts/update_gallery.py [--artifacts DIR]

``tests/ui/test_notebooks_ui.py`` leaves one screenshot per notebook run in JupyterLab in
test-artifacts/ui/notebooks/ (``lab-<notebook>.png``, the notebook's tallest widget at the top
of the window). This copies each as ``docs/img/notebook-<NN>.png``, ``NN`` being the number the
notebook's name starts with, and prints the README gallery rows that are missing: a new notebook
gets its picture by running the browser suite, then this script, then pasting the row it prints.
Exits 1 if a notebook in notebooks/ has no screenshot in the artifacts.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "ui" / "notebooks"
IMAGES = ROOT / "docs" / "img"


def image_name(notebook: str) -> str:
    """``00_quickstart.ipynb`` -> ``notebook-00.png``."""
    match = re.match(r"(\d+)_", notebook)
    if match is None:
        raise ValueError(f"Argument `notebook` must start with its number and '_'. Received: notebook={notebook!r}")
    return f"notebook-{match[1]}.png"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=ARTIFACTS)
    args = parser.parse_args(argv)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = []
    for notebook in sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")):
        shot = args.artifacts / f"lab-{notebook.removesuffix('.ipynb')}.png"
        if not shot.exists():
            missing.append(notebook)
            print(f"no screenshot of {notebook} in {args.artifacts}", flush=True)
            continue
        target = IMAGES / image_name(notebook)
        shutil.copyfile(shot, target)
        print(f"{target.relative_to(ROOT)} <- {shot}", flush=True)
        if f"docs/img/{target.name}" not in readme:
            stem = notebook.removesuffix(".ipynb")
            print(f"README gallery row to add: | `{stem}` | ![{stem} in JupyterLab](docs/img/{target.name}) |")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
