"""The staff web's MQTT client, driven by the web server's own event loop rather than a thread of paho's.

An alert then goes from the broker's socket to the page's event stream in one thread: the loop reads it, the view
applies it, and the stream writes its delta before the next message is read. With paho in a thread of its own
the loop had to be woken and then wait for the GIL while that thread read on (measured: about 0.5 ms at the
median, several ms under load). Connecting (a blocking TCP and TLS handshake) runs in an executor thread, so a
broker that is down or unreachable never stalls the pages; the link is retried with a growing pause, as paho's
own loop would.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

RETRY_MIN_S, RETRY_MAX_S = 1.0, 30.0
MISC_S = 1.0  # how often paho's keepalive is looked after (pings, a link that stopped answering)


class LoopLink:
    """Runs a paho client (given its broker with connect_async) in the aiohttp application's event loop."""

    def __init__(self, client: Any, view: Any) -> None:
        self.client, self.view = client, view
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = 0
        self._task: asyncio.Task[None] | None = None
        # Connecting blocks (TCP, then a TLS handshake that a stalled broker holds for up to the keepalive): in a
        # thread of its own, so that nothing else in the default executor (logins' Argon2, the impact figures'
        # queries on a stalled disk) can keep the link from coming back, nor it them.
        self._connector = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="staffweb-connect")

    async def start(self, app: web.Application) -> None:
        self.loop, self.thread = asyncio.get_running_loop(), threading.get_ident()
        c = self.client
        c.on_socket_open = lambda client, userdata, sock: self._on_loop(self.loop.add_reader, sock.fileno(),
                                                                       self._read)
        c.on_socket_close = lambda client, userdata, sock: self._on_loop(self.loop.remove_reader, sock.fileno())
        c.on_socket_register_write = lambda client, userdata, sock: self._on_loop(
            self.loop.add_writer, sock.fileno(), self._write)
        c.on_socket_unregister_write = lambda client, userdata, sock: self._on_loop(self.loop.remove_writer,
                                                                                   sock.fileno())
        self.view.loop, self.view.loop_thread = self.loop, self.thread
        self._task = self.loop.create_task(self._keep())

    async def stop(self, app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.client.disconnect()
        with contextlib.suppress(Exception):  # the DISCONNECT, if the socket takes it; the broker copes without
            self.client.loop_write()
        for name in ("on_socket_open", "on_socket_close", "on_socket_register_write", "on_socket_unregister_write"):
            setattr(self.client, name, None)
        self.view.loop, self.view.loop_thread = None, 0
        self._connector.shutdown(wait=False)

    def _on_loop(self, call: Any, *args: Any) -> None:
        """paho calls back from the loop, or from the executor thread that connects: the loop's own calls run
        in the loop's thread."""
        assert self.loop is not None
        if threading.get_ident() == self.thread:
            call(*args)
        else:
            self.loop.call_soon_threadsafe(call, *args)

    def _read(self) -> None:
        try:
            self.client.loop_read()
            sock = self.client.socket()
            # TLS may hold whole records already decrypted, for which the socket will not wake the loop again.
            # Read them in the loop's next turn, not now: a page's stream woken by this message writes first.
            if sock is not None and getattr(sock, "pending", lambda: 0)() > 0 and self.loop is not None:
                self.loop.call_soon(self._read)
        except Exception as exc:  # nothing from the broker may end the loop's callback chain: say it, go on
            log.error("staff web: reading from the broker failed: %s: %s", type(exc).__name__, exc)

    def _write(self) -> None:
        try:
            self.client.loop_write()
        except Exception as exc:
            log.error("staff web: writing to the broker failed: %s: %s", type(exc).__name__, exc)

    async def _keep(self) -> None:
        """Connect, keep the link alive, and connect again when it is lost. A link lost soon after it was made (a
        login the broker refuses, then hangs up on; another login with this account taking the session) is made
        again after a pause that grows, as one that cannot be made: not every second for ever. Nothing may end
        this task (it would end the link for good, and silently): every failure is logged, the page told."""
        assert self.loop is not None
        pause, made = RETRY_MIN_S, None  # made: when the present link was made
        while True:
            try:
                if self.client.socket() is None:
                    if made is not None:  # a link was lost
                        if self.loop.time() - made < RETRY_MAX_S:
                            await asyncio.sleep(pause)
                            pause = min(2 * pause, RETRY_MAX_S)
                        else:
                            pause = RETRY_MIN_S
                        made = None
                    try:
                        await self.loop.run_in_executor(self._connector, self.client.reconnect)
                        made = self.loop.time()
                    except Exception as exc:  # refused, unreachable, a TLS failure: try again later, pages go on
                        log.warning("staff web: cannot reach the broker (%s: %s); trying again in %.0f s",
                                    type(exc).__name__, exc, pause)
                        self.view.link_is(False, f"cannot reach the broker: {type(exc).__name__}")
                        await asyncio.sleep(pause)
                        pause = min(2 * pause, RETRY_MAX_S)
                        continue
                self.client.loop_misc()
            except Exception as exc:
                log.error("staff web: keeping the broker link failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(MISC_S)
