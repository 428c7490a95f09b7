"""Drive a notebook in JupyterLab or Notebook 7 through the app object (``--expose-app-in-browser``).

Every wait is on a condition in the page (the app's models, the kernel status, the DOM), never a
fixed sleep.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from playwright.sync_api import ConsoleMessage, Page

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
#: One screenshot per notebook run in the browser suite, named ``lab-<notebook>.png`` (JupyterLab) or
#: ``nb7-<notebook>.png`` (Notebook 7): scripts/update_gallery.py copies the JupyterLab ones into
#: docs/img for the README.
NOTEBOOK_SHOTS = ARTIFACTS / "notebooks"

# Notebook 7.6.5 logs this on every load; it has nothing to do with notebooks or widgets.
KNOWN_HARMLESS = (re.compile(r"Cannot read properties of undefined \(reading 'schema'\)"),)
WIDGET_ERRORS = re.compile(r"widget|bqplot|anywidget|lrwidgets|require|Error displaying", re.IGNORECASE)

# JS helpers shared by the predicates below: the notebook panel showing `path` (or null), and the
# run state of its cells read from the notebook model (not the DOM, which is windowed).
_HELPERS = """
const panelFor = (path) => {
  const app = window.jupyterapp;
  const w = app && app.shell ? app.shell.currentWidget : null;
  return (w && w.context && w.context.path === path && w.content && w.sessionContext) ? w : null;
};
const runState = (path) => {
  const w = panelFor(path);
  if (!w || !w.content.model) return {found: false};
  const cells = w.content.model.cells;
  let pending = 0, executed = 0, widgets = 0;
  const errors = [];
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code' || !c.sharedModel.getSource().trim()) continue;
    for (const o of c.outputs.toJSON()) {
      if (o.output_type === 'error') errors.push({cell: i, ename: o.ename, evalue: o.evalue});
      if (o.data && o.data['application/vnd.jupyter.widget-view+json']) widgets += 1;
    }
    if (c.executionCount === null) pending += 1; else executed += 1;
  }
  const session = w.sessionContext.session;
  const kernel = session ? session.kernel : null;
  return {found: true, pending, executed, errors, widgets,
          status: kernel ? kernel.status : 'none',
          connection: kernel ? kernel.connectionStatus : 'none'};
};
"""

_KERNEL_READY = (
    _HELPERS
    + """
(path) => {
  const w = panelFor(path);
  const s = runState(path);
  return !!w && w.sessionContext.isReady && s.found && s.status === 'idle' && s.connection === 'connected';
}
"""
)
_ALL_CLEARED = _HELPERS + "(path) => { const s = runState(path); return s.found && s.executed === 0; }"
_RUN_DONE = (
    _HELPERS
    + """
(path) => {
  const s = runState(path);
  return s.found && s.status === 'idle' && (s.pending === 0 || s.errors.length > 0);
}
"""
)
_RUN_STATE = _HELPERS + "(path) => runState(path)"

_KERNEL_EXECUTE = (
    _HELPERS
    + """
async ([path, code]) => {
  const kernel = panelFor(path).sessionContext.session.kernel;
  const future = kernel.requestExecute({code, store_history: false});
  let out = '', err = null;
  future.onIOPub = (msg) => {
    const type = msg.header.msg_type;
    if (type === 'stream') out += msg.content.text;
    else if (type === 'error') err = msg.content.ename + ': ' + msg.content.evalue;
  };
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('no reply in 30 s')), 30000));
  await Promise.race([future.done, timeout]);
  if (err) throw new Error(err);
  return out;
}
"""
)

# Widget outputs and how each rendered. The ipywidgets renderer is the output node: it shows
# "Loading widget..." until the view exists, then holds the view (a `.jupyter-widgets` element), or
# says "Error displaying widget[: model not found]" (and gets the class itself).
_WIDGET_OUTPUTS = """
() => Array.from(document.querySelectorAll('.jp-OutputArea-output'))
  .filter((el) => el.classList.contains('jupyter-widgets') || el.querySelector(':scope > .jupyter-widgets')
                  || (el.textContent || '').trim() === 'Loading widget...')
  .map((el) => ({
    text: (el.textContent || '').slice(0, 200),
    rendered: !!el.querySelector(':scope > .jupyter-widgets'),
    error: /Error displaying widget|Error rendering widget/.test(el.textContent || ''),
    loading: (el.textContent || '').trim() === 'Loading widget...',
  }))
"""
_SCROLL_TO_TALLEST = """
() => {
  const outputs = Array.from(document.querySelectorAll('.jp-OutputArea-output'))
    .filter((el) => el.querySelector(':scope > .jupyter-widgets'));
  if (!outputs.length) return false;
  const height = (el) => el.getBoundingClientRect().height;
  const tallest = outputs.reduce((a, b) => (height(b) > height(a) ? b : a));
  tallest.scrollIntoView({block: 'start'});
  return true;
}
"""
_WIDGETS_SETTLED = "() => !(" + _WIDGET_OUTPUTS.strip() + ")().some((w) => w.loading)"


def write_notebook(root_dir: Path, name: str, cells: list[str]) -> str:
    """Write a notebook of code ``cells`` (no outputs) as ``root_dir/name``; returns ``name``."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nbformat.write(nb, root_dir / name)
    return name


@dataclass
class PageErrors:
    """Console errors and uncaught exceptions seen by a page (minus known harmless ones)."""

    console: list[str] = field(default_factory=list)
    uncaught: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self._keep(self.uncaught, f"{exc.name}: {exc.message}"))

    def _on_console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self._keep(self.console, msg.text)

    @staticmethod
    def _keep(into: list[str], text: str) -> None:
        if not any(p.search(text) for p in KNOWN_HARMLESS):
            into.append(text)

    def widget_related(self) -> list[str]:
        return [t for t in self.console + self.uncaught if WIDGET_ERRORS.search(t)]


class NotebookPage:
    """One notebook opened in a real browser page."""

    def __init__(self, page: Page, server: Any, path: str) -> None:
        self.page = page
        self.server = server
        self.path = path

    def open(self, timeout_ms: float = 120_000) -> NotebookPage:
        self.page.goto(self.server.url(self.path))
        self.page.wait_for_function(_KERNEL_READY, arg=self.path, timeout=timeout_ms)
        return self

    def command(self, name: str, args: dict[str, Any] | None = None) -> Any:
        return self.page.evaluate(
            "([name, args]) => window.jupyterapp.commands.execute(name, args)", [name, args or {}]
        )

    def run_all(self, timeout_ms: float = 240_000) -> dict[str, Any]:
        """Clear outputs, run every cell, wait until each ran (or one failed) and the kernel is idle."""
        self.command("notebook:clear-all-cell-outputs")
        self.page.wait_for_function(_ALL_CLEARED, arg=self.path)
        # Not awaited here: the wait below is on the cells and the kernel, whatever the command returns.
        self.page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        self.page.wait_for_function(_RUN_DONE, arg=self.path, timeout=timeout_ms)
        return self.state()

    def run_all_rendered(self) -> list[dict[str, Any]]:
        """``run_all``, then fail on an error output or on a widget that did not render; returns the widgets."""
        state = self.run_all()
        assert state["errors"] == [], f"error outputs in {self.path}: {state['errors']}"
        widgets = self.wait_widgets_rendered()
        assert widgets and all(w["rendered"] and not w["error"] for w in widgets), widgets
        return widgets

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.page.evaluate(_RUN_STATE, self.path)
        return result

    def wait_widgets_rendered(self, timeout_ms: float = 60_000) -> list[dict[str, Any]]:
        """Wait until no widget output says "Loading widget..." any more; return them all.

        Fails if the page shows fewer widget outputs than the notebook model holds.
        """
        self.page.wait_for_function(_WIDGETS_SETTLED, timeout=timeout_ms)
        outputs: list[dict[str, Any]] = self.page.evaluate(_WIDGET_OUTPUTS)
        expected = self.state()["widgets"]
        assert len(outputs) == expected, f"{expected} widget outputs in the notebook, {len(outputs)} on the page"
        return outputs

    def kernel_print(self, code: str) -> str:
        """Run ``code`` in the notebook's kernel (outside any cell) and return what it printed."""
        out: str = self.page.evaluate(_KERNEL_EXECUTE, [self.path, code])
        return out.strip()

    def kernel_json(self, expression: str) -> Any:
        """The value of a JSON-able Python ``expression``, evaluated in the notebook's kernel."""
        return json.loads(self.kernel_print(f"import json as _j; print(_j.dumps({expression}))"))

    def kernel_wait(self, code: str, timeout: float = 60.0, interval: float = 0.1) -> None:
        """Poll the kernel until ``code`` prints ``True`` (a condition, e.g. a value applied by training)."""
        deadline = time.monotonic() + timeout
        while (printed := self.kernel_print(code)) != "True":
            if time.monotonic() > deadline:
                raise TimeoutError(f"still {printed!r} after {timeout:.0f} s: {code}")
            self.page.wait_for_timeout(interval * 1000)  # polling interval of the condition above

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def showcase(self, name: str) -> Path:
        """A screenshot of the whole JupyterLab window with the notebook's tallest widget output
        scrolled to the top of the notebook: ``NOTEBOOK_SHOTS/<name>.png`` (the README's gallery)."""
        NOTEBOOK_SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.evaluate(_SCROLL_TO_TALLEST)
        # two animation frames: the scroll is laid out and painted before the capture
        self.page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
        path = NOTEBOOK_SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def screenshot_widgets(self, name: str) -> list[Path]:
        """One screenshot per rendered widget output, scrolled into view."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        paths = []
        outputs = self.page.locator(".jp-OutputArea-output:has(> .jupyter-widgets)")
        for i in range(outputs.count()):
            path = ARTIFACTS / f"{name}-widget{i}.png"
            outputs.nth(i).scroll_into_view_if_needed()
            outputs.nth(i).screenshot(path=str(path))
            paths.append(path)
        return paths
