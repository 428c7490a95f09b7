"""Export executed notebooks as self-contained HTML pages that render their widgets offline.

    python scripts/export_notebooks.py [--output-dir export] [NOTEBOOK ...]   (or: ./dev export)

Each notebook (default: every notebook in notebooks/) is executed headless with its widget state
stored, then written as ``<name>.html`` by nbconvert with RequireJS and the widget renderer
loaded from files beside it instead of a CDN. Beside the pages go:

- ``require.js`` (npm ``requirejs@2``) and ``embed-amd.js`` (npm ``@jupyter-widgets/html-manager@1``,
  which defines the ipywidgets base and controls modules), installed with npm into
  ``build/export-js`` on first use, with the Font Awesome fonts of its buttons' icons;
- ``<module>.js`` for each widget library: the AMD bundles that the Python packages ship under
  ``share/jupyter/nbextensions/<module>/index.js`` (bqplot, bqscales, anywidget), so the version
  that drew the widgets in the kernel is the one that draws them on the page.

Pages use JupyterLab's look (nbconvert's ``lab`` template) without MathJax, which only a CDN
would provide: the tutorials typeset no math. The folder can be copied anywhere (a course web
site, a USB stick) and opened with ``file://``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `scripts.` importable
    sys.path.insert(0, str(ROOT))

from scripts.execute_notebooks import execute  # noqa: E402  (after the sys.path set-up above)

NPM_PACKAGES = ("@jupyter-widgets/html-manager@1", "requirejs@2")
JS_DIR = ROOT / "build" / "export-js"
REQUIRE_JS = JS_DIR / "node_modules" / "requirejs" / "require.js"
EMBED_AMD_JS = JS_DIR / "node_modules" / "@jupyter-widgets" / "html-manager" / "dist" / "embed-amd.js"
FONT_SUFFIXES = {".woff2", ".woff", ".ttf", ".eot", ".svg"}
# Provided by embed-amd.js itself; the nbextension of the same package is the classic-notebook one.
BUILT_IN = {"jupyter-js-widgets"}
TEMPLATES = Path(__file__).resolve().parent / "export_template"  # lab's template without the MathJax CDN


def npm_files() -> tuple[Path, Path]:
    """require.js and embed-amd.js, installed with npm on first use."""
    if not (REQUIRE_JS.exists() and EMBED_AMD_JS.exists()):
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(
                "export needs npm (Node.js) once, to fetch require.js and the widget renderer: `apt-get install -y npm`"
            )
        JS_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(JS_DIR), *NPM_PACKAGES], check=True
        )
    return REQUIRE_JS, EMBED_AMD_JS


def widget_bundles() -> dict[str, Path]:
    """AMD module name -> bundle, from every nbextensions folder of this environment."""
    from jupyter_core.paths import jupyter_path

    bundles: dict[str, Path] = {}
    for base in jupyter_path("nbextensions"):
        for index in sorted(Path(base).glob("*/index.js")):
            name = index.parent.name
            if name not in BUILT_IN:
                bundles.setdefault(name, index)
    return bundles


def export(notebooks: list[Path], output_dir: Path) -> list[Path]:
    from nbconvert import HTMLExporter

    output_dir.mkdir(parents=True, exist_ok=True)
    for source in npm_files():
        shutil.copyfile(source, output_dir / source.name)
    # embed-amd.js styles the buttons' icons with Font Awesome 5; its two style sheets look for the
    # fonts in these two folders.
    for folder in ("@jupyter-widgets", "@jupyter-widgets/html-manager/dist"):
        (output_dir / folder).mkdir(parents=True, exist_ok=True)
        for font in EMBED_AMD_JS.parent.iterdir():
            if font.suffix in FONT_SUFFIXES:
                shutil.copyfile(font, output_dir / folder / font.name)
    for name, bundle in widget_bundles().items():
        shutil.copyfile(bundle, output_dir / f"{name}.js")
    exporter = HTMLExporter(
        require_js_url="require.js",
        widget_renderer_url="embed-amd.js",
        extra_template_basedirs=[str(TEMPLATES)],
        template_name="offline",
    )
    pages = []
    for path in notebooks:
        nb, timing = execute(path)
        if "widgets" not in nb.metadata:
            print(f"note: {path.name} stored no widget state", flush=True)
        body, _ = exporter.from_notebook_node(nb)
        page = output_dir / f"{path.stem}.html"
        page.write_text(body, encoding="utf-8")
        pages.append(page)
        print(
            f"{page.relative_to(output_dir.parent) if output_dir.is_relative_to(ROOT) else page}"
            f" (executed in {timing.wall:.0f} s)",
            flush=True,
        )
    return pages


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "export")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    export(notebooks, args.output_dir.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
