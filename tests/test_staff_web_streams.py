"""The staff page's event streams attacked as a hostile staff account, a flaky network and a careless nurse would:
pages that take nothing, that half-close, that go without a word, opened and closed by the dozen, the server
stopped under them. A real server on a real mosquitto, spoken to over real sockets (robot/staffweb/streams.py).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from robot.staffweb import streams
from robot.staffweb.accounts import add_user

from . import test_staff_web
from .broker import SITE, Broker
from .browser import page_of
from .conftest import wait_for
from .test_staff_web import Server, help_alert, log_in, raise_alerts, request, second_robot

server = test_staff_web.server  # a server of this module's own, made as test_staff_web makes its


def account(server: Server, name: str) -> str:
    """A staff account of its own, logged in: its session cookie."""
    password = f"the password of {name}"
    add_user(server.site.accounts.path, name, password)
    form = urllib.parse.urlencode({"name": name, "password": password}).encode()
    r = request(server, "POST", "/login", form, Origin=server.url,
                **{"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 303, r.read()
    return r.getheader("Set-Cookie", "").split(";")[0]


def stalled_page(server: Server, cookie: str) -> socket.socket:
    """A page that asks for the stream and never reads a byte of it (a frozen tab, a hostile client)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # before connecting: the window stays small
    s.connect(("127.0.0.1", server.port))
    s.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nCookie: {cookie}\r\n\r\n".encode())
    return s


def transport_of(server: Server, client: socket.socket) -> asyncio.Transport:
    """The server's end of this client's connection (its socket, its write buffer)."""
    found: list[asyncio.Transport] = []

    def find() -> bool:
        found[:] = [t for t in list(server.runner.server._connections.values())  # one step: the loop changes it
                    if t.get_extra_info("peername") == client.getsockname()]
        return bool(found)

    assert wait_for(find, 10)
    return found[0]


def let_go(transport: asyncio.Transport) -> bool:
    """Whether the server has closed its socket (not merely begun to close it, its buffers still waiting)."""
    return bool(transport.get_extra_info("socket").fileno() == -1)


def changed(server: Server) -> bool:
    """The site changed (a heartbeat, say): every stream is owed a whole state."""
    server.view.touch()
    return True


def streams_of(server: Server, name: str) -> int:
    return [a for a, *_ in list(server.site.live.pages.values())].count(name)


@pytest.fixture(scope="module")
def big_state(server: Server) -> Iterator[None]:
    """Many open alerts, so that one whole state outgrows every buffer between the server and a stalled page (for
    the module: the view takes each alert once)."""
    raise_alerts(server.view, 600)
    yield
    with server.view.lock:
        for i in range(600):
            server.view.alerts.pop(f"{i + 100:032x}", None)
    server.view.touch()


def test_a_page_that_takes_nothing_is_dropped_and_its_connection_let_go(server: Server, big_state: None,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A stalled page is dropped after WRITE_TIMEOUT_S, and with it the connection and what was buffered for it.
    (It was dropped from the streams and the count, but its socket was closed as if it could still take what was
    buffered, so the server held it for as long as the page took nothing: a descriptor and megabytes of states,
    counted nowhere. An account could pile them up until the server could accept no page at all.)"""
    monkeypatch.setattr(streams, "WRITE_TIMEOUT_S", 0.5)
    page = stalled_page(server, account(server, "frozen"))
    try:
        assert wait_for(lambda: streams_of(server, "frozen") == 1, 10)
        transport = transport_of(server, page)
        assert wait_for(lambda: changed(server) and streams_of(server, "frozen") == 0, 20, 0.1)
        assert wait_for(lambda: let_go(transport), 10), transport.get_write_buffer_size()
    finally:
        page.close()


def test_a_stalled_page_that_half_closes_is_let_go_at_once(server: Server, big_state: None) -> None:
    """A client that never reads shuts its sending side (shutdown(SHUT_WR)): the server takes it as gone and no
    longer counts it, and the account's next page lets its connection go, buffers and all. (The socket was held,
    waiting to deliver them, for as long as the client stayed stalled, counted nowhere.)"""
    cookie = account(server, "halfway")
    page = stalled_page(server, cookie)
    try:
        assert wait_for(lambda: streams_of(server, "halfway") == 1, 10)
        transport = transport_of(server, page)
        assert wait_for(lambda: changed(server) and transport.get_write_buffer_size() > 0, 10, 0.1)
        page.shutdown(socket.SHUT_WR)
        assert wait_for(lambda: server.site.live.streams["halfway"] == 0, 10)  # not counted from the moment it went
        nurse = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)  # the account's next page
        nurse.request("GET", "/events", headers={"Host": f"127.0.0.1:{server.port}", "Cookie": cookie})
        assert nurse.getresponse().status == 200
        assert wait_for(lambda: let_go(transport), 10), transport.get_write_buffer_size()
        assert wait_for(lambda: streams_of(server, "halfway") == 1, 10)  # the new page's alone
        nurse.close()
    finally:
        page.close()


def test_a_stalled_page_that_resets_ends_its_stream_quietly(server: Server, big_state: None,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """A page that takes nothing and then resets its connection (a phone's browser killed) while its stream waits
    to write: the stream ends as any page that went. (aiohttp tells that wait a plain ConnectionError, which the
    stream did not take for a page that went: it escaped to aiohttp, logged as an error with its traceback.)"""
    page = stalled_page(server, account(server, "killed"))
    try:
        assert wait_for(lambda: streams_of(server, "killed") == 1, 10)
        transport = transport_of(server, page)
        paused = lambda: transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]  # noqa: E731
        assert wait_for(lambda: changed(server) and paused(), 10, 0.1)  # the stream waits for the page to take
    finally:
        page.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # close() resets
        page.close()
    assert wait_for(lambda: streams_of(server, "killed") == 0, 10)
    assert wait_for(lambda: let_go(transport), 10)
    # the server's own errors (aiohttp's "Error handling request", the stream's): another test's thread may log too
    served = [r for r in caplog.records if r.name.startswith(("aiohttp", "robot.staffweb"))]
    assert not [r for r in served if r.levelname == "ERROR"], [r.getMessage() for r in served]


def test_a_page_that_reconnects_after_its_network_went_takes_the_place_of_its_old_stream(server: Server) -> None:
    """A nurse's phone loses the Wi-Fi, or moves to the mobile network and back: its page's connection is gone
    without a word to the server, which counts it as open until the kernel gives up on it (some 15 minutes; behind
    the TLS proxy, the proxy's side). The page hears nothing for two keepalives and opens a new stream. Eight such
    drops and her page was refused with 503 ("too many pages open") on every try, alerts and all. Now a page names
    itself (a random id it keeps across reconnects), and its new stream ends the old one of the same account
    first; another account naming the same page ends nothing."""
    cookie = account(server, "roaming")
    ids = [f"{i:032x}" for i in range(streams.STREAMS_PER_ACCOUNT)]
    vanished = []  # open, read by nobody, never closed: as the server sees a page whose network went
    for page in ids:
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(f"GET /events?page={page} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nCookie: {cookie}\r\n\r\n"
                  .encode())
        assert s.recv(64).split(b" ")[1] == b"200"
        vanished.append(s)
    try:
        first = transport_of(server, vanished[0])
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", f"/events?page={ids[0]}", headers={"Host": f"127.0.0.1:{server.port}", "Cookie": cookie})
        again = conn.getresponse()
        assert again.status == 200 and again.read1(65536).startswith(b"data: {"), again.status
        assert wait_for(lambda: let_go(first), 10)
        assert wait_for(lambda: streams_of(server, "roaming") == streams.STREAMS_PER_ACCOUNT, 10)
        other = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        other.request("GET", f"/events?page={ids[1]}", headers={"Host": f"127.0.0.1:{server.port}",
                                                                 "Cookie": account(server, "mallory")})
        assert other.getresponse().status == 200
        assert not let_go(transport_of(server, vanished[1]))  # another account's page: not hers to end
        other.close()
        conn.close()
    finally:
        for s in vanished:
            s.close()


def test_the_page_s_own_reconnect_ends_its_stalled_stream(browser: Any, server: Server,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """In a browser: a page whose stream stalls behind a network that holds every byte (the old connection still
    open at the server) connects again under the same name, and its old stream ends."""
    from robot.staffweb import app

    from .tcp_proxy import Link

    monkeypatch.setattr(app, "KEEPALIVE_S", 1.0)  # the page's patience: two of them and some slack
    nurse, password = "walker", "the password of walker"
    account(server, nurse)
    link = Link(server.port)
    host = f"127.0.0.1:{link.port}"
    server.site.hosts.add(host)
    names = lambda: [p[3] for p in list(server.site.live.pages.values()) if p[0] == nurse]  # noqa: E731
    try:
        with page_of(browser) as page:
            log_in(page, server, nurse, password, url=f"http://{host}")
            page.wait_for_selector("#link.ok")
            assert wait_for(lambda: len(names()) == 1, 10)
            (name,) = names()
            assert streams.PAGE_ID.fullmatch(name), name
            link.stall()
            page.locator("#link.bad", has_text="Connection lost").wait_for(timeout=10_000)
            link.restore()
            page.locator("#link.ok", has_text="Live").wait_for(timeout=15_000)
            assert wait_for(lambda: names() == [name], 10), names()  # the stalled stream ended, the new one named
    finally:
        server.site.hosts.discard(host)
        link.close()


def test_a_page_whose_session_ended_while_it_was_away_goes_to_the_login(browser: Any, server: Server) -> None:
    """A nurse's phone sleeps past IDLE_S with the page open: its stream went with the network, and its session
    ended unused. On waking, the page's stream is refused (401) and the page goes to the login. (It said
    "Connection lost: trying again…" and tried again, refused, every 33 s for ever: a page no alert could reach,
    blamed on the network.)"""
    account(server, "sleeper")

    def away() -> None:
        for token, session in list(server.site.sessions.items()):
            if session.account == "sleeper":
                del server.site.sessions[token]
        for owner, asked, *_ in list(server.site.live.pages.values()):
            if owner == "sleeper" and asked.transport is not None:
                asked.transport.abort()

    with page_of(browser) as page:
        log_in(page, server, "sleeper", "the password of sleeper")
        page.wait_for_selector("#link.ok")
        server._loop.call_soon_threadsafe(away)
        page.wait_for_url("**/login", timeout=20_000)


def test_a_page_refused_for_the_account_s_many_pages_says_so(browser: Any, server: Server) -> None:
    """A shared ward account already has STREAMS_PER_ACCOUNT pages open on the station, phones and a tablet: the
    next device's page is refused, and says why (close some pages), not "Connection lost", which reads as Wi-Fi."""
    cookie = account(server, "ward")
    held = []
    try:
        for _ in range(streams.STREAMS_PER_ACCOUNT):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nCookie: {cookie}\r\n\r\n".encode())
            assert s.recv(64).split(b" ")[1] == b"200"
            held.append(s)
        with page_of(browser) as page:
            log_in(page, server, "ward", "the password of ward")
            page.locator("#link.bad", has_text="too many pages open for this account").wait_for(timeout=10_000)
    finally:
        for s in held:
            s.close()


def live_page(server: Server, cookie: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    conn.request("GET", "/events", headers={"Host": f"127.0.0.1:{server.port}", "Cookie": cookie})
    r = conn.getresponse()
    assert r.status == 200, r.read()
    return r


def churn(server: Server, cookie: str, stop: threading.Event) -> None:
    """Pages opened and gone as fast as a client can: closed, half-closed, or reset without a word of goodbye."""
    asked = f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nCookie: {cookie}\r\n\r\n".encode()
    n = 0
    while not stop.is_set():
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(asked)
        s.recv(64)
        if n % 3 == 1:
            s.shutdown(socket.SHUT_WR)
        elif n % 3 == 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # close() resets
        s.close()
        n += 1


def test_an_alert_raised_while_pages_churn_and_one_stalls_reaches_every_live_page(site: Broker, server: Server,
                                                                                   big_state: None) -> None:
    """A hostile account opens and drops pages as fast as it can, another page stalls, and a robot raises an alert
    through the broker: it reaches every live page, of both nurses (paho's thread wakes every stream while the
    churn adds and removes them), and the churned streams leave no pile of listeners behind."""
    anna, ben = account(server, "anna2"), account(server, "ben")
    pages = [live_page(server, anna), live_page(server, anna), live_page(server, ben)]
    stalled = stalled_page(server, account(server, "stalled"))
    stop, most = threading.Event(), [0]
    churner = threading.Thread(target=churn, args=(server, account(server, "churner"), stop), daemon=True)
    body = help_alert("5")
    try:
        with second_robot(site, server, body["alert_id"]) as robot:
            churner.start()
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                most[0] = max(most[0], len(server.view.listeners))
                time.sleep(0.01)
            robot.client.publish(f"carebot/v1/{SITE}/robot-2/alert", json.dumps(body), qos=1).wait_for_publish(5)
            for page in pages:
                seen, deadline = b"", time.monotonic() + 20
                while body["alert_id"].encode() not in seen:
                    assert time.monotonic() < deadline, "a live page never got the alert"
                    seen = seen[-100:] + page.read1(1 << 20)
            stop.set()
            churner.join(10)
        assert most[0] <= streams.MAX_STREAMS, most[0]  # gone pages end as the next one comes: no pile-up
        assert wait_for(lambda: changed(server) and streams_of(server, "churner") == 0, 10, 0.1)
        assert len(server.view.listeners) == len(server.site.live.pages) <= 4
    finally:
        stop.set()
        stalled.close()
        for page in pages:
            page.close()


def test_the_server_stops_at_once_with_a_stalled_page_open(site: Broker, tmp_path: Path) -> None:
    """Stopping (a restart, an upgrade) with a page that takes nothing open: every stream ends now. (The stalled
    one held the stop for its write timeout, 30 s, while no page of the site could reconnect.) Bounded here by
    Server.stop's own 10 s wait, with aiohttp's timeout as `carebot staff web` has it."""
    stopping = Server(site, tmp_path)
    stopped, page = False, socket.socket()
    try:
        assert wait_for(lambda: stopping.view.client.is_connected(), 10)
        stopping.runner._shutdown_timeout = 60.0  # as cli.run's AppRunner has it (the tests' Server: 1 s)
        raise_alerts(stopping.view, 600)
        page = stalled_page(stopping, account(stopping, "frozen"))
        transport = transport_of(stopping, page)
        assert wait_for(lambda: changed(stopping) and transport.get_write_buffer_size() > 0, 10, 0.1)
        stopping.stop()
        stopped = True
        assert let_go(transport)
    finally:
        page.close()
        if not stopped:
            stopping.stop()
