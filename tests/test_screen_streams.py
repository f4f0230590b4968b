"""The resident's screen's event streams, as a stalled or restarting kiosk would use them (robot/screen_server.py):
a real server on a loopback port, spoken to over real sockets."""

from __future__ import annotations

import asyncio
import http.client
import socket
from collections.abc import Iterator

import pytest

from robot import screen_server
from robot.screen_server import MAX_STREAMS, ScreenServer

from .broker import free_port
from .conftest import wait_for

KEY = "k" * 43


@pytest.fixture
def server() -> Iterator[ScreenServer]:
    s = ScreenServer(bind="127.0.0.1", port=free_port(), key=KEY, hello={"texts": {}}, presses_per_minute=1000,
                     on_press=lambda button: None)
    s.start()
    yield s
    s.stop()


def stream(s: ScreenServer, rcvbuf: int = 0) -> socket.socket:
    c = socket.socket()
    if rcvbuf:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connecting: the window stays small
    c.connect(("127.0.0.1", s.port))
    c.sendall(f"GET /events?key={KEY} HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\n\r\n".encode())
    return c


def status(s: ScreenServer) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
    conn.request("GET", "/events?key=" + KEY, headers={"Host": f"127.0.0.1:{s.port}"})
    code = conn.getresponse().status
    conn.close()
    return code


def test_streams_the_kiosk_closed_do_not_count_against_its_next_one(server: ScreenServer,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The kiosk reloads its page again and again (a browser restarted by its unit, a crash loop): each reload
    closes a stream. A closed stream no longer counts, so the next page is served at once, and the closed ones end
    then; they counted until their keepalive woke them (KEEPALIVE_S, made an hour here), and after MAX_STREAMS
    reloads within it the screen was refused."""
    monkeypatch.setattr(screen_server, "KEEPALIVE_S", 3600.0)
    opened = [stream(server) for _ in range(MAX_STREAMS)]
    assert all(c.recv(64).split(b" ")[1] == b"200" for c in opened)
    closed = list(server.open.values())
    for c in opened:
        c.close()
    assert wait_for(lambda: status(server) == 200, 10, 0.2)
    # and the closed ones ended, not waiting for a keepalive
    assert wait_for(lambda: not any(server.open.get(id(r)) is r for r in closed), 10)


def test_a_stalled_kiosk_is_dropped_and_its_connection_let_go(server: ScreenServer,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A kiosk that takes nothing is dropped after WRITE_TIMEOUT_S, and its socket closed with what was buffered
    for it: it was closed as if it could still take them, so the socket and the views were held for as long as the
    kiosk stalled."""
    monkeypatch.setattr(screen_server, "WRITE_TIMEOUT_S", 0.5)
    stalled = stream(server, rcvbuf=1024)
    found: list[asyncio.Transport] = []

    def transport() -> bool:
        found[:] = [t for t in list(server.connections.server._connections.values())  # one step: the loop changes it
                    if t.get_extra_info("peername") == stalled.getsockname()]
        return bool(found)

    try:
        assert wait_for(transport, 5)
        shown = iter(range(10**6))

        def show() -> bool:  # a new view now and then, far more than its buffers hold
            server.show({"caption": f"sentence {next(shown)} " + "x" * 20000, "previous": "", "mode": "idle"})
            return True

        assert wait_for(lambda: show() and server.streams == 0, 20, 0.05)  # dropped
        assert wait_for(lambda: found[0].get_extra_info("socket").fileno() == -1, 10), \
            found[0].get_write_buffer_size()
    finally:
        stalled.close()
