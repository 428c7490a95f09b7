"""Run benchmark code in a fresh Jupyter kernel and collect the one result it prints."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parent.parent


def run_in_kernel(code: str) -> Any:
    """Execute ``code`` in a new python3 kernel that imports this checkout's lrwidgets.

    The code reports by printing one line ``RESULT<json>``; that JSON is returned. Errors in the
    kernel are printed here, and a run without a result exits the benchmark.
    """
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    km, kc = start_new_kernel(kernel_name="python3")
    result = None
    try:

        def on_output(msg: dict) -> None:
            nonlocal result
            if msg["msg_type"] == "stream" and "RESULT{" in msg["content"]["text"]:
                line = next(s for s in msg["content"]["text"].splitlines() if s.startswith("RESULT"))
                result = json.loads(line[len("RESULT") :])
            elif msg["msg_type"] == "error":
                print("\n".join(msg["content"]["traceback"]), file=sys.stderr)

        kc.execute_interactive(code, timeout=3600, output_hook=on_output)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    if result is None:
        sys.exit("benchmark failed: no result from the kernel")
    return result
