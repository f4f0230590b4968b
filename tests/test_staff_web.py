"""The staff web page (issue 14), end to end: headless Chromium, a real mosquitto, a running simulated robot.

The robot asks for help through its dialog engine; the page, fed by the broker as a staff account, shows the
alert; a click on Acknowledge goes back through the broker to the robot, which tells the resident; Resolve
closes it. The security tests go at the server as an attacker would: no session, a forged POST, wrong
passwords, and markup in what arrives from MQTT. Screenshots of each page go to docs/staff-web/.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from robot.config import Config
from robot.events import encode
from robot.runtime import Runtime
from robot.staff import AlertView
from robot.staffweb.accounts import Accounts, add_user
from robot.staffweb.cli import build
from robot.staffweb.impact import Store, week_of

from .broker import SITE, STAFF, STAFF2, Broker, Client, free_port, robot_config, robot_process
from .browser import page_of
from .conftest import ROOT, wait_for

SHOTS = ROOT / "docs" / "staff-web"
NAME, PASSWORD = "anna", "correct horse battery"


class Server:
    """`carebot staff web` in this process: the view, the app on a free port, and its pump."""

    def __init__(self, broker: Broker, tmp: Path, account: str = STAFF) -> None:
        add_user(tmp / "users", NAME, PASSWORD)
        self.port = free_port()
        args = argparse.Namespace(site=SITE, host="localhost", port=broker.port, ca_file=broker.ca, username=account,
                                  password_file=broker.password_file(account), no_tls=False, users=tmp / "users",
                                  state_dir=tmp / "web", retention_days=400, listen=("127.0.0.1", self.port),
                                  public_host=[], secure_cookie=False)
        self.view, self.site = build(args)
        self.audit = tmp / "web" / "audit.jsonl"
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._loop = asyncio.new_event_loop()
        started = threading.Event()

        async def serve() -> None:
            self.runner = web.AppRunner(self.site.app, access_log=None, shutdown_timeout=1.0)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
            started.set()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        threading.Thread(target=run, name="staffweb", daemon=True).start()
        threading.Thread(target=self._pump, name="staffweb-pump", daemon=True).start()
        assert started.wait(10)

    def _pump(self) -> None:
        while not self._stop.is_set():
            self.view.pump_waiting(0.2)

    def stop(self) -> None:
        self._stop.set()
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self.view.client.disconnect()
        self.view.client.loop_stop()


@pytest.fixture(scope="module")
def server(site: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(site, tmp_path_factory.mktemp("web"))
    assert wait_for(lambda: s.view.client.is_connected(), 10)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def robot(site: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    from robot.config_load import load_config

    base = load_config(ROOT / "config" / "carebot.toml")
    tmp = tmp_path_factory.mktemp("robot")
    cfg = base.model_copy(update={"robot": base.robot.model_copy(update={"state_dir": tmp / "state"}),
                                  "vision": base.vision.model_copy(update={"enabled": False})})
    rt = Runtime(robot_config(cfg, site, heartbeat_s=1), simulate=True)
    rt.start()
    assert wait_for(lambda: rt.behaviour.state == "idle" and rt.link is not None and rt.link.connected, 15)
    yield rt
    rt.stop()


def log_in(page: Any, server: Server, name: str = NAME, password: str = PASSWORD, url: str = "") -> None:
    """Log in through the login page, at the server's own address or at `url` (a proxy before it)."""
    page.goto((url or server.url) + "/login")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("button[type=submit]")


def request(server: Server, method: str, path: str, body: bytes | None = None, **headers: str
            ) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request(method, path, body=body, headers={"Host": f"127.0.0.1:{server.port}", **headers})
    return conn.getresponse()



def help_alert(n: str, robot: str = "robot-2", seq: int = 1) -> dict[str, Any]:
    """A help request raised just now, whose alert and event ids repeat "a" and "b" with the hex digit `n`."""
    now = time.time()
    return {"schema": "carebot/alert/1", "event_id": f"b{n}" * 16, "alert_id": f"a{n}" * 16, "site": SITE,
            "robot": robot, "room": "hall", "type": "help_request", "priority": "high", "state": "raised", "level": 0,
            "raised_ts": now, "ts": now, "boot_id": "d" * 12, "seq": seq}


@contextmanager
def second_robot(site: Broker, server: Server, alert_id: str) -> Iterator[Client]:
    """robot-2 connected to the site (robot-1 is the module's running robot, and an account has one session);
    afterwards it leaves, and the alert it raised is taken off the module's server so later tests start clean."""
    robot = Client(site, "robot-2")
    assert robot.connect() == 0
    try:
        yield robot
    finally:
        robot.client.disconnect()
        robot.client.loop_stop()
        with server.view.lock:
            server.view.alerts.pop(alert_id, None)
        server.view.touch()


def session(server: Server) -> tuple[str, str]:
    """Log in over HTTP: the session cookie, and the CSRF token from a page."""
    form = urllib.parse.urlencode({"name": NAME, "password": PASSWORD}).encode()
    r = request(server, "POST", "/login", form, Origin=server.url,
                **{"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 303, r.read()
    cookie = r.getheader("Set-Cookie", "").split(";")[0]
    page = request(server, "GET", "/", Cookie=cookie).read().decode()
    csrf = page.split('name="csrf" content="')[1].split('"')[0]
    return cookie, csrf


def test_help_shows_up_ack_tells_the_resident_and_resolve_closes_it(browser: Any, server: Server,
                                                                  robot: Runtime) -> None:
    with page_of(browser, 1280, 800) as page:
        log_in(page, server)
        page.wait_for_selector("#link.ok")
        robot.hear("I need a nurse")  # the words through the dialog engine, the alert through the outbox
        row = page.locator("#alerts tbody tr.prio-high")
        row.wait_for()
        assert "Help request" in row.inner_text() and "lounge" in row.inner_text()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "alerts.png"))
        said = len(robot.said_text)
        row.locator("button.ack").click()
        coming = {"The staff have answered. Help is on the way.", "A member of staff knows and is coming to you now."}
        assert wait_for(lambda: any(s in coming for s in list(robot.said_text)[said:]), 10), list(robot.said_text)
        page.locator("#alerts tbody tr.prio-high td", has_text="acknowledged").wait_for()
        page.locator("#alerts tbody tr.prio-high button.resolve").click()
        page.locator("#none").wait_for(state="visible")
        with page_of(browser, 390, 844) as phone:  # readable on a phone too
            log_in(phone, server)
            phone.goto(server.url + "/robots")
            phone.locator("#robots tbody tr[data-robot='robot-1'] td.mode", has_text="online").wait_for()
            phone.screenshot(path=str(SHOTS / "robots-phone.png"))
        page.goto(server.url + "/robots")
        page.locator("#robots tbody tr[data-robot='robot-1']").wait_for()
        page.screenshot(path=str(SHOTS / "robots.png"))
    trail = [json.loads(line) for line in server.audit.read_text().splitlines()]
    assert [(r["action"], r["account"]) for r in trail if r["action"] in ("ack", "resolve")] == \
        [("ack", NAME), ("resolve", NAME)]
    acked = [u for u in robot.alert_updates if u["state"] == "acknowledged"]
    assert acked, "the robot never had the ack"


def test_a_robot_killed_shows_offline_within_one_and_a_half_keepalives(browser: Any, server: Server, site: Broker,
                                                                       config: Config, tmp_path: Path) -> None:
    keepalive = 5
    cfg = robot_config(config, site, keepalive_s=keepalive, heartbeat_s=1)
    data = cfg.model_dump(exclude={"source"})
    data["robot"]["id"] = "robot-2"
    data["mqtt"].update(username="robot-2", password_file=site.password_file("robot-2"))
    proc = robot_process(Config.model_validate(data), tmp_path)
    try:
        with page_of(browser) as page:
            log_in(page, server)
            page.goto(server.url + "/robots")
            page.locator("#robots tbody tr[data-robot='robot-2'] td.mode", has_text="online").wait_for(timeout=30_000)
            proc.send_signal(signal.SIGKILL)
            # mosquitto sends the last will 1.5 keepalives after the last packet, checking every few seconds
            # (the same allowance as tests/test_mqtt.py); the page adds only its event stream's delivery. The
            # wait is the bound: the robot's keepalive honoured, offline by 7.5 s and a few; the default (30 s),
            # not before 45 s.
            page.locator("#robots tbody tr[data-robot='robot-2'] td.mode", has_text="offline").wait_for(
                timeout=(1.5 * keepalive + 20.0) * 1000)
    finally:
        proc.kill()
        proc.wait(5)


def test_nothing_is_served_without_a_session(server: Server) -> None:
    for path in ("/", "/robots", "/impact"):
        r = request(server, "GET", path)
        assert r.status == 303 and r.getheader("Location") == "/login"
    for path in ("/api/state", "/api/impact", "/impact.csv", "/events"):
        assert request(server, "GET", path).status == 401
    assert request(server, "POST", "/api/alerts/robot-1/" + "a" * 32 + "/ack", b"{}", Origin=server.url,
                   **{"Content-Type": "application/json"}).status == 401
    assert request(server, "GET", "/", Host="evil.example:80").status == 421  # a DNS-rebinding page


def test_a_forged_post_is_refused_and_every_answer_forbids_framing(server: Server) -> None:
    cookie, csrf = session(server)
    path = "/api/alerts/robot-1/" + "b" * 32 + "/ack"
    json_type = {"Content-Type": "application/json"}
    assert request(server, "POST", path, b"{}", Cookie=cookie, Origin=server.url, **json_type).status == 403
    assert request(server, "POST", path, b"{}", Cookie=cookie, Origin="https://evil.example",
                   **{"X-CSRF-Token": csrf}, **json_type).status == 403
    assert request(server, "POST", path, b"{}", Cookie=cookie, **{"X-CSRF-Token": csrf}, **json_type).status == 403
    form = {"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrf}
    assert request(server, "POST", path, b"x=1", Cookie=cookie, Origin=server.url, **form).status == 415
    ok = request(server, "POST", path, b"{}", Cookie=cookie, Origin=server.url, **{"X-CSRF-Token": csrf},
                 **json_type)
    assert ok.status == 404  # the guard let it through; there is no such alert
    headers = request(server, "GET", "/", Cookie=cookie)
    assert headers.getheader("X-Frame-Options") == "DENY"
    assert "frame-ancestors 'none'" in headers.getheader("Content-Security-Policy", "")
    assert "script-src 'self'" in headers.getheader("Content-Security-Policy", "")


def test_wrong_passwords_are_refused_and_slowed(server: Server, tmp_path: Path) -> None:
    form = urllib.parse.urlencode({"name": "bob-guesser", "password": "wrong guess 1"}).encode()
    # through the reverse proxy (docs/staff-web.md), as every browser comes: the proxy names the guesser's address
    hdr = {"Content-Type": "application/x-www-form-urlencoded", "Origin": server.url,
           "X-Forwarded-For": "10.9.9.9, 203.0.113.9"}
    for _ in range(3):
        assert request(server, "POST", "/login", form, **hdr).status == 401
    accounts: Accounts = server.site.accounts
    wait = accounts.delay("bob-guesser", "203.0.113.9")
    assert wait >= 2.0
    assert accounts.delay(NAME, "198.51.100.7") == 0.0  # a nurse elsewhere, behind the same proxy, is not slowed
    assert accounts.delay("dora", "127.0.0.1") == 0.0  # nor is every login that comes through the proxy
    started = time.monotonic()
    assert request(server, "POST", "/login", form, **hdr).status == 401
    assert time.monotonic() - started >= wait  # the fourth answer waited for it
    add_user(tmp_path / "users", "carol", "a long enough secret")
    fresh = Accounts(tmp_path / "users")
    assert fresh.check("carol", "a long enough secret", "10.0.0.9")
    assert not fresh.check("carol", "a long enough secreT", "10.0.0.9")
    assert (tmp_path / "users").stat().st_mode & 0o777 == 0o600
    assert "a long enough secret" not in (tmp_path / "users").read_text()


def test_markup_from_mqtt_is_shown_as_text_and_never_run(browser: Any, server: Server) -> None:
    view = server.view
    xss_room = "<script>window.__pwned = 1</script>"
    view.apply(f"carebot/v1/{SITE}/<img src=x onerror='window.__pwned=2'>/alert", b"{}")  # refused: named in a notice
    with view.lock:  # as if a broken broker ACL and schema let it through: the page must still show it as text
        view.alerts["c" * 32] = AlertView("c" * 32, "robot-1", xss_room, "help_request", "high", "raised", 0,
                                          time.time(), {"concern": "<b onmouseover=alert(3)>x</b>"})
    view.touch()
    try:
        with page_of(browser) as page:
            log_in(page, server)
            page.locator("#alerts tbody tr td", has_text=xss_room).wait_for()
            page.locator("#notices li", has_text="<img src=x").wait_for()
            assert page.evaluate("window.__pwned") is None
            assert page.locator("#alerts script, #alerts img, #alerts b, #notices img").count() == 0
            assert page.evaluate("crossOriginIsolated") is True  # no other origin's page shares its process
    finally:
        with view.lock:
            view.alerts.pop("c" * 32)
        view.touch()


def seeded(tmp_path: Path) -> Store:
    """A week of two robots whose answers are known, seen from the Sunday after (the store's clock is pinned
    there: on the machine's own, the retention would delete the week once it is 400 days old, and fail the test
    from December 2027)."""
    monday = time.mktime((2026, 11, 16, 9, 0, 0, 0, 0, -1))  # Monday 16 November 2026, 09:00 local
    store = Store(tmp_path / "impact.sqlite", clock=lambda: monday + 6 * 86400)
    for day in range(2):
        for robot, talks in (("robot-1", 6), ("robot-2", 2)):
            store.activity(robot, {"event_id": f"{robot}{day}".ljust(32, "0"), "bucket_start": monday + day * 86400,
                                   "bucket_s": 900, "counts": {"conversations": talks, "reminders_confirmed": 3,
                                                               "reminders_missed": 0, "engagement_minutes": 10,
                                                               "help_requests": 1}})
    for n, (robot, kind, ack_after) in enumerate([("robot-1", "help_request", 30.0), ("robot-1", "help_request", 90.0),
                                                 ("robot-2", "help_request", None),
                                                 ("robot-2", "reminder_unacked", 60.0),
                                                 ("robot-1", "wellbeing_concern", 10.0)]):
        raised = monday + 3600 * n
        body = {"alert_id": f"{n:032x}", "room": "room-1", "type": kind, "priority": "high", "raised_ts": raised,
                "ts": raised, "state": "raised", "level": 0}
        store.alert(robot, body)
        if ack_after is not None:
            store.alert(robot, {**body, "state": "acknowledged", "ts": raised + ack_after})
    return store


def test_the_impact_figures_match_events_whose_answers_are_known(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    rows = {r["robot"]: r for r in store.figures()}
    week = week_of(time.mktime((2026, 11, 16, 9, 0, 0, 0, 0, -1)))
    assert {r["week"] for r in rows.values()} == {week}
    assert rows["robot-1"]["conversations_per_day"] == 6.0 and rows["robot-2"]["conversations_per_day"] == 2.0
    assert rows["all"]["conversations_per_day"] == 8.0
    assert rows["robot-1"]["help_requests"] == 2 and rows["robot-1"]["ack_median_s"] == 60.0
    assert rows["robot-1"]["ack_p90_s"] == 90.0
    assert rows["robot-2"]["help_requests"] == 1 and rows["robot-2"]["help_unacknowledged"] == 1
    assert rows["robot-2"]["ack_median_s"] is None
    assert rows["all"]["help_requests"] == 3 and rows["all"]["ack_median_s"] == 60.0
    assert rows["robot-2"]["reminders_escalated"] == 1 and rows["all"]["reminders_confirmed"] == 12
    assert rows["robot-1"]["wellbeing_concerns"] == 1 and rows["all"]["company_minutes"] == 40
    assert rows["all"]["asked_again"] is None  # the robots did not send that count
    lines = store.csv().splitlines()
    assert lines[0].startswith("week,robot,conversations_per_day,help_requests")
    assert f"{week},all,8.0,3,1,60.0,90.0,12,1,1,,40" in lines


def test_the_impact_page_shows_the_figures(browser: Any, server: Server, tmp_path: Path) -> None:
    store = seeded(tmp_path)
    real, server.site.store = server.site.store, store
    try:
        with page_of(browser, 1280, 900) as page:
            log_in(page, server)
            page.goto(server.url + "/impact")
            page.locator("#impact tbody tr.all td", has_text="8").first.wait_for()
            assert page.locator("#charts svg").count() == 4
            page.screenshot(path=str(SHOTS / "impact.png"), full_page=True)
    finally:
        server.site.store = real


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_web_unit_verifies_and_is_sandboxed(tmp_path: Path) -> None:
    unit = ROOT / "systemd" / "home-server" / "carebot-staff-web.service"
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace("/opt/carebot/venv/bin/carebot", str(Path(sys.executable).parent /
                                                                                 "carebot")))
    proc = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stdout + proc.stderr
    out = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True,
                         text=True).stdout
    level = re.search(r"Overall exposure level for carebot-staff-web.service: ([\d.]+)", out)
    assert level and float(level.group(1)) <= 2.0, out[-400:]


def test_the_robot_counts_when_it_has_to_ask_again_and_never_the_words(robot: Runtime) -> None:
    counts = robot.staff.activity.counts
    before = counts["asked_again"]
    robot.hear("flibbertigibbet wobble")  # nothing a pack knows: the robot says it did not catch that
    assert wait_for(lambda: counts["asked_again"] == before + 1, 10)
    robot.hear("what time is it")  # understood: not counted
    time.sleep(1.0)
    assert counts["asked_again"] == before + 1
    assert "flibbertigibbet" not in json.dumps(counts)


def test_one_account_cannot_take_every_event_stream(server: Server) -> None:
    """A hostile staff account (or a stalled page) opening stream after stream leaves the other nurses' pages live."""
    import socket

    add_user(server.site.accounts.path, "mallory", "a hostile insider 1")
    form = urllib.parse.urlencode({"name": "mallory", "password": "a hostile insider 1"}).encode()
    r = request(server, "POST", "/login", form, Origin=server.url,
                **{"Content-Type": "application/x-www-form-urlencoded"})
    hostile = r.getheader("Set-Cookie", "").split(";")[0]
    held, refused = [], 0
    try:
        for _ in range(40):  # more than the server's whole budget of streams, never reading them
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nCookie: {hostile}\r\n\r\n".encode())
            status = s.recv(64).split(b" ")[1]
            if status == b"503":
                refused += 1
                s.close()
            else:
                held.append(s)
        nurse, _ = session(server)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/events", headers={"Host": f"127.0.0.1:{server.port}", "Cookie": nurse})
        live = conn.getresponse()
        assert live.status == 200 and live.read1(65536).startswith(b"data: {")  # the nurse's page still gets state
        conn.close()
        assert refused > 0
    finally:
        for s in held:
            s.close()
        server.view.touch()  # their next write finds them gone
        assert wait_for(lambda: server.site.live.streams["mallory"] == 0, 10)


def test_pages_a_nurse_closed_do_not_count_against_her_next_one(server: Server) -> None:
    """A nurse who opens as many pages as her account may, closes them all and opens one more is served at once,
    with no change in the site to wake the closed pages' streams first. (A test run that opened pages and closed
    them was refused its next one with 503 until a keepalive, up to 15 s, found them gone.) The closed pages' streams
    end then too: one who opens and closes pages as fast as she can leaves no pile of them."""
    import socket

    from robot.staffweb.streams import STREAMS_PER_ACCOUNT

    add_user(server.site.accounts.path, "tabs", "a nurse with many tabs")
    form = urllib.parse.urlencode({"name": "tabs", "password": "a nurse with many tabs"}).encode()
    r = request(server, "POST", "/login", form, Origin=server.url,
                **{"Content-Type": "application/x-www-form-urlencoded"})
    cookie = r.getheader("Set-Cookie", "").split(";")[0]
    asked = f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nCookie: {cookie}\r\n\r\n".encode()
    pages = []
    for _ in range(STREAMS_PER_ACCOUNT + 1):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(asked)
        pages.append((s, s.recv(64).split(b" ")[1]))
    assert [status for _, status in pages] == [b"200"] * STREAMS_PER_ACCOUNT + [b"503"]  # the limit holds
    for s, _ in pages:
        s.close()
    assert wait_for(lambda: server.site.live.streams["tabs"] == 0, 2)  # the closed connections, not a keepalive
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/events", headers={"Host": f"127.0.0.1:{server.port}", "Cookie": cookie})
    try:
        live = conn.getresponse()
        assert live.status == 200 and live.read1(65536).startswith(b"data: {"), live.status
        # and the closed pages' streams have ended, not waiting for a keepalive: none piles up
        assert wait_for(lambda: [a for a, *_ in list(server.site.live.pages.values())].count("tabs") == 1, 2)
    finally:
        conn.close()


def test_a_keyboard_nurse_keeps_her_place_and_is_told_what_became_of_each_click(browser: Any, server: Server) -> None:
    """Updates redraw the table; a keyboard user's focus stays on the same button. A click that another nurse beat
    (already acknowledged) is refused and said so, and never reported later as a robot that did not confirm."""
    view, first, second = server.view, "e" * 32, "f" * 32

    def seed(alert_id: str, state: str) -> None:
        with view.lock:
            view.alerts[alert_id] = AlertView(alert_id, "robot-1", "garden", "help_request", "high", state, 0,
                                              time.time(), {})
        view.touch()

    seed(first, "raised")
    try:
        with page_of(browser) as page:
            log_in(page, server)
            ack = page.locator(f"tr[data-alert='{first}'] button.ack")
            ack.focus()
            seed(second, "raised")  # any update redraws the table
            page.locator(f"tr[data-alert='{second}']").wait_for()
            assert page.evaluate("document.activeElement.closest('tr').dataset.alert") == first
            assert page.evaluate("document.activeElement.className") == "ack"
            with view.lock:
                view.alerts[first].state = "acknowledged"  # another nurse was quicker; this page has not seen it
            page.keyboard.press("Enter")
            page.locator("#said.error", has_text="already acknowledged").wait_for()
            page.keyboard.press("Tab")  # on to Resolve, without a mouse
            page.keyboard.press("Enter")
            page.locator("#said", has_text="Resolve sent for the Help request in room garden").wait_for()
        assert view.pending.get(first, ("",))[0] == "resolve"
        view.check_pending(time.monotonic() + 60)  # long after: only the resolve is said to be unconfirmed
        unconfirmed = [text for _, text in view.notices if "has not confirmed your" in text and "garden" in text]
        assert len(unconfirmed) == 1 and "your resolve" in unconfirmed[0]
    finally:
        with view.lock:
            view.alerts.pop(first)
            view.alerts.pop(second)
            view.pending.pop(first, None)
        view.touch()


def test_a_robot_account_that_claims_a_huge_event_number_cannot_freeze_the_page(server: Server, site: Broker) -> None:
    """A robot account (a stolen password, a broken robot) sends one event and then a heartbeat that claims its
    newest event is number 2**53 - 1 (within the schema). The page must still answer, at once, and show that
    robot's missing events as a count, not enumerate them while holding the view."""
    robot, boot, now = "robot-2", "f100d0000001", time.time()
    liar = Client(site, robot)
    assert liar.connect() == 0
    try:
        activity = {"event_id": "a" * 32, "boot_id": boot, "seq": 1, "ts": now, "robot": robot, "site": SITE,
                    "bucket_start": now - 900, "bucket_s": 900,
                    "counts": {"conversations": 0, "reminders_confirmed": 0, "engagement_minutes": 0,
                               "help_requests": 0}}
        assert liar.publish(f"carebot/v1/{SITE}/{robot}/activity", encode("activity", activity)) == 0
        beat = {"robot": robot, "site": SITE, "boot_id": boot, "seq": 1, "event_seq": 2**53 - 1, "ts": now,
                "behaviour": "idle", "faults": [], "open_alerts": 0, "outbox_pending": 0}
        liar.client.publish(f"carebot/v1/{SITE}/{robot}/heartbeat", encode("heartbeat", beat), qos=0)
        assert wait_for(lambda: server.view.health.get(robot) is not None
                        and server.view.seqs.seen(SITE, robot, boot) == {1}, 10)
        cookie, _ = session(server)
        r = request(server, "GET", "/api/state", Cookie=cookie)
        assert r.status == 200
        row = next(x for x in json.loads(r.read())["robots"] if x["robot"] == robot)
        assert wait_for(lambda: next(x for x in server.view.snapshot()["robots"]
                                     if x["robot"] == robot)["events_missing"] == 2**53 - 2, 10), row
    finally:
        liar.close()


def test_guesses_sent_in_parallel_take_turns_and_a_crowd_of_them_is_refused(server: Server) -> None:
    """Throttling that parallel requests could bypass (each computing its wait before any had failed) is none."""
    from concurrent.futures import ThreadPoolExecutor

    hdr = {"Content-Type": "application/x-www-form-urlencoded", "Origin": server.url,
           "X-Forwarded-For": "192.0.2.77"}

    def guess(n: int) -> int:
        form = urllib.parse.urlencode({"name": "zed", "password": f"guess {n}"}).encode()
        return request(server, "POST", "/login", form, **hdr).status

    assert [guess(n) for n in range(3)] == [401] * 3  # the free ones; the next waits 2 s, holding its turn
    pool = ThreadPoolExecutor(8)
    try:
        answers = [pool.submit(guess, n) for n in range(3, 11)]
        assert wait_for(lambda: sum(f.done() for f in answers) >= 5, 10)
        # one guessing, two waiting their turn, the rest refused at once
        assert [f.result() for f in answers if f.done()].count(429) >= 4
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def test_a_damaged_users_file_is_said_so_and_the_server_goes_on(server: Server) -> None:
    users = server.site.accounts.path
    good = users.read_text()
    hdr = {"Content-Type": "application/x-www-form-urlencoded", "Origin": server.url, "X-Forwarded-For": "192.0.2.5"}
    form = urllib.parse.urlencode({"name": NAME, "password": PASSWORD}).encode()
    try:
        users.write_text(good + "this line is not an account\n")
        r = request(server, "POST", "/login", form, **hdr)
        assert r.status == 503 and b"accounts file cannot be read" in r.read()
    finally:
        users.write_text(good)
    assert request(server, "POST", "/login", form, **hdr).status == 303


AXE = Path(sys.prefix) / "share" / "axe" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.skipif(not AXE.is_file(), reason=f"axe-core is not installed at {AXE}: scripts/setup.sh installs it")
def test_the_staff_pages_have_no_serious_accessibility_violations(browser: Any, server: Server) -> None:
    view, alert_id = server.view, "a1" * 16
    with view.lock:  # an open high alert, so the table and its buttons are there to check
        view.alerts[alert_id] = AlertView(alert_id, "robot-1", "lounge", "help_request", "high", "raised", 0,
                                          time.time(), {})
    view.touch()
    found: dict[str, list[tuple[str, str]]] = {}
    try:
        everything = (("/login", "#name"), ("/", "#alerts tbody tr"), ("/robots", "#link.ok"), ("/impact", "#impact"))
        for width, height, pages in ((1280, 800, everything), (390, 844, everything[:2])):  # a station, a phone
            with page_of(browser, width, height, bypass_csp=True) as page:  # the policy forbids foreign scripts
                for path, ready in pages:
                    if path == "/":
                        log_in(page, server)
                    page.goto(server.url + path)
                    page.locator(ready).first.wait_for()
                    page.add_script_tag(path=str(AXE))
                    result = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']})")
                    assert len(result["passes"]) >= 10, "axe checked next to nothing"
                    found[f"{path}@{width}"] = [(v["id"], v["impact"]) for v in result["violations"]
                                                if v["impact"] in ("serious", "critical")]
    finally:
        with view.lock:
            view.alerts.pop(alert_id)
        view.touch()
    assert all(v == [] for v in found.values()), found


def test_a_flood_of_raised_and_closed_alerts_leaves_the_view_bounded_and_the_next_help_shown() -> None:
    """Months of alerts, or a robot raising and closing them by the thousand: the view forgets old closed ones
    (before, each was kept for ever and every message cost time in proportion to them all)."""
    import uuid

    from robot.staffweb.view import CLOSED_KEPT, WebView

    class Client:  # the view only subscribes and publishes through it; nothing is sent in this test
        on_message = on_connect = on_disconnect = None

    view = WebView(SITE, Client(), "web")
    seq = 0

    def alert(alert_id: str, kind: str = "reminder_unacked", priority: str = "medium") -> bytes:
        nonlocal seq
        seq += 1
        return json.dumps({"schema": "carebot/alert/1", "event_id": uuid.uuid4().hex, "alert_id": alert_id,
                           "site": SITE, "robot": "robot-9", "room": "r1", "type": kind, "priority": priority,
                           "state": "raised", "level": 0, "raised_ts": time.time(), "ts": time.time(),
                           "boot_id": "b" * 12, "seq": seq}).encode()

    for _ in range(3 * CLOSED_KEPT):
        alert_id = uuid.uuid4().hex
        view.apply(f"carebot/v1/{SITE}/robot-9/alert", alert(alert_id))
        view.apply(f"carebot/v1/{SITE}/robot-9/alert/{alert_id}", b"")  # closed: its retained copy cleared
    assert view.refused == 0 and len(view.alerts) <= 2 * CLOSED_KEPT
    help_id = uuid.uuid4().hex
    view.apply(f"carebot/v1/{SITE}/robot-9/alert", alert(help_id, "help_request", "high"))
    assert [a["alert_id"] for a in view.snapshot()["alerts"]] == [help_id]


def test_redirects_and_errors_carry_the_same_headers_as_pages(server: Server) -> None:
    """The login's redirect sets the session cookie: no cache may keep it. A 404 or 405 may not be framed."""
    form = urllib.parse.urlencode({"name": NAME, "password": PASSWORD}).encode()
    hdr = {"X-Forwarded-For": "192.0.2.8", "Content-Type": "application/x-www-form-urlencoded"}
    r = request(server, "POST", "/login", form, Origin=server.url, **hdr)
    assert r.status == 303 and r.getheader("Cache-Control") == "no-store" and r.getheader("X-Frame-Options") == "DENY"
    cookie = r.getheader("Set-Cookie", "").split(";")[0]
    for method, path in (("GET", "/no-such-page"), ("GET", "/events/../../etc/passwd"), ("PUT", "/login")):
        r = request(server, method, path, Cookie=cookie)
        assert r.status in (404, 405) and r.getheader("X-Frame-Options") == "DENY", (method, path, r.status)
        assert r.getheader("Cache-Control") == "no-store"
    r = request(server, "GET", "/robots")
    assert r.status == 303 and r.getheader("Cache-Control") == "no-store"


def test_a_busy_broker_costs_one_state_per_burst_not_one_per_message_and_page(server: Server) -> None:
    """Messages flooding in while pages are open: each state is made once for all pages, and a page gets at most
    a few a second (before, every message made a fresh ~9 ms state for every page, and a busy broker took the
    whole loop); the newest state still reaches every page."""
    import socket

    from robot.staffweb.streams import MIN_INTERVAL_S

    cookie, _ = session(server)
    view, pages = server.view, 8
    made = [0]
    snapshot = view.snapshot

    def counted(now: float | None = None) -> dict[str, Any]:
        made[0] += 1
        return snapshot(now)

    others = []
    reader = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    reader.request("GET", "/events", headers={"Host": f"127.0.0.1:{server.port}", "Cookie": cookie})
    live = reader.getresponse()
    try:
        for _ in range(pages - 1):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nCookie: {cookie}\r\n\r\n".encode())
            others.append(s)
        live.read1(65536)
        view.snapshot = counted  # type: ignore[method-assign]
        started = time.monotonic()
        for _ in range(200):  # a message every 5 ms for a second
            view.touch()
            time.sleep(0.005)
        last, seen, deadline = view.version, b"", time.monotonic() + 30  # other robots' messages may follow it
        while max(map(int, re.findall(rb'"version":(\d+)', seen)), default=-1) < last:
            assert time.monotonic() < deadline, "the newest state never reached the page"
            seen = seen[-200:] + live.read1(1 << 20)
        elapsed = time.monotonic() - started  # states are counted until now: a loaded machine's wait counts too
        assert 1 <= made[0] <= pages * (elapsed / MIN_INTERVAL_S + 2), (made[0], elapsed)
    finally:
        view.snapshot = snapshot  # type: ignore[method-assign]
        for s in others:
            s.close()
        reader.close()
        view.touch()


def test_a_page_started_late_shows_no_missing_events_for_an_open_alert_s_retained_copy() -> None:
    """The page starts while robot-9 has an open alert (event 40) and has sent 60 events since: the retained copy
    of the alert comes first, then a heartbeat saying the newest event is 100 and nothing is pending. Events 41 to
    100 were delivered before the page listened: none is missing. (The retained copy was once counted as an event,
    and 60 events showed as missing after every restart of the page.)"""
    from robot.staffweb.view import WebView

    class Client:  # the view only subscribes and publishes through it; nothing is sent in this test
        on_message = on_connect = on_disconnect = None

    view, boot, now = WebView(SITE, Client(), "web"), "c" * 12, time.time()
    alert_id = "d" * 32
    copy = {"schema": "carebot/alert/1", "event_id": "e" * 32, "alert_id": alert_id, "site": SITE, "robot": "robot-9",
            "room": "r1", "type": "help_request", "priority": "high", "state": "raised", "level": 0,
            "raised_ts": now - 600, "ts": now - 600, "boot_id": boot, "seq": 40}
    view.apply(f"carebot/v1/{SITE}/robot-9/alert/{alert_id}", json.dumps(copy).encode(), retained=True)
    beat = {"schema": "carebot/heartbeat/1", "robot": "robot-9", "site": SITE, "boot_id": boot, "seq": 7,
            "event_seq": 100, "ts": now, "behaviour": "idle", "faults": [], "open_alerts": 1, "outbox_pending": 0}
    view.apply(f"carebot/v1/{SITE}/robot-9/heartbeat", json.dumps(beat).encode())
    assert view.refused == 0 and [a["alert_id"] for a in view.snapshot()["alerts"]] == [alert_id]
    robot = next(r for r in view.snapshot()["robots"] if r["robot"] == "robot-9")
    assert robot["events_missing"] == 0
    view.apply(f"carebot/v1/{SITE}/robot-9/alert", json.dumps({**copy, "event_id": "f" * 32, "seq": 102,
                                                                   "state": "escalated", "level": 1}).encode())
    robot = next(r for r in view.snapshot()["robots"] if r["robot"] == "robot-9")
    assert robot["events_missing"] == 1  # 101 never came: a real gap is still shown


def test_ended_sessions_are_forgotten_and_one_account_cannot_pile_them_up(server: Server) -> None:
    from robot.staffweb.app import MAX_AGE_S, SESSIONS_PER_ACCOUNT

    sessions = server.site.sessions
    old_cookie, _ = session(server)
    old = sessions[old_cookie.split("=", 1)[1]]
    old.created -= MAX_AGE_S + 1  # a browser closed long ago: it never comes back to end its own session
    for _ in range(SESSIONS_PER_ACCOUNT + 2):
        session(server)
    assert old not in sessions.values()
    assert sum(1 for s in sessions.values() if s.account == NAME) <= SESSIONS_PER_ACCOUNT


def test_an_alert_s_change_reaches_an_open_page_as_a_delta_of_its_row(server: Server) -> None:
    """A new alert goes to an open page at once as its row alone (not the whole state); its retained copy, a
    redelivery, sends nothing more; its closing sends the alert's id as closed."""
    cookie, _ = session(server)
    reader = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    reader.request("GET", "/events", headers={"Host": f"127.0.0.1:{server.port}", "Cookie": cookie})
    live = reader.getresponse()
    body = help_alert("7", robot="robot-7")
    alert_id = body["alert_id"]

    def deltas(until: str) -> list[dict[str, Any]]:
        seen, deadline = b"", time.monotonic() + 10
        while until.encode() not in seen:
            assert time.monotonic() < deadline, seen[-500:]
            seen += live.read1(1 << 16)
        return [json.loads(m) for m in re.findall(rb"event: alert\ndata: (.*)\n\n", seen)]

    try:
        assert live.status == 200, live.read()
        live.read1(1 << 16)  # the whole state, first
        server.view.apply(f"carebot/v1/{SITE}/robot-7/alert", json.dumps(body).encode())
        server.view.apply(f"carebot/v1/{SITE}/robot-7/alert/{alert_id}", json.dumps(body).encode(), retained=True)
        server.view.apply(f"carebot/v1/{SITE}/robot-7/alert/{alert_id}", b"")
        got = deltas(f'"closed":"{alert_id}"')
        assert [d.get("alert", {}).get("room") or d.get("closed") for d in got] == ["hall", alert_id]
        assert got[0]["alert"]["alert_id"] == alert_id and got[0]["version"] < got[1]["version"]
        assert any("help_request" in n["text"] for n in got[0]["notices"])  # the console's line, for Messages
    finally:
        reader.close()



ORDERS = """ids => { window.__orders = [];
  new MutationObserver(() => window.__orders.push([...document.querySelectorAll('#alerts tbody tr')]
    .map(r => r.dataset.alert).filter(i => ids.includes(i))))
    .observe(document.querySelector('#alerts tbody'), {childList: true}); }"""


def test_each_delta_puts_its_row_in_place_keeps_the_focus_and_takes_a_closed_row_away(browser: Any,
                                                                                       server: Server) -> None:
    """A delta redraws its own alert's row alone: the table is newest high first after every one of them, in
    whatever order they come; a keyboard user's button stays focused when its row is redrawn; a closed row goes."""
    now, view = time.time(), server.view
    # (digit, robot, priority, raised): sorted, C then A (high, newest first), D (medium), B (low)
    a, b, c, d = [("3", "robot-3", "high", now - 30), ("4", "robot-4", "low", now - 10),
                  ("5", "robot-5", "high", now - 5), ("6", "robot-6", "medium", now - 20)]
    ids = {n: f"a{n}" * 16 for n, *_ in (a, b, c, d)}

    def send(n: str, robot: str, priority: str, raised: float, **change: Any) -> None:
        body = {**help_alert(n, robot), "priority": priority, "raised_ts": raised, **change}
        view.apply(f"carebot/v1/{SITE}/{robot}/alert", json.dumps(body).encode())

    try:
        with page_of(browser) as page:
            log_in(page, server)
            page.wait_for_selector("#link.ok")
            page.evaluate(ORDERS, list(ids.values()))
            for alert in (a, b, c, d):
                send(*alert)
                page.locator(f"tr[data-alert='{ids[alert[0]]}']").wait_for()
            page.locator(f"tr[data-alert='{ids['3']}'] button.ack").focus()
            send(*a, state="escalated", level=1, seq=2, event_id="c3" * 16)  # A's row is made afresh
            page.locator(f"tr[data-alert='{ids['3']}'] td", has_text="escalated").wait_for()
            assert page.evaluate("document.activeElement.closest('tr').dataset.alert") == ids["3"]
            assert page.evaluate("document.activeElement.className") == "ack"
            view.apply(f"carebot/v1/{SITE}/robot-4/alert/{ids['4']}", b"")  # B resolved
            page.locator(f"tr[data-alert='{ids['4']}']").wait_for(state="detached")
            orders = page.evaluate("window.__orders")
        full = [ids[n] for n in ("5", "3", "6", "4")]
        assert orders[-1] == [ids[n] for n in ("5", "3", "6")]
        for order in orders:  # every moment of the table's, each delta's included, in order
            assert order == [i for i in full if i in order], order
    finally:
        for n, robot, *_ in (a, b, c, d):
            view.apply(f"carebot/v1/{SITE}/{robot}/alert/{ids[n]}", b"")

def test_the_page_s_broker_link_comes_back_after_the_broker_drops_it(server: Server, site: Broker) -> None:
    """The web server's event loop reads the broker (robot/staffweb/mqttloop.py): when the link is lost (here a
    second login with its account takes the session over, and leaves) it connects again by itself, and the next
    alert still reaches the view."""
    intruder = Client(site, STAFF, client_id=STAFF)
    assert intruder.connect() == 0
    assert wait_for(lambda: not server.view.client.is_connected(), 10)
    intruder.client.disconnect()
    intruder.client.loop_stop()
    assert wait_for(lambda: server.view.client.is_connected(), 15)
    assert wait_for(lambda: server.view.snapshot()["broker"]["up"], 5)  # and the pages are told
    body = help_alert("8")
    with second_robot(site, server, body["alert_id"]) as robot:
        robot.client.publish(f"carebot/v1/{SITE}/robot-2/alert", json.dumps(body), qos=1).wait_for_publish(5)
        assert wait_for(lambda: body["alert_id"] in server.view.alerts, 10)


def test_the_page_says_when_it_has_no_broker_link_and_when_it_has_it_again(browser: Any, site: Broker,
                                                                           tmp_path: Path) -> None:
    """The broker is out of reach when the page's server starts (a proxy cut between them), comes back, and is
    lost again mid-shift: the page says so each time, instead of "Live" over an empty table while no alert can
    arrive."""
    import types

    from .tcp_proxy import Link

    link = Link(site.port)
    link.cut()
    web = Server(types.SimpleNamespace(port=link.port, ca=site.ca, password_file=site.password_file),  # type: ignore[arg-type]
                 tmp_path, STAFF2)  # the module's server holds STAFF's one session
    try:
        with page_of(browser) as page:
            log_in(page, web)
            page.locator("#link.bad", has_text="Not connected to the broker").wait_for(timeout=10_000)
            # An Acknowledge now would only wait in this server: the nurse is told it was not sent, at once.
            alert_id, now = "a6" * 16, time.time()
            web.view.apply(f"carebot/v1/{SITE}/robot-2/alert", json.dumps({
                "schema": "carebot/alert/1", "event_id": "b6" * 16, "alert_id": alert_id, "site": SITE,
                "robot": "robot-2", "room": "hall", "type": "help_request", "priority": "high", "state": "raised",
                "level": 0, "raised_ts": now, "ts": now, "boot_id": "d" * 12, "seq": 1}).encode())
            cookie, csrf = session(web)
            r = request(web, "POST", f"/api/alerts/robot-2/{alert_id}/ack", b"{}", Origin=web.url, Cookie=cookie,
                        **{"X-CSRF-Token": csrf, "Content-Type": "application/json"})
            assert r.status == 503 and b"no link to the broker" in r.read()
            link.restore()
            page.locator("#link.ok", has_text="Live").wait_for(timeout=15_000)
            link.cut()
            page.locator("#link.bad", has_text="Not connected to the broker").wait_for(timeout=10_000)
    finally:
        web.stop()
        link.close()


def test_a_stalled_impact_store_never_holds_up_an_alert(server: Server, site: Broker) -> None:
    """The impact figures' sqlite is slow (a stalled disk: here its lock is held, as a long commit would) while a
    nurse opens the impact page: the event loop, which also reads the broker, must not wait for it, and an alert
    raised meanwhile still reaches the view."""
    cookie, _ = session(server)
    answers: list[int] = []
    asking = threading.Thread(target=lambda: answers.append(request(server, "GET", "/api/impact",
                                                                    Cookie=cookie).status))
    body = help_alert("9")
    stalled = server.site.store._lock
    with second_robot(site, server, body["alert_id"]) as robot:
        stalled.acquire()
        try:
            asking.start()
            time.sleep(0.3)  # the impact request is waiting for the store
            robot.client.publish(f"carebot/v1/{SITE}/robot-2/alert", json.dumps(body), qos=1).wait_for_publish(5)
            assert wait_for(lambda: body["alert_id"] in server.view.alerts, 5)
        finally:
            stalled.release()
            asking.join(30)
    assert answers == [200]


def test_impact_pages_on_a_stalled_disk_never_hold_up_a_login(server: Server) -> None:
    """The impact figures' disk is stalled (its store held, as a long commit or another process's lock would)
    while eight impact pages load (tabs, reloads): a nurse can still log in. The queries ran in the executor that
    the logins' password checks and the audit trail share: eight of them took every thread, and with the disk's
    lock held by another process a login waited 15 s (measured), with it held for good, for good."""
    cookie, _ = session(server)
    answers: list[int] = []
    asking = [threading.Thread(target=lambda: answers.append(request(server, "GET", "/api/impact",
                                                                     Cookie=cookie).status)) for _ in range(8)]
    logged: list[int] = []
    form = urllib.parse.urlencode({"name": NAME, "password": PASSWORD}).encode()
    login = threading.Thread(target=lambda: logged.append(request(
        server, "POST", "/login", form, Origin=server.url,
        **{"Content-Type": "application/x-www-form-urlencoded"}).status))
    stalled = server.site.store._lock
    stalled.acquire()
    try:
        for t in asking:
            t.start()
        time.sleep(0.5)  # the impact pages are waiting for the store
        login.start()
        assert wait_for(lambda: logged == [303], 10), logged
        assert answers == []  # the disk was stalled all along
    finally:
        stalled.release()
        for t in [*asking, login]:
            t.join(30)
    assert answers == [200] * 8


def test_impact_figures_a_locked_store_cannot_give_are_said_so(server: Server) -> None:
    """Another process holds the impact store's lock past sqlite's timeout (here shortened from 5 s): the page is
    told the figures cannot be read now and why (before: a 500, a traceback in the log and an empty page)."""
    import sqlite3

    cookie, _ = session(server)
    store = server.site.store
    other = sqlite3.connect(str(server.audit.parent / "impact.sqlite"), isolation_level=None)
    with store._lock:
        store.db.execute("PRAGMA busy_timeout = 50")
    other.execute("BEGIN EXCLUSIVE")
    try:
        answers = [request(server, "GET", path, Cookie=cookie) for path in ("/api/impact", "/impact.csv")]
        assert [(r.status, r.read().decode()) for r in answers] == [
            (503, "the impact figures cannot be read now (database is locked): try again in a moment\n")] * 2
    finally:
        other.execute("ROLLBACK")
        with store._lock:
            store.db.execute("PRAGMA busy_timeout = 5000")
    assert request(server, "GET", "/api/impact", Cookie=cookie).status == 200


def raise_alerts(view: Any, count: int) -> dict[str, Any]:
    """`count` robots each raise a help request, applied as the broker would deliver them; the last one's body."""
    now = time.time()
    for i in range(count):
        body = {"schema": "carebot/alert/1", "event_id": f"{i:032x}", "alert_id": f"{i + 100:032x}", "site": SITE,
                "robot": f"robot-{i}", "room": "r1", "type": "help_request", "priority": "high", "state": "raised",
                "level": 0, "raised_ts": now, "ts": now, "boot_id": "c" * 12, "seq": 1}
        view.apply(f"carebot/v1/{SITE}/robot-{i}/alert", json.dumps(body).encode())
    return body


def test_an_impact_store_that_cannot_write_costs_one_notice_and_never_an_alert(tmp_path: Path) -> None:
    """The impact figures' disk refuses every write (a full disk or a read-only one: here sqlite opened read-only,
    which refuses as they do): every alert is still shown, and the page says once that figures are not being
    written, not once per message (ten such lines pushed out "robot-1 has not confirmed your ack")."""
    import sqlite3

    from robot.staffweb.view import WebView

    class Client:  # the view only subscribes and publishes through it; nothing is sent in this test
        on_message = on_connect = on_disconnect = None

    store = Store(tmp_path / "impact.sqlite")
    store.db.close()
    store.db = sqlite3.connect(f"file:{tmp_path / 'impact.sqlite'}?mode=ro", uri=True, check_same_thread=False)
    view = WebView(SITE, Client(), "web", store)
    raise_alerts(view, 30)
    failed = "impact figures are not being written"
    assert wait_for(lambda: view._writes.empty() and any(failed in text for _, text in view.notices), 10)
    time.sleep(0.2)  # the writer's last attempt
    assert len(view.snapshot()["alerts"]) == 30
    assert sum(failed in text for _, text in view.notices) == 1, list(view.notices)


def test_the_impact_writer_writes_a_burst_in_one_transaction_and_all_of_it_at_the_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The impact figures' writes wait a moment and go in one transaction (one sync of the disk, and none while
    the alert is on its way to the page); one update the store refuses costs only itself; at the server's end
    what the writer holds is written at once."""
    from robot.staffweb import view as view_module
    from robot.staffweb.view import WebView

    class Client:
        on_message = on_connect = on_disconnect = None

    store = Store(tmp_path / "impact.sqlite")
    batches: list[int] = []
    write = store.write
    store.write = lambda batch: (batches.append(len(batch)), write(batch))[1]  # type: ignore[method-assign]
    view = WebView(SITE, Client(), "web", store)
    body = raise_alerts(view, 30)
    assert wait_for(lambda: store.db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 30, 10)
    assert batches == [30]
    monkeypatch.setattr(view_module, "WRITE_BATCH_S", 600.0)  # from now the writer would pause for ten minutes
    view._writes.put(("alert", "robot-x", {"state": "raised"}))  # no alert_id: refused by the store alone
    body["alert_id"], body["robot"] = "f" * 32, "robot-y"
    view.apply(f"carebot/v1/{SITE}/robot-y/alert", json.dumps(body).encode())
    view.close_store(timeout=10)  # the writer's pause cut short: the server's end does not wait for it
    assert not view._writer.is_alive()
    assert store.db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 31
    assert batches[1:] == [2, 1, 1]  # the batch refused, then each update alone: the good one written
    assert any("impact figures are not being written" in text for _, text in view.notices)


def _activity_body(i: int, robot: str = "robot-1") -> dict[str, Any]:
    now = time.time()
    return {"schema": "carebot/activity/1", "event_id": f"{i:032x}", "boot_id": "d" * 12, "seq": i + 1, "ts": now,
            "robot": robot, "site": SITE, "bucket_start": now - 900, "bucket_s": 900,
            "counts": {"conversations": 1, "reminders_confirmed": 0, "engagement_minutes": 2, "help_requests": 0}}


def test_a_flood_on_a_stalled_impact_store_is_bounded_and_its_backlog_written_without_pauses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A misused robot account floods activity events while the impact store's disk is stalled (its lock held):
    what waits for the writer is bounded (memory: the server runs for months and the alerts page must outlive
    any flood), what did not fit is counted and told once; when the disk comes back the backlog is written in
    full batches one after another, not one batch per WRITE_BATCH_S (which capped the writer below a flood's
    pace: 1000 updates a second against 3400 applied, the queue grew by 5 MB a second)."""
    from robot.staffweb import view as view_module
    from robot.staffweb.view import WebView

    class Client:
        on_message = on_connect = on_disconnect = None

    monkeypatch.setattr(view_module, "WRITE_BATCH_S", 0.0)
    monkeypatch.setattr(view_module, "WRITE_BATCH_MAX", 10)
    monkeypatch.setattr(view_module, "WRITE_QUEUE_MAX", 50, raising=False)
    store = Store(tmp_path / "impact.sqlite")
    view = WebView(SITE, Client(), "web", store)
    topic = f"carebot/v1/{SITE}/robot-1/activity"
    with store._lock:  # the stalled disk: the writer takes the first update and waits for the store
        view.apply(topic, json.dumps(_activity_body(0)).encode())
        assert wait_for(view._writes.empty, 5)
        monkeypatch.setattr(view_module, "WRITE_BATCH_S", 600.0)  # from now a pause would last ten minutes
        for i in range(1, 201):
            view.apply(topic, json.dumps(_activity_body(i)).encode())
        assert view._writes.qsize() == 50
    assert wait_for(lambda: store.db.execute("SELECT count(*) FROM activity").fetchone()[0] == 51, 10)
    texts = [text for _, text in view.notices]
    assert sum("impact figures are not being written" in t for t in texts) == 1, texts
    assert wait_for(lambda: any("written again (150 updates were lost)" in t for _, t in view.notices), 5), texts
    view.close_store()


def test_the_server_s_end_on_a_stalled_impact_store_is_bounded_and_says_what_was_not_written(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """At the server's end the impact store's disk is stalled (another process holds its lock): close_store
    gives up after its timeout and says so, with how many updates were not written, and leaves the store open
    under the writer (closed under it, the close waited for sqlite's busy timeout and the writer's remaining
    updates were told as 'Cannot operate on a closed database'); if the disk comes back before the process
    ends, they are written."""
    import sqlite3

    from robot.staffweb.view import WebView

    class Client:
        on_message = on_connect = on_disconnect = None

    store = Store(tmp_path / "impact.sqlite")
    view = WebView(SITE, Client(), "web", store)
    other = sqlite3.connect(str(tmp_path / "impact.sqlite"), isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    for i in range(5):
        view.apply(f"carebot/v1/{SITE}/robot-1/activity", json.dumps(_activity_body(i)).encode())
    with caplog.at_level("ERROR", logger="robot.staffweb.view"):
        assert view.close_store(timeout=0.5) is False
    assert any("5 impact updates not written" in r.getMessage() for r in caplog.records), caplog.text
    other.execute("ROLLBACK")
    assert wait_for(lambda: not view._writer.is_alive(), 15)
    assert store.db.execute("SELECT count(*) FROM activity").fetchone()[0] == 5


def test_an_impact_writer_that_stopped_is_said_and_started_again_by_the_pump(tmp_path: Path) -> None:
    """The writer's body catches everything, but should it end all the same (a BaseException from a library),
    its queue would grow for good in silence: the pump, every half second, sees it gone, says so and starts
    another, and the updates waiting are written."""
    from robot.staffweb.view import WebView

    class Client:
        on_message = on_connect = on_disconnect = None

    store = Store(tmp_path / "impact.sqlite")
    view = WebView(SITE, Client(), "web", store)
    view._writes.put(None)  # the writer stops, as if it had died
    view._writer.join(5)
    assert not view._writer.is_alive()
    raise_alerts(view, 3)
    view.pump_waiting(0.01)
    assert view._writer.is_alive()
    assert any("impact writer had stopped" in text for _, text in view.notices)
    assert wait_for(lambda: store.db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 3, 10)


def test_a_state_dir_that_cannot_hold_the_impact_store_still_serves_the_alerts(site: Broker, tmp_path: Path) -> None:
    """The impact figures' file cannot be opened when the server starts (here its name is taken by a directory;
    a read-only or full disk fails alike): the alerts page is the help path and serves anyway, saying that the
    figures are not being kept, instead of a traceback and no page at all."""
    (tmp_path / "web" / "impact.sqlite").mkdir(parents=True)
    web = Server(site, tmp_path)
    try:
        assert any("impact figures are not being kept" in text for _, text in web.view.notices)
        cookie, _ = session(web)
        assert request(web, "GET", "/api/impact", Cookie=cookie).status == 200
        assert wait_for(lambda: web.view.client.is_connected(), 10)
    finally:
        web.stop()


def test_an_alert_closed_while_the_server_had_no_broker_link_leaves_the_page(site: Broker, tmp_path: Path) -> None:
    """The server's link to the broker drops (a proxy cut between them) while robot-2 resolves its help request
    and clears the alert's retained copy. When the link is back the alert must leave the page: its retained copy
    no longer comes, so only the resolve itself can say so, kept for the server by the broker meanwhile (before,
    the session ended with the link, the resolve was lost and the alert stayed open on every page for good)."""
    import types

    from .tcp_proxy import Link

    link = Link(site.port)
    web = Server(types.SimpleNamespace(port=link.port, ca=site.ca, password_file=site.password_file),  # type: ignore[arg-type]
                 tmp_path, STAFF2)  # the module's server holds STAFF's one session
    robot = Client(site, "robot-2")  # robot-1 is the module's running robot: one session an account
    body = help_alert("c")
    alert_id, now = body["alert_id"], body["ts"]
    topic = f"carebot/v1/{SITE}/robot-2/alert"
    try:
        assert wait_for(lambda: web.view.snapshot()["broker"]["up"], 10)
        assert robot.connect() == 0
        robot.client.publish(topic, json.dumps(body), qos=1).wait_for_publish(5)
        robot.client.publish(f"{topic}/{alert_id}", json.dumps(body), qos=1, retain=True).wait_for_publish(5)
        assert wait_for(lambda: alert_id in {a["alert_id"] for a in web.view.snapshot()["alerts"]}, 5)
        link.cut()
        assert wait_for(lambda: not web.view.snapshot()["broker"]["up"], 5)
        resolved = {**body, "event_id": "bd" * 16, "state": "resolved", "ts": now + 1, "seq": 2}
        robot.client.publish(topic, json.dumps(resolved), qos=1).wait_for_publish(5)
        robot.client.publish(f"{topic}/{alert_id}", b"", qos=1, retain=True).wait_for_publish(5)
        link.restore()
        assert wait_for(lambda: web.view.snapshot()["broker"]["up"], 15)
        assert wait_for(lambda: alert_id not in {a["alert_id"] for a in web.view.snapshot()["alerts"]}, 5)
        # Again, but the session is gone meanwhile (here another login with the account ends it; a broker that
        # lost its data, an expired session alike): the open alerts are taken again from the retained copies.
        done, other = ({**body, "alert_id": f"{x}" * 16, "event_id": f"{y}" * 16, "room": room, "seq": seq}
                       for x, y, room, seq in (("ad", "be", "kitchen", 3), ("ae", "bf", "garden", 4)))
        for a in (done, other):
            robot.client.publish(topic, json.dumps(a), qos=1).wait_for_publish(5)
            robot.client.publish(f"{topic}/{a['alert_id']}", json.dumps(a), qos=1, retain=True).wait_for_publish(5)
        assert wait_for(lambda: {a["room"] for a in web.view.snapshot()["alerts"]} == {"kitchen", "garden"}, 5)
        link.cut()
        assert wait_for(lambda: not web.view.snapshot()["broker"]["up"], 5)
        intruder = Client(site, STAFF2, client_id=STAFF2)
        assert intruder.connect() == 0
        intruder.client.disconnect()
        intruder.client.loop_stop()
        robot.client.publish(topic, json.dumps({**done, "event_id": "c0" * 16, "state": "resolved", "seq": 5}),
                             qos=1).wait_for_publish(5)
        robot.client.publish(f"{topic}/{done['alert_id']}", b"", qos=1, retain=True).wait_for_publish(5)
        link.restore()
        assert wait_for(lambda: [a["room"] for a in web.view.snapshot()["alerts"]] == ["garden"], 15)
    finally:
        for a in (alert_id, "ad" * 16, "ae" * 16):
            robot.client.publish(f"{topic}/{a}", b"", qos=1, retain=True)
        robot.client.disconnect()
        robot.client.loop_stop()
        web.stop()
        link.close()


def test_a_stalled_audit_trail_never_holds_up_an_alert(server: Server, site: Broker, tmp_path: Path) -> None:
    """The audit trail's disk stalls (here the trail is a FIFO nobody reads: opening it blocks, as a hung disk
    would) while a nurse logs in: the login waits for its audit line, the event loop that reads the broker must
    not, and an alert raised meanwhile still reaches the view."""
    import os

    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    audit, server.site.audit.path = server.site.audit.path, fifo
    logging_in = threading.Thread(target=session, args=(server,))
    body = help_alert("a", seq=2)
    with second_robot(site, server, body["alert_id"]) as robot:
        try:
            logging_in.start()
            time.sleep(1.0)  # the login has checked the password and is writing its audit line
            robot.client.publish(f"carebot/v1/{SITE}/robot-2/alert", json.dumps(body), qos=1).wait_for_publish(5)
            assert wait_for(lambda: body["alert_id"] in server.view.alerts, 5)
        finally:
            with open(fifo, "rb") as trail:  # the disk comes back: the login's line is written, the login ends
                logging_in.join(30)
                assert b'"action": "login"' in trail.read()
            server.site.audit.path = audit


def test_a_page_whose_stream_stalls_says_so_and_connects_again(browser: Any, server: Server,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's event stream goes silent without closing (the tablet's Wi-Fi gone, a proxy or NAT that dropped
    the connection: here a proxy holding every byte): the page must not go on saying "Live" while no alert can
    reach it, and it connects again by itself once the network is back. The server's keepalives are events the
    page hears (a comment is invisible to a script); 1 s here instead of 15."""
    from robot.staffweb import app

    from .tcp_proxy import Link

    monkeypatch.setattr(app, "KEEPALIVE_S", 1.0)
    link = Link(server.port)
    host = f"127.0.0.1:{link.port}"
    server.site.hosts.add(host)
    try:
        with page_of(browser) as page:
            log_in(page, server, url=f"http://{host}")
            page.wait_for_selector("#link.ok")
            link.stall()
            page.locator("#link.bad", has_text="Connection lost").wait_for(timeout=10_000)
            link.restore()
            page.locator("#link.ok", has_text="Live").wait_for(timeout=15_000)
    finally:
        server.site.hosts.discard(host)
        link.close()


def test_a_failing_broker_callback_is_logged_and_the_link_reads_on(server: Server, site: Broker,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A bug in what the view does with a message (here: taking activity raises) must not end the broker's
    reading in the event loop, nor pass silently: the log has it with its traceback, the page says it, and the
    next alert is shown."""
    def broken(robot: str, topic: str, payload: bytes) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(server.view, "_activity", broken)
    body = help_alert("b")
    alert_id = body["alert_id"]
    with second_robot(site, server, alert_id) as robot:
        robot.client.publish(f"carebot/v1/{SITE}/robot-2/activity", b"{}", qos=1).wait_for_publish(5)
        robot.client.publish(f"carebot/v1/{SITE}/robot-2/alert", json.dumps(body), qos=1).wait_for_publish(5)
        assert wait_for(lambda: alert_id in server.view.alerts, 5)
        failed = [r for r in caplog.records if "broker callback failed" in r.getMessage()]
        assert failed and failed[0].exc_info is not None, caplog.text
        assert any("KeyError" in text for _, text in server.view.notices)


def test_a_refused_login_at_the_broker_is_said_and_not_hammered(site: Broker, tmp_path: Path) -> None:
    """The server's broker password is wrong: the page says the broker refused the login (not "lost the broker
    (Protocol error)", the hang-up that follows each refusal), and the server tries again with a growing pause,
    not every second for ever (each try put two lines in Messages, pushing everything else out, and two in the
    log). The same pause keeps two servers on one account from taking the session from each other every second."""
    import types

    (tmp_path / "wrong").write_text("not the password\n")
    web = Server(types.SimpleNamespace(port=site.port, ca=site.ca, password_file=lambda account: tmp_path / "wrong"),
                 tmp_path, STAFF2)  # type: ignore[arg-type]
    try:
        assert wait_for(lambda: "refused" in web.view.link["why"], 5)
        time.sleep(4)
        assert "Not authorized" in web.view.snapshot()["broker"]["why"]
        tries = sum("refused the connection" in text for _, text in web.view.notices)
        assert 1 <= tries <= 3, list(web.view.notices)
    finally:
        web.stop()
