"""The offline static export: the exported quick start renders its dashboard with the network cut off."""

from __future__ import annotations

import base64
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from jupyter_page import ARTIFACTS, PageErrors
from jupyter_server import NOTEBOOKS, ROOT

pytestmark = pytest.mark.ui

QUICKSTART = "00_quickstart.ipynb"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("npm") is None and not (ROOT / "build" / "export-js").exists():
        pytest.fail("the export needs npm once (apt-get install -y npm)")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from scripts.export_notebooks import export

    out = tmp_path_factory.mktemp("export")
    (page,) = export([ROOT / "notebooks" / QUICKSTART], out)
    return page


def _loss_steps(page: Path) -> np.ndarray:
    """The steps (x) of the exported page's loss line (the mark labelled "loss (batch)" that its
    figure shows: the dashboard keeps one on a linear and one on a log axis, the hidden one empty),
    from its widget state."""
    html = page.read_text(encoding="utf-8")
    embedded = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', html, re.S)
    assert embedded, "the page embeds no widget state"
    state = json.loads(embedded.group(1))["state"]
    shown = {
        ref.removeprefix("IPY_MODEL_")
        for model in state.values()
        if model["model_name"] == "FigureModel"
        for ref in model["state"].get("marks", [])
    }

    def x(model: dict) -> np.ndarray:
        arrays = {tuple(b["path"]): base64.b64decode(b["data"]) for b in model.get("buffers", [])}
        return np.frombuffer(arrays.get(("x", "value"), b""), model["state"]["x"]["dtype"])

    lines = {
        key: model
        for key, model in state.items()
        if model["model_name"] == "LinesModel" and "loss (batch)" in model["state"].get("labels", [])
    }
    marks = [model for key, model in lines.items() if key in shown]
    assert len(marks) == 1, f"{len(marks)} loss lines shown in the state's figures"
    hidden = [len(x(model)) for key, model in lines.items() if key not in shown]
    assert len(hidden) == 1, f"{len(hidden)} hidden loss lines in the state (one set on each loss axis)"
    assert not any(hidden), f"the hidden loss lines embed {hidden} points"
    return x(marks[0])


@pytest.mark.skipif(QUICKSTART not in NOTEBOOKS, reason="no quick-start notebook yet")
def test_exported_dashboard_renders_offline(
    browser_context, browser_page, exported: Path, page_errors: PageErrors
) -> None:
    page = browser_page
    blocked: list[str] = []

    def only_files(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_files)
    browser_context.set_offline(True)
    try:
        page.goto(exported.as_uri())
        dash = page.locator(".lrwidgets-dashboard")
        dash.wait_for(timeout=60_000)
        # The loss curve is the fit's last drawing, not an earlier one: the page's line reaches the
        # last step the status line counts, with the points of the whole fit (decimated to at most
        # max_points: 900 steps give 450 min/max pairs' points), not the first epoch's 45.
        steps = int(re.search(r"\((\d+) in all\)", dash.locator(".lrw-status").inner_text()).group(1))
        drawn = _loss_steps(exported)
        assert drawn[-1] == steps - 1, (drawn[-1], steps)
        assert len(drawn) >= min(steps, 600) // 2, len(drawn)
        page.wait_for_function(
            """(n) => { const p = document.querySelector('.lrwidgets-dashboard .bqplot path.line');
                        return p && (p.getAttribute('d') || '').split('L').length >= n; }""",
            arg=len(drawn),
            timeout=60_000,
        )
        # The controls render: buttons, the learning-rate slider with its readout, the status line.
        for name in ("Pause", "Stop"):  # "Stop" ends the name: the diagnosis's fix may read "Stop and restore ..."
            buttons = dash.get_by_role("button", name=re.compile(rf"\b{name}\s*$"))
            assert buttons.count() == 1, name
        assert dash.locator(".widget-slider .noUi-handle").count() >= 1
        assert "e-3" in dash.locator(".widget-slider .widget-readout").first.inner_text()
        assert "epoch" in dash.locator(".lrw-status").inner_text()
        assert page.get_by_text("Error displaying widget").count() == 0
        # The buttons' icons: the font of their style (Font Awesome, shipped beside the page) loads.
        family = dash.locator("button i.fa-pause").evaluate("(i) => getComputedStyle(i, '::before').fontFamily")
        assert "Font Awesome" in family, family
        page.wait_for_function("""() => { const fa = [...document.fonts].filter((f) => /Font Awesome/.test(f.family));
                                          return fa.some((f) => f.status === 'loaded')
                                                 && !fa.some((f) => f.status === 'error'); }""")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        dash.screenshot(path=str(ARTIFACTS / "export-offline-dashboard.png"))
    finally:
        browser_context.set_offline(False)
    assert blocked == [], f"the exported page asked the network for: {blocked}"
    assert page_errors.widget_related() == [], page_errors.widget_related()
