"""Who may press the screen's buttons, as an attacker would try it (robot/screen_server.py).

A real server on a loopback port, spoken to with raw HTTP as another process on the robot, a
page on another site, or a DNS-rebinding page would speak: every forged press is refused and
none reaches the robot. The one genuine press (the page's own, with the key) gets through.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from robot.config import Config
from robot.config_load import load_config
from robot.core.screen import screen_key
from robot.errors import ConfigError
from robot.runtime import Runtime
from robot.screen_server import BACKLOG, MAX_CONNECTIONS, ScreenServer
from robot.screen_texts import load_texts

from .broker import free_port
from .browser import page_of
from .conftest import ROOT, wait_for

KEY = "k" * 43


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ScreenServer, list[str]]]:
    pressed: list[str] = []
    s = ScreenServer(bind="127.0.0.1", port=free_port(), key=KEY, hello={"texts": {}}, presses_per_minute=1000,
                     on_press=pressed.append)
    s.start()
    yield s, pressed
    s.stop()


def request(s: ScreenServer, method: str, path: str, body: bytes | None = None, **headers: str
            ) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request; headers given as Python names (X_Screen_Key) become header names."""
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
    sent = {k.replace("_", "-"): v for k, v in headers.items()}
    sent.setdefault("Host", f"127.0.0.1:{s.port}")
    conn.request(method, path, body=body, headers=sent)
    r = conn.getresponse()
    data = r.read() if r.status != 200 or not path.startswith("/events") else r.read1(4096)
    conn.close()
    return r.status, dict(r.getheaders()), data


def press(s: ScreenServer, button: str = "call_staff", **override: str) -> int:
    """A press as the page sends it, with some headers changed or removed (value '')."""
    headers = {"Origin": f"http://127.0.0.1:{s.port}", "Content_Type": "application/json", "X_Screen_Key": KEY,
               "Sec_Fetch_Site": "same-origin", **override}
    body = json.dumps({"button": button}).encode()
    return request(s, "POST", "/press", body, **{k: v for k, v in headers.items() if v})[0]


def test_the_pages_own_press_gets_through(server: tuple[ScreenServer, list[str]]) -> None:
    s, pressed = server
    before = len(pressed)
    assert press(s, "say_again") == 202
    assert pressed[before:] == ["say_again"]


@pytest.mark.parametrize("forged, status", [
    ({"X_Screen_Key": ""}, 403),  # another process on the robot, without the key file
    ({"X_Screen_Key": "k" * 42 + "x"}, 403),  # a guessed key
    ({"Origin": "http://evil.example"}, 403),  # a page on another site, in the kiosk's browser
    ({"Origin": ""}, 403),  # no origin: not from a page at all
    ({"Sec_Fetch_Site": "cross-site"}, 403),
    ({"Host": "evil.example:80"}, 421),  # DNS rebinding: another name that resolves to 127.0.0.1
    ({"Content_Type": "text/plain"}, 415),  # what a cross-site form or a no-preflight fetch can send
])
def test_forged_presses_are_refused_and_reach_nobody(server: tuple[ScreenServer, list[str]],
                                                      forged: dict[str, str], status: int) -> None:
    s, pressed = server
    before = len(pressed)
    assert press(s, **forged) == status
    assert pressed[before:] == []


def test_unknown_buttons_and_big_bodies_are_refused(server: tuple[ScreenServer, list[str]]) -> None:
    s, pressed = server
    before = len(pressed)
    assert press(s, "open_door") == 400
    big = json.dumps({"button": "call_staff", "pad": "x" * 1000}).encode()
    status, _, _ = request(s, "POST", "/press", big, Origin=f"http://127.0.0.1:{s.port}",
                           Content_Type="application/json", X_Screen_Key=KEY)
    assert status in (400, 413)
    assert pressed[before:] == []


def test_the_event_stream_needs_the_key_and_every_answer_forbids_framing(
        server: tuple[ScreenServer, list[str]]) -> None:
    s, _ = server
    assert request(s, "GET", "/events")[0] == 403
    assert request(s, "GET", "/events?key=" + "x" * 43)[0] == 403
    status, headers, body = request(s, "GET", "/events?key=" + KEY)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream") and b"event: hello" in body
    status, headers, body = request(s, "GET", "/")
    assert status == 200 and KEY.encode() not in body  # the page itself carries no key
    assert headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert request(s, "GET", "/", Host="attacker.example:8090")[0] == 421


def test_a_flood_of_presses_is_cut_off() -> None:
    pressed: list[str] = []
    s = ScreenServer(bind="127.0.0.1", port=free_port(), key=KEY, hello={}, presses_per_minute=5,
                     on_press=pressed.append)
    s.start()
    try:
        codes = [press(s, "slower") for _ in range(8)]
        # a resident who tapped Slower again and again (or a stuck button) can still call staff at once
        help_code = press(s, "call_staff")
    finally:
        s.stop()
    assert codes == [202] * 5 + [429] * 3 and help_code == 202 and pressed == ["slower"] * 5 + ["call_staff"]


def test_the_key_file_is_for_the_robot_and_the_kiosk_group_only_and_outlives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "run" / "screen.key"
    old = os.umask(0o077)  # the service's umask
    try:
        key = screen_key(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and len(key) >= 32
    assert screen_key(path) == key  # a restarted robot keeps it: an open kiosk page keeps working
    path.write_text("short\n")
    assert screen_key(path) != "short"  # a key too short to be safe is replaced
    known = "s" * 43
    path.write_text(known + "\n")
    path.chmod(0o644)  # left readable by every user on the robot (an old install, a careless copy)
    assert screen_key(path) != known and stat.S_IMODE(path.stat().st_mode) == 0o640


def test_the_screen_binds_to_loopback_only(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[screen]\nenabled = true\nbind = "0.0.0.0"\nfont_px = 20\n')
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    text = str(err.value)
    assert "screen.bind" in text and "'127.0.0.1'" in text and "screen.font_px" in text


def test_a_stalled_browser_does_not_hold_up_another(server: tuple[ScreenServer, list[str]]) -> None:
    """A client that opens the stream and never reads: the page's stream still gets every new view."""
    import socket

    s, _ = server
    stalled = socket.create_connection(("127.0.0.1", s.port))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    stalled.sendall(f"GET /events?key={KEY} HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\n\r\n".encode())
    try:
        for i in range(300):  # far more than its buffers hold
            s.show({"caption": f"sentence {i} " + "x" * 400, "previous": "", "mode": "idle"})
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
        conn.request("GET", "/events?key=" + KEY, headers={"Host": f"127.0.0.1:{s.port}"})
        r = conn.getresponse()
        seen = b""
        while b"sentence 299" not in seen:  # bounded by the connection's 5 s timeout
            seen += r.read1(65536)
        conn.close()
    finally:
        stalled.close()


def test_sockets_held_half_open_cannot_shut_the_kiosk_out(server: tuple[ScreenServer, list[str]]) -> None:
    """Another local process opens hundreds of connections and never finishes a request (each costs the screen's
    process a file descriptor: a thousand would leave the kiosk unable to connect). The server keeps a bounded
    number, the kiosk's keyed stream among them, and a press still gets through."""
    import socket

    s, pressed = server
    stream = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
    stream.request("GET", "/events?key=" + KEY, headers={"Host": f"127.0.0.1:{s.port}"})
    live = stream.getresponse()
    assert b"event: hello" in live.read1(65536)
    hostile = []
    try:
        for _ in range(2 * (MAX_CONNECTIONS + BACKLOG)):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            c.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\n".encode())  # and never the blank line
            hostile.append(c)
        held = lambda: len([h for h in s.connections.server.connections if h.transport])  # noqa: E731
        assert wait_for(lambda: held() <= MAX_CONNECTIONS + BACKLOG, 5), held()
        before = len(pressed)
        assert press(s, "call_staff") == 202 and pressed[before:] == ["call_staff"]
        s.show({"caption": "still here", "previous": "", "mode": "idle"})
        seen = b""
        while b"still here" not in seen:  # the kiosk's stream was kept (bounded by its 5 s timeout)
            seen += live.read1(65536)
    finally:
        for c in hostile:
            c.close()
        stream.close()


def test_the_kiosk_launcher_will_not_put_the_key_in_another_users_directory(tmp_path: Path) -> None:
    """With no XDG_RUNTIME_DIR the launcher falls back to a directory under /tmp, which another user could make
    first: it must refuse to write the key's launcher file (or the browser profile) into it."""
    import subprocess

    from .conftest import ROOT

    if os.geteuid() != 0:
        pytest.skip("needs root to hand a directory to another user")
    key_file, theirs = tmp_path / "screen.key", tmp_path / "theirs"
    key_file.write_text(KEY + "\n")
    theirs.mkdir(mode=0o777)
    os.chown(theirs, 65534, 65534)  # nobody's
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "chromium").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "chromium").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "XDG_RUNTIME_DIR": str(theirs), "CAREBOT_SCREEN_KEY_FILE": str(key_file)}
    proc = subprocess.run([str(ROOT / "scripts" / "screen-kiosk.sh")], env=env, capture_output=True, text=True,
                          timeout=20)
    assert proc.returncode != 0 and "not this user's own" in proc.stderr
    assert list(theirs.iterdir()) == []


def test_the_kiosk_launcher_takes_the_sessions_wayland_socket_and_else_x11(tmp_path: Path) -> None:
    """The unit names no display: the launcher takes labwc's wayland-0 or wayfire's wayland-1 when the session
    has made it, and asks Chromium for Wayland (its own guess needs XDG_SESSION_TYPE, which a service lacks:
    without the flag the kiosk tried X11 under weston and restarted every 3 s, docs/screen.md); else X11.
    --wait-for-display (run before the sandbox is set up) returns as soon as the socket is there."""
    import socket
    import subprocess

    from .conftest import ROOT

    key_file, bin_dir, run, session = tmp_path / "screen.key", tmp_path / "bin", tmp_path / "run", tmp_path / "user"
    key_file.write_text(KEY + "\n")
    bin_dir.mkdir()
    session.mkdir()
    (bin_dir / "chromium").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_FILE"\nenv > "$ARGS_FILE.env"\n')
    (bin_dir / "chromium").chmod(0o755)
    args = tmp_path / "args"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "RUNTIME_DIRECTORY": str(run), "ARGS_FILE": str(args),
           "CAREBOT_SCREEN_KEY_FILE": str(key_file), "XDG_RUNTIME_DIR": str(session), "DISPLAY": ":97"}
    launcher = str(ROOT / "scripts" / "screen-kiosk.sh")
    subprocess.run([launcher], env=env, check=True, timeout=20)  # no Wayland socket: X11
    given = args.read_text().split("\n")
    assert "--kiosk" in given and "--ozone-platform=wayland" not in given, given
    assert "DISPLAY=:97" in (tmp_path / "args.env").read_text().split("\n")
    wayland = socket.socket(socket.AF_UNIX)
    wayland.bind(str(session / "wayland-1"))  # wayfire's name
    robot = socket.create_server(("127.0.0.1", 0))  # the robot's screen server: the key file's owner listens
    env["CAREBOT_SCREEN_URL"] = f"http://127.0.0.1:{robot.getsockname()[1]}/"
    try:
        assert subprocess.run([launcher, "--wait-for-display"], env=env, timeout=5).returncode == 0
        subprocess.run([launcher], env=env, check=True, timeout=20)
    finally:
        wayland.close()
        robot.close()
    given = args.read_text().split("\n")
    assert "--kiosk" in given and "--ozone-platform=wayland" in given, given
    assert f"WAYLAND_DISPLAY={session}/wayland-1" in (tmp_path / "args.env").read_text().split("\n")


def test_the_kiosk_opens_the_page_only_on_the_robots_own_port_not_another_users(tmp_path: Path) -> None:
    """Before the unit's sandbox is set up (as root, which sees every socket's owner), --wait-for-display also
    waits until the key file's owner listens on the page's address and port: a process of another user that
    holds the port (taken while the robot was down) would be handed the page's address, key and all."""
    import socket
    import subprocess

    from .conftest import ROOT

    if os.geteuid() != 0:
        pytest.skip("needs root to listen as another user")
    key_file, session = tmp_path / "screen.key", tmp_path / "user"
    key_file.write_text(KEY + "\n")  # root's, as the robot's key file is the robot user's
    session.mkdir()
    display = socket.socket(socket.AF_UNIX)
    display.bind(str(session / "wayland-0"))
    port = free_port()
    squatter = subprocess.Popen(  # nobody's process on the screen's port
        ["/usr/bin/python3", "-c", f"import socket, time; s = socket.create_server(('127.0.0.1', {port})); "
                               "print('up', flush=True); time.sleep(60)"],
        user=65534, group=65534, extra_groups=[], stdout=subprocess.PIPE, text=True)
    env = {"PATH": "/usr/bin:/bin", "CAREBOT_SCREEN_KEY_FILE": str(key_file), "XDG_RUNTIME_DIR": str(session),
           "CAREBOT_SCREEN_URL": f"http://127.0.0.1:{port}/"}
    waiting = None
    try:
        assert squatter.stdout is not None and squatter.stdout.readline() == "up\n"
        waiting = subprocess.Popen([str(ROOT / "scripts" / "screen-kiosk.sh"), "--wait-for-display"], env=env)
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(1.5)  # the display is there, the port is held, but not by the robot's user
        squatter.kill()
        squatter.wait()
        with socket.create_server(("127.0.0.1", port)):  # the robot has its port back
            assert waiting.wait(5) == 0
    finally:
        squatter.kill()
        if waiting is not None:
            waiting.kill()
        display.close()


class _Squatter(http.server.BaseHTTPRequestHandler):
    """Another local process that took the screen's port while the robot was down: it records what the
    kiosk's page sends it, claims to know the key, and shows the resident a caption of its own."""

    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.seen.append(f"{self.path} {self.headers}")
        body = (json.dumps({"proof": "0" * 64}) if self.path.startswith("/proof") else
                'event: view\ndata: {"caption": "Staff are on their way.", "mode": "listening", "said": 99}\n\n')
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if self.path.startswith("/proof") else "text/event-stream")
        self.end_headers()
        self.wfile.write(body.encode())

    def do_POST(self) -> None:  # noqa: N802
        self.seen.append(f"{self.path} {self.headers}")
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_process_that_takes_the_port_while_the_robot_is_down_learns_no_key(browser: Any) -> None:
    """The page proves the server knows the key (an HMAC of the page's own random challenge) before it sends
    the key, on every connection and press: a process that took the port while the robot restarted was sent
    the key by the page's automatic reconnect and by Call staff, could show the resident captions of its own
    ("Staff are on their way") and swallowed the press. The page now says it has lost the robot, and finds the
    robot again when it is back on its port."""
    hello = {"texts": load_texts(ROOT / "dialogs", "en"), "language": "en", "font_px": 56}
    port = free_port()
    s = ScreenServer(bind="127.0.0.1", port=port, key=KEY, hello=hello, presses_per_minute=100, on_press=print)
    s.start()
    offline = "document.body.classList.contains('offline')"
    with page_of(browser, 800, 480) as page:
        page.goto(f"http://127.0.0.1:{port}/#key={KEY}")
        assert wait_for(lambda: page.locator("#caption").text_content() == hello["texts"]["captions"]["none"], 5)
        s.stop()
        squatter = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Squatter)
        threading.Thread(target=squatter.serve_forever, daemon=True).start()
        try:
            assert wait_for(lambda: page.evaluate(offline), 6, 0.05)
            page.click("#call_staff")
            assert wait_for(lambda: len(_Squatter.seen) >= 2, 5, 0.05)  # the page has tried the port again
            page.wait_for_timeout(300)
            caption = page.locator("#caption").text_content()
        finally:
            squatter.shutdown()
            squatter.server_close()
        assert not [r for r in _Squatter.seen if KEY in r] and "Staff are on their way" not in (caption or "")
        pressed: list[str] = []
        back = ScreenServer(bind="127.0.0.1", port=port, key=KEY, hello=hello, presses_per_minute=100,
                            on_press=pressed.append)
        back.start()
        try:
            assert wait_for(lambda: not page.evaluate(offline), 10, 0.05)
            page.click("#call_staff")
            assert wait_for(lambda: pressed == ["call_staff"], 5, 0.05)
        finally:
            back.stop()


def test_a_key_file_that_cannot_be_written_leaves_the_robot_running(config: Config, tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A full /run (the key file's tmpfs, shared with the whole system) or a key_file that cannot be a file:
    the robot failed to start at all (an OSError traceback), so no help request could reach staff because of an
    accessory. It now starts, and the log says why the kiosk cannot open the page."""
    cfg = config.model_copy(update={"screen": config.screen.model_copy(update={
        "enabled": True, "port": free_port(), "key_file": Path("/dev/null/screen.key")})})
    rt = Runtime(cfg, simulate=True)
    try:
        rt.start()
        assert wait_for(lambda: rt.behaviour.state == "idle", 10)
    finally:
        rt.stop()
    assert "cannot write the key file /dev/null/screen.key" in caplog.text
