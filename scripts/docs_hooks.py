"""MkDocs hooks (mkdocs.yml): the site's guide is README.md and its changelog CHANGELOG.md, as they are.

Both are added as pages at build time, so there is one copy of each. The README's links into
docs/ and to CHANGELOG.md are rewritten to the site's own pages; it links nothing else in the
repository.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"index.md": "README.md", "changelog.md": "CHANGELOG.md"}


def site_markdown(source: str) -> str:
    """A repository-root Markdown file as a page of the site (docs/ is the site's root)."""
    text = re.sub(r"\]\(docs/", "](", (ROOT / source).read_text())
    for page, repository_file in PAGES.items():
        text = text.replace(f"]({repository_file})", f"]({page})")
    return text


def on_files(files: Files, config: Any) -> Files:
    for page, source in PAGES.items():
        files.append(File.generated(config, page, content=site_markdown(source)))
    return files
