"""The API reference names every public name: a name added to ``lrwidgets.__all__`` or to the widgets
imported on first use (``lrwidgets._WIDGETS``, which holds ``LRSweep``, public but left out of
``__all__`` so that ``from lrwidgets import *`` works without the ``sweep`` extra) without a
reference entry fails here (a stale entry fails the strict docs build: scripts/run_tests.py)."""

from __future__ import annotations

import re
from pathlib import Path

import lrwidgets

ROOT = Path(__file__).resolve().parent.parent


def test_reference_documents_every_public_name() -> None:
    pages = "".join(p.read_text() for p in (ROOT / "docs" / "reference").glob("*.md"))
    documented = set(re.findall(r"^::: lrwidgets\.(\w+)$", pages, re.MULTILINE))
    public = {name for name in (*lrwidgets.__all__, *lrwidgets._WIDGETS) if not name.startswith("_")}
    assert public - documented == set(), "add a `::: lrwidgets.NAME` entry to a page of docs/reference/"
    assert documented - public == set(), "the reference documents names that lrwidgets does not export"


def test_guide_pages_are_the_readme_and_changelog_with_links_into_the_site() -> None:
    from scripts.docs_hooks import PAGES, site_markdown

    guide = site_markdown(PAGES["index.md"])
    assert guide.startswith("# lrwidgets")
    assert "](docs/" not in guide and "](img/dashboard.png)" in guide
    for target in re.findall(r"\]\((?!https?://|#)([^)]+)\)", guide):  # every relative link is a site file
        assert target in PAGES or (ROOT / "docs" / target).exists(), target
    assert site_markdown(PAGES["changelog.md"]).startswith("# Changelog")
