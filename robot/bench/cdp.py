"""A bare Chromium for latency benchmarks: the DevTools protocol over a pipe, with no domain ever enabled.

Playwright enables the Network domain on every page it drives, so Chromium copies each server-sent event to the
driver (`Network.eventSourceMessageReceived`) and the driver, a Node.js process, parses it: work on the same two
cores that a staff member's browser would not do. This driver only sends commands (navigate, evaluate) and reads
their answers, so between them the browser runs as a staff member's would. Chromium reads commands from the
child's fd 3 and writes answers on fd 4, each a JSON text ended by a NUL byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from typing import Any

from robot.errors import CareBotError


class BareChromium:
    """A headless Chromium with one page, driven by DevTools commands alone."""

    def __init__(self, executable: str, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self._profile = tempfile.TemporaryDirectory(prefix="carebot-cdp-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def fds() -> None:  # in the child, before exec: the pipe ends at the numbers Chromium expects
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        # the switches Playwright launches Chromium with that matter here, so that the two drivers compare
        args = [executable, "--headless", "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-breakpad",
                "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding", "--mute-audio",
                "--password-store=basic", "--metrics-recording-only"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium will not start its sandbox as root (CI and this VM)
        self.proc = subprocess.Popen(
            [*args, "about:blank"],
            preexec_fn=fds, close_fds=False,  # closing would take 3 and 4; the pipes' own ends close on exec
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._next = 0
        self.session = ""
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t["targetId"] for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page, flatten=True)["sessionId"]

    def call(self, method: str, *, browser: bool = False, **params: Any) -> dict[str, Any]:
        """Sends one command (to the page once attached, unless `browser`) and returns its result."""
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if self.session and not browser:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout_s
        while True:
            while b"\0" not in self._buf:
                if time.monotonic() > deadline:
                    raise CareBotError(f"Chromium did not answer {method} within {self.timeout_s:.0f} s")
                chunk = os.read(self._from_chrome, 65536)
                if not chunk:
                    raise CareBotError(f"Chromium closed its DevTools pipe during {method}")
                self._buf += chunk
            text, self._buf = self._buf.split(b"\0", 1)
            answer = json.loads(text)
            if answer.get("id") != self._next:
                continue  # an event (Target.* ones arrive without asking) or a late answer
            if "error" in answer:
                raise CareBotError(f"Chromium refused {method}: {answer['error'].get('message')}")
            return answer["result"]  # type: ignore[no-any-return]

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited), as JSON."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise CareBotError(f"the page threw: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def wait_for(self, expression: str, timeout_s: float = 30.0) -> None:
        """Polls until the expression is true in the page (after a navigation the old page may still answer)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.evaluate(expression):
                    return
            except CareBotError:
                pass  # the page was between documents
            time.sleep(0.05)
        raise CareBotError(f"the page never showed {expression} within {timeout_s:.0f} s")

    def close(self) -> None:
        try:
            self.call("Browser.close", browser=True)
        except (CareBotError, OSError):
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for fd in (self._to_chrome, self._from_chrome):
            os.close(fd)
        self._profile.cleanup()

    def __enter__(self) -> BareChromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
