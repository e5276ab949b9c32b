"""End to end: the flow on real data → ``quorum dashboard`` → headless Chromium renders signals.

The flow replays the shipped BTC perpetual month into a store (the session fixture), then
``quorum dashboard`` serves it on a free loopback port and headless Chromium opens it. The
page is a React app fed over a WebSocket, which ``--dump-dom`` alone does not wait for, so the
test drives Chromium over its DevTools protocol (loopback only): it polls the page's text
until the newest signal's asset and decision show, then saves a screenshot under the test's
temporary directory and prints its path. Every wait is bounded.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from connectors.store.engine import open_store
from connectors.store.signals import read_fused

START_TIMEOUT = 60.0
RUNNING = """(() => {
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  return !!status && status.innerText.includes("Stop");
})()"""
"""True while Streamlit shows its "Stop" button: the script is still running."""
TABLES_DRAWN = """(() => {
  const tables = document.querySelectorAll('[data-testid="stDataFrame"] canvas').length;
  return tables >= 2 && document.querySelectorAll('[data-testid="stSkeleton"]').length === 0;
})()"""
"""True once the board's two tables (sources, recent decisions) are drawn, not placeholders."""
RENDER_TIMEOUT = 60.0


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("Chromium is not installed (Debian: apt-get install chromium; .ci/run does it)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until(what: str, ready: Any, timeout: float, process: subprocess.Popen) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {process.returncode}")
        result = ready()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    """End a process this test started, and its children (its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(20)


@pytest.fixture
def dashboard_url(store: Path, tmp_path: Path) -> Iterator[str]:
    """``quorum dashboard`` on the replayed store, on a free loopback port."""
    port = _free_port()
    log = (tmp_path / "dashboard.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "dashboard",
            "--store",
            str(store),
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok"
        except httpx.TransportError:
            return False

    try:
        _wait_until("quorum dashboard", healthy, START_TIMEOUT, process)
        yield url
    finally:
        _stop(process)
        log.close()


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's WebSocket."""

    def __init__(self, websocket: ClientConnection) -> None:
        self._ws = websocket
        self._ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        self._ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self._ws.recv(timeout=30))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """Headless Chromium with its DevTools endpoint on a loopback port of its choosing."""
    profile = tmp_path / "chromium-profile"
    process = subprocess.Popen(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1400,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    active_port = profile / "DevToolsActivePort"
    try:
        _wait_until("chromium", active_port.exists, START_TIMEOUT, process)
        port = int(active_port.read_text().split()[0])
        yield process, f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_dashboard_renders_signals_in_chromium(
    store: Path, dashboard_url: str, browser: tuple[subprocess.Popen, str], tmp_path: Path
) -> None:
    newest = read_fused(open_store(store)).sort("ts", "fused_id").row(-1, named=True)
    asset, decision = newest["asset"], newest["decision"].upper()
    process, devtools = browser
    target = httpx.put(f"{devtools}/json/new?{dashboard_url}/", timeout=10).json()
    with connect(target["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=10) as ws:
        page = DevTools(ws)

        def rendered() -> str | None:
            # the board's last section is drawn and the script run is over (no "Stop")
            shown = page.evaluate("document.body ? document.body.innerText : ''") or ""
            done = (
                "Recent OPEN and REVIEW decisions" in shown
                and not page.evaluate(RUNNING)
                and page.evaluate(TABLES_DRAWN)
            )
            return shown if done and asset in shown and decision in shown else None

        shown = _wait_until("the signals board", rendered, RENDER_TIMEOUT, process)
        assert "Live signals" in shown and "fused score" in shown
        assert f"{newest['score']:+.3f}" in shown
        dom = page.evaluate("document.documentElement.outerHTML")
        assert asset in dom and decision in dom
        (tmp_path / "dashboard.html").write_text(dom)
        shot = page.call("Page.captureScreenshot", format="png")
    screenshot = tmp_path / "dashboard.png"
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one
    print(f"dashboard screenshot: {screenshot}")
