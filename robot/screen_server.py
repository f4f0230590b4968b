"""The resident's screen as a local web page: static files, a server-sent event stream, and the buttons.

It runs inside the screen worker process (robot/workers/screen.py), on an asyncio loop in a
thread of its own, so no browser, however slow or stalled, can hold up the control loop: the
worst it can do is make this process drop views it could not deliver. Each event stream waits
for the newest view and sends only that, so a stalled browser costs one buffer, never a queue.

Who may press a button (any process on the robot can reach a loopback port, and any web page
the kiosk browser might open can send requests to it):
- the Host header must name this loopback address and port (a DNS-rebinding page cannot);
- a press must be a same-origin POST: the Origin header is this origin, Sec-Fetch-Site (when sent)
  is same-origin, the body is JSON (so a cross-site form cannot send it without a CORS preflight,
  which is never answered);
- it must carry the screen key in a header. The key is in no page this server sends: the kiosk
  launcher reads it from the key file (readable by the robot's user and the kiosk's group only)
  and hands it to the page in the address fragment, which browsers never send to a server.
  The event stream needs the key too, so another user's process can neither press nor watch. The page
  sends the key only after this server has proved it knows it (/proof), so a process that took the port
  while the robot was down is sent nothing;
- at most MAX_CONNECTIONS (+ BACKLOG) connections are kept: one more closes the oldest that is not a keyed event
  stream, so a local process holding sockets half-open cannot use up this process's file descriptors
  and leave the kiosk unable to connect (its Call staff button dead);
- presses of one button beyond `presses_per_minute` are refused, and bodies over 256 bytes are not
  read. Each button has its own count, so a stuck or tapped-at Slower never stops Call staff.
Every response forbids framing (no click-jacking of the buttons) and caching.
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from robot.event_stream import gone, let_go
from robot.screen_texts import BUTTONS

log = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).resolve().parent / "screen_page"
STATIC = {"/": ("index.html", "text/html"), "/screen.js": ("screen.js", "text/javascript"),
          "/screen.css": ("screen.css", "text/css")}
MAX_BODY = 256
MAX_STREAMS = 8  # event streams at once: the kiosk needs one
KEEPALIVE_S = 10.0  # a comment on an idle stream, so a vanished browser is noticed
WRITE_TIMEOUT_S = 10.0  # a browser that takes no data this long is dropped
MAX_CONNECTIONS = 48  # the kiosk needs a handful: its stream and a few for presses
BACKLOG = 16  # also the most connections accepted at once, before the cap sees them: at most 64 are held
PROOF_LABEL = b"carebot-screen-server:"  # what the page's challenge is signed with (screen.js: genuine)
PROOF_NONCE = re.compile(r"[0-9a-f]{32}")
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store", "Cross-Origin-Resource-Policy": "same-origin",
}


class ScreenServer:
    """Serves the page and its event stream on a loopback port; presses go to `on_press` (any thread)."""

    def __init__(self, *, bind: str, port: int, key: str, hello: dict[str, Any], presses_per_minute: int,
                 on_press: Callable[[str], None]) -> None:
        self.bind, self.port, self.key = bind, port, key
        self.hello = hello  # what never changes: the pack's words, the language, the font size
        self.presses_per_minute = presses_per_minute
        self.on_press = on_press
        host = f"[{bind}]" if ":" in bind else bind
        hosts = {host, "localhost"} if bind == "127.0.0.1" else {host}
        self.hosts = {f"{h}:{port}" for h in hosts}
        self.origins = {f"http://{h}" for h in self.hosts}
        self.view: dict[str, Any] = {"seq": 0}
        self.open: dict[int, web.Request] = {}  # the event streams, by id (a closed one, till it wakes to end)
        self.connections: ConnectionCap  # made with the server, in _serve
        self.presses: dict[str, collections.deque[float]] = {b: collections.deque() for b in BUTTONS}
        self.beat = time.monotonic()  # the asyncio loop's last sign of life
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None  # set, and replaced, on every new view
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    # -- life cycle (the worker's thread) --------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Bind and serve on a thread of its own; raises if the port cannot be had."""
        self._thread = threading.Thread(target=self._run, name="screen-server", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError(f"the screen server did not start on {self.bind}:{self.port}")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Close every stream and the port."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(5)

    @property
    def streams(self) -> int:
        """Open event streams: one whose connection closed (a reloaded or restarted kiosk) is not counted from that
        moment, though it has not woken to end yet (a new view, or its keepalive)."""
        return sum(1 for request in list(self.open.values()) if not gone(request))  # one step: read off its loop

    @property
    def alive(self) -> bool:
        """True while the server's loop runs and has shown life within the last few seconds."""
        return self._thread is not None and self._thread.is_alive() and time.monotonic() - self.beat < 5.0

    def show(self, view: dict[str, Any]) -> None:
        """A new view for every open stream (any thread; never blocks)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._set_view, view)

    # -- the asyncio side ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(), or the worker sees the thread gone
            self._error = exc
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._stop = asyncio.Event()
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_BODY)
        app.router.add_get("/events", self._events)
        app.router.add_post("/press", self._press)
        app.router.add_get("/proof", self._proof)
        for path in STATIC:
            app.router.add_get(path, self._static)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        assert runner.server is not None
        self.connections = ConnectionCap(runner.server, MAX_CONNECTIONS)
        listener = None
        try:
            listener = await self._loop.create_server(self.connections, self.bind, self.port, reuse_address=True,
                                                    backlog=BACKLOG)
            self._started.set()
            while not self._stop.is_set():
                self.beat = time.monotonic()
                try:
                    await asyncio.wait_for(self._stop.wait(), 1.0)
                except TimeoutError:
                    pass
            self._changed.set()  # wakes every stream, to see the stop
        finally:
            if listener is not None:
                listener.close()
            await runner.cleanup()

    def _set_view(self, view: dict[str, Any]) -> None:
        self.view = {**view, "seq": int(self.view["seq"]) + 1}
        self._wake()

    def _wake(self) -> None:
        """Every stream looks again: at a new view, or whether its browser went."""
        changed, self._changed = self._changed, asyncio.Event()
        if changed is not None:
            changed.set()

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if request.headers.get("Host", "") not in self.hosts:
            return self._refuse(421, "unknown host")  # a page on another name that resolves here
        response: web.StreamResponse = await handler(request)
        return response

    def _refuse(self, status: int, why: str) -> web.Response:
        log.warning("screen: refused a request: %s", why)
        return web.json_response({"error": why}, status=status, headers=HEADERS)

    def _keyed(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.key.encode())

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name, kind = STATIC[request.path]
        return web.Response(body=(PAGE_DIR / name).read_bytes(), content_type=kind, charset="utf-8",
                            headers=HEADERS)

    async def _proof(self, request: web.Request) -> web.Response:
        """That this server knows the key, without saying it: the HMAC of the page's random challenge. The page
        sends the key only to a server that answers it, so a process that took this port while the robot was
        down learns nothing from the page's reconnects or presses, and cannot show it captions of its own."""
        nonce = request.query.get("nonce", "")
        if not PROOF_NONCE.fullmatch(nonce):
            return self._refuse(400, "a proof needs a nonce of 32 hex digits")
        mac = hmac.new(self.key.encode(), PROOF_LABEL + nonce.encode(), "sha256").hexdigest()
        return web.json_response({"proof": mac}, headers=HEADERS)

    async def _press(self, request: web.Request) -> web.Response:
        h = request.headers
        if h.get("Origin") not in self.origins or h.get("Sec-Fetch-Site", "same-origin") != "same-origin":
            return self._refuse(403, "not from the screen's own page")
        if not self._keyed(h.get("X-Screen-Key")):
            return self._refuse(403, "no valid screen key")
        if request.content_type != "application/json":
            return self._refuse(415, "a press is JSON")
        try:
            body = await request.json()
        except (ValueError, web.HTTPRequestEntityTooLarge):
            return self._refuse(400, "a press is a small JSON object")
        button = body.get("button") if isinstance(body, dict) else None
        if button not in BUTTONS:
            return self._refuse(400, f"unknown button; known: {', '.join(BUTTONS)}")
        now, presses = time.monotonic(), self.presses[button]
        while presses and now - presses[0] > 60.0:
            presses.popleft()
        if len(presses) >= self.presses_per_minute:
            return self._refuse(429, "too many presses of that button")
        presses.append(now)
        self.on_press(str(button))
        return web.json_response({"ok": True}, status=202, headers=HEADERS)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if not self._keyed(request.query.get("key")):
            return self._refuse(403, "no valid screen key")
        if any(gone(r) for r in self.open.values()):
            self._wake()  # the streams of browsers that went end now: reloads leave no pile of them
        if self.streams >= MAX_STREAMS:
            return self._refuse(503, "too many screens")
        resp = web.StreamResponse(headers={**HEADERS, "Content-Type": "text/event-stream"})
        self.open[id(request)] = request
        dropped = False  # the browser went or took nothing: its connection is let go, with what is buffered for it
        self.connections.kept.add(request.protocol)  # a keyed stream is never closed to make room
        try:
            await resp.prepare(request)
            await self._send(resp, "hello", self.hello, retry=True)
            seen = -1
            while not (self._stop is None or self._stop.is_set()):
                if gone(request):
                    dropped = True
                    break
                changed = self._changed
                assert changed is not None
                if self.view["seq"] != seen:  # only the newest view: a slow browser skips what it missed
                    seen = int(self.view["seq"])
                    await self._send(resp, "view", self.view)
                    continue
                try:
                    await asyncio.wait_for(changed.wait(), KEEPALIVE_S)
                except TimeoutError:
                    await asyncio.wait_for(resp.write(b": keep-alive\n\n"), WRITE_TIMEOUT_S)
        except (ConnectionError, TimeoutError):
            dropped = True  # the browser went, or took nothing for WRITE_TIMEOUT_S
        finally:
            del self.open[id(request)]
            self.connections.kept.discard(request.protocol)
            if dropped:
                let_go(request)
        return resp

    @staticmethod
    async def _send(resp: web.StreamResponse, event: str, data: dict[str, Any], retry: bool = False) -> None:
        text = (("retry: 1000\n" if retry else "") + f"event: {event}\ndata: "
                + json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n\n")
        await asyncio.wait_for(resp.write(text.encode()), WRITE_TIMEOUT_S)


class ConnectionCap:
    """The server's protocol factory, keeping at most `limit` connections: each new one beyond it closes the
    oldest that is not in `kept` (the keyed event streams). Any local process can open sockets to a loopback
    port and never finish a request; without this, a thousand of them exhaust the process's descriptors."""

    def __init__(self, server: web.Server, limit: int) -> None:
        self.server, self.limit = server, limit
        self.kept: set[Any] = set()

    def __call__(self) -> Any:
        live = [h for h in self.server.connections if h.transport is not None]  # oldest first; not closing
        excess = len(live) - self.limit + 1
        for handler in live:
            if excess <= 0:
                break
            if handler not in self.kept:
                handler.force_close()
                excess -= 1
        return self.server()
