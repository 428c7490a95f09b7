"""Fixtures of the browser suite: Debian Chromium driven by playwright, real Jupyter servers.

Run it alone with ``python -m pytest -m ui tests/ui``. Without ``/usr/bin/chromium`` the suite is
skipped with the install command, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_page import ARTIFACTS, NotebookPage, PageErrors
from jupyter_server import ROOT, JupyterServer

CHROMIUM = Path(os.environ.get("LRWIDGETS_CHROMIUM", "/usr/bin/chromium"))
# Flags that work as root in a container (see the project's measured facts).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_REPORTS = pytest.StashKey[dict]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        message = (
            f"{CHROMIUM} not found: the browser suite needs Debian's Chromium. "
            "Install it with `sudo apt-get install -y chromium`."
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: the browser suite may not be skipped)", pytrace=False)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_context(chromium_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(chromium_path),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def notebook_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary copy of notebooks/: the servers may autosave into it."""
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    return root / "notebooks"


def _server(kind: str, root: Path, state: Path) -> Iterator[JupyterServer]:
    server = JupyterServer(kind, root, state)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def lab_server(notebook_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    yield from _server("lab", notebook_root, tmp_path_factory.mktemp("lab-state"))


@pytest.fixture(scope="session")
def notebook7_server(notebook_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    yield from _server("notebook", notebook_root, tmp_path_factory.mktemp("notebook-state"))


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def browser_page(request: pytest.FixtureRequest, browser_context: object, page_errors: PageErrors) -> Iterator[object]:
    """A fresh page; on failure its screenshot is saved under test-artifacts/ui/failures/."""
    page = browser_context.new_page()  # type: ignore[attr-defined]
    page.set_default_timeout(60_000)
    page_errors.attach(page)
    try:
        yield page
    finally:
        reports = request.node.stash.get(_REPORTS, {})
        if any(r.failed for r in reports.values()):
            failures = ARTIFACTS / "failures"
            failures.mkdir(parents=True, exist_ok=True)
            name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
            page.screenshot(path=str(failures / f"{name}.png"))
        page.close()


@pytest.fixture
def lab(lab_server: JupyterServer, browser_page: object) -> Iterator[object]:
    """``lab(path)`` opens notebooks/<path> in JupyterLab; its kernel is shut down after the test."""
    yield _Opener(lab_server, browser_page)
    lab_server.shutdown_kernels()


@pytest.fixture
def notebook7(notebook7_server: JupyterServer, browser_page: object) -> Iterator[object]:
    """``notebook7(path)`` opens notebooks/<path> in Notebook 7; its kernel is shut down after the test."""
    yield _Opener(notebook7_server, browser_page)
    notebook7_server.shutdown_kernels()


class _Opener:
    def __init__(self, server: JupyterServer, page: object) -> None:
        self.server = server
        self.page = page

    def __call__(self, path: str) -> NotebookPage:
        return NotebookPage(self.page, self.server, path).open()  # type: ignore[arg-type]
