"""Helpers to run the annotation app as a real server process (used by its tests and benchmark).

No pytest here: a benchmark or another plugin's tests may use :class:`Server` too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

DISTIL = str(Path(sys.executable).with_name("distil"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def screenshot(page: Any, name: str, tmp: Path) -> Path:
    """Screenshot ``page`` as ``annotate-NAME.png``: into ``tmp``, or into the repository's
    ``docs/img/`` when ``DISTIL_SCREENSHOTS=1`` (to refresh the docs), so tests never dirty the
    work tree by default."""
    folder = tmp
    if os.environ.get("DISTIL_SCREENSHOTS") == "1":
        folder = Path(__file__).resolve().parents[4] / "docs" / "img"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"annotate-{name}.png"
    page.screenshot(path=str(path))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(
    method: str, url: str, body: Any = None, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Distil-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Server:
    """`distil annotate CONFIG` as a subprocess on a free loopback port."""

    def __init__(self, config: Path, *args: str, port: int | None = None) -> None:
        self.config = config
        self.args = args
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.token: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        cmd = [DISTIL, "annotate", str(self.config), "--port", str(self.port), *self.args]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited: {self.proc.stdout.read() if self.proc.stdout else ''}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        self.stop()
        return self.proc.stdout.read() if self.proc and self.proc.stdout else ""

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        return http(method, self.url + path, body, token)


# -- browser helpers (Playwright pages; playwright is imported only when used) --
#: JS for page.evaluate: select the text between two offsets of the card's text as the DOM counts
#: them (UTF-16 code units: the same as code points for text without emoji), then release the
#: mouse (what a person's drag does), with Alt held when a third argument is true.
SELECT = """([start, end, alt]) => {
  const box = document.getElementById('text');
  const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  let node, started = false;
  while ((node = walker.nextNode())) {
    const base = Number(node.parentElement.dataset.start);
    const len = node.textContent.length;
    if (!started && start < base + len) { range.setStart(node, start - base); started = true; }
    if (started && end <= base + len) { range.setEnd(node, end - base); break; }
  }
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
  document.dispatchEvent(new MouseEvent('mouseup', {bubbles: true, altKey: !!alt}));
}"""


def card_id(page: Any) -> str:
    """The example id of the card shown; waits for the first card after a (re)load."""
    page.locator("#card[data-example]").wait_for(state="attached")
    return str(page.locator("#card").get_attribute("data-example"))


def press(page: Any, key: str, answer: str) -> str:
    """Press ``key`` on the current card and wait until the server confirmed the answer."""
    from playwright.sync_api import expect

    eid = card_id(page)
    page.keyboard.press(key)
    expect(page.locator("#status")).to_have_text(f"saved {answer} for {eid}")
    return eid
