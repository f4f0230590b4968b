"""The staff pages' live feed: one server-sent event stream per open page, fed by the site's view.

An alert's change goes to every page at once as that alert's row alone (a delta, made once in paho's thread); the
whole state follows now and then, coalesced, so a busy broker costs each page at most two states a second. Open
streams are limited per account and in all, and a page that went stops counting the moment its connection closes;
a page that reconnects (app.js names it) ends its old stream first. Streams of pages that went or take nothing are
let go with abort(): close() would hold their sockets and buffered states for as long as the page stalls.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import re
import threading
from collections.abc import Callable

from aiohttp import web

from robot.event_stream import gone, let_go
from robot.staffweb.view import WebView

MAX_STREAMS = 32
STREAMS_PER_ACCOUNT = 8  # one account (a nurse's tabs and devices) cannot take every stream and lock out the rest
KEEPALIVE_S = 15.0
MIN_INTERVAL_S = 0.5  # a page gets at most two whole states a second (an alert's news comes at once, as a delta)
RESYNC_S = 2.0  # after alerts' deltas, a whole state follows within this (the robots' counts, the alerts' ages)
WRITE_TIMEOUT_S = 30.0  # a page that takes nothing this long is dropped: a stalled reader holds no slot for ever
PAGE_ID = re.compile(r"[0-9a-f]{32}")  # what a page calls itself across its reconnects (app.js: pageId)


class EventStreams:
    def __init__(self, view: WebView, headers: dict[str, str]) -> None:
        self.view = view
        self.headers = {**headers, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        # The open event streams, by id: account, request, the event that wakes the stream's loop, and the page's
        # own name for itself ("" if it gave none).
        self.pages: dict[int, tuple[str, web.Request, asyncio.Event, str]] = {}
        self.closing = False
        self._event: tuple[int, bytes] = (-1, b"")  # the newest state's event, shared by every page

    def close(self) -> None:
        """Shutting down: every stream ends now (a page reconnects by itself). A page that is not taking what was
        written to it is let go at once: its stream would hold the stop for WRITE_TIMEOUT_S, while no page of the
        site could connect."""
        self.closing = True
        for _, request, *_ in self.pages.values():
            if request.transport is not None and request.transport.get_write_buffer_size() > 0:
                let_go(request)
        self.view.touch()

    @property
    def streams(self) -> collections.Counter[str]:
        """Open event streams per account. A page that went (a closed tab, a phone that left the ward's network)
        is not counted from the moment its connection closed, though its stream has not woken to end yet: a nurse
        who closes a tab and opens another is never refused for the one she closed."""
        return collections.Counter(account for account, request, *_ in list(self.pages.values())
                                   if not gone(request))  # a snapshot in one step: tests read it from another thread

    def refusal(self, account: str, page: str = "") -> str | None:
        """Why a new stream of the account's is refused, or None.

        A page that opens a new stream (it heard nothing for two keepalives: its network went, and its connection
        with it, without a word to this server) first takes the place of its old one, which would count as open
        until the kernel gave up on it, some 15 minutes: a phone that lost the Wi-Fi a few times was refused every
        page, alerts and all. Page ids are per account: another account naming the same page ends nothing.
        Then the streams of pages that went are woken to end now, and their connections let go with what is
        buffered for them: an account that opens and closes pages as fast as it can leaves no pile of streams (each
        a listener the broker's thread calls), and a page that stopped reading, then closed, no held socket."""
        for owner, request, moved, name in self.pages.values():
            if gone(request) or (page and (owner, name) == (account, page)):  # went, or the page's old connection
                moved.set()
                let_go(request)
        return self.full(account)

    def full(self, account: str) -> str | None:
        """Why a new stream of the account's would be refused now, or None (asking changes nothing)."""
        streams = self.streams
        if streams[account] >= STREAMS_PER_ACCOUNT:
            return "too many pages open for this account: close some"
        if streams.total() >= MAX_STREAMS:
            return "too many pages open"
        return None

    async def serve(self, request: web.Request, account: str, signed_in: Callable[[web.Request], bool],
                    page: str = "") -> web.StreamResponse:
        """The page's stream, until it goes, its session ends (told as a logout event) or the server stops."""
        response = web.StreamResponse(headers=self.headers)
        loop = asyncio.get_running_loop()
        moved = asyncio.Event()
        self.pages[id(request)] = (account, request, moved, page if PAGE_ID.fullmatch(page) else "")
        armed = threading.Event()  # set: a wake-up is on its way to the loop already
        deltas: collections.deque[tuple[int, bytes]] = collections.deque()  # alerts' changes, oldest first

        def wake(delta: tuple[int, bytes] | None) -> None:
            """On every change: one wake-up per burst. In the loop's thread (it reads the broker) at once."""
            if delta is not None:
                deltas.append(delta)
            if not armed.is_set():
                armed.set()
                if threading.get_ident() == self.view.loop_thread:
                    moved.set()
                else:
                    loop.call_soon_threadsafe(moved.set)

        def due() -> float:
            """When this page is owed a whole state (or, with nothing owed, a keepalive)."""
            if self.view.plain_version > shown:  # heartbeats and the like: coalesced
                return state_at + MIN_INTERVAL_S
            if self.view.version > shown:  # only alerts' deltas since the last state: a whole one now and then
                return state_at + RESYNC_S
            return written_at + KEEPALIVE_S

        self.view.listeners.append(wake)
        dropped = False  # the page went or took nothing: its connection is let go, with what is buffered for it
        try:
            await response.prepare(request)
            shown, state_at, written_at = -1, -RESYNC_S, loop.time()  # shown: the version of the last whole state
            while not self.closing:
                wait = due() - loop.time()
                if not deltas and wait > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):  # not wait_for: no task, no extra turn of the loop
                            await moved.wait()
                moved.clear()
                armed.clear()
                if self.closing or gone(request):
                    dropped = gone(request)
                    break  # shutting down, or the page went
                if not signed_in(request):
                    await self._write(response, b"event: logout\ndata: {}\n\n")
                    break
                while deltas:  # news of an alert never waits
                    version, data = deltas.popleft()
                    if version > shown:  # else the whole state sent already holds it
                        await self._write(response, data)
                        self.view.delivered.set()
                        written_at = loop.time()
                now = loop.time()
                if due() <= now:
                    if self.view.version > shown:
                        shown, data = self._state()
                        state_at = now
                    else:
                        data = b"event: ping\ndata: {}\n\n"  # an event, not a comment: the page hears it
                    await self._write(response, data)
                    written_at = now
        except (ConnectionError, TimeoutError):  # ConnectionError: aiohttp's word for a reset while a write waits
            dropped = True
        except asyncio.CancelledError:
            pass
        finally:
            self.view.listeners.remove(wake)
            del self.pages[id(request)]
            if dropped:
                let_go(request)
        return response

    @staticmethod
    async def _write(response: web.StreamResponse, data: bytes) -> None:
        """A page that takes nothing for WRITE_TIMEOUT_S is dropped (TimeoutError ends its stream)."""
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            await response.write(data)

    def _state(self) -> tuple[int, bytes]:
        """The state as an event, made once per version however many pages are open (with a thousand open alerts
        it costs about 9 ms: once per page, a busy broker would take the whole loop)."""
        if self._event[0] != self.view.version:
            snapshot = self.view.snapshot()
            self._event = (snapshot["version"], f"data: {json.dumps(snapshot, separators=(',', ':'))}\n\n".encode())
        return self._event
