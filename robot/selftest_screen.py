"""`carebot selftest`'s check of the resident's screen: its words, its page and event stream, its kiosk browser."""

from __future__ import annotations

import http.client
import shutil

from robot.selftest_base import Context, Fail, Skip, Warn, config_of


def check_screen(ctx: Context) -> str:
    """Serve the page on the configured port for a moment, as the screen worker does, and read it back."""
    from robot.core.screen import screen_worker
    from robot.dialogs import DialogError
    from robot.screen_server import ScreenServer

    cfg = config_of(ctx)
    if not cfg.screen.enabled:
        raise Skip("[screen] enabled is false: no resident's screen")
    try:
        o = screen_worker(cfg).options  # the pack's screen words, and the key file (made if absent)
    except DialogError as exc:
        raise Fail(f"the screen's words: {exc.problems[0]}. Run: carebot dialogs check") from None
    except OSError as exc:
        raise Fail(f"cannot write the screen key file: {exc}. Its folder must be writable by the robot's user "
                   "(the systemd unit's RuntimeDirectory makes /run/carebot)") from None
    where = f"{o['bind']}:{o['port']}"
    server = ScreenServer(bind=o["bind"], port=o["port"], key=o["key"], hello=o["hello"],
                          presses_per_minute=o["presses_per_minute"], on_press=lambda button: None)
    try:
        server.start()
    except OSError as exc:
        raise Fail(f"cannot serve the screen on {where}: {exc.strerror or exc}. Is the robot running (stop it "
                   "first), or another program on that port? Change [screen] port") from None
    try:
        page = _get(o["bind"], o["port"], "/")
        events = _get(o["bind"], o["port"], f"/events?key={o['key']}", first_line=True)
    finally:
        server.stop()
    if page != 200 or events != 200:
        raise Fail(f"the screen on {where} answered {page} for its page and {events} for its event stream")
    text = f"the page and its event stream answer on {where} ({cfg.robot.language}, captions {cfg.screen.font_px} px)"
    if shutil.which("chromium") is None and shutil.which("chromium-browser") is None:
        raise Warn(text + "; no chromium for the kiosk: apt-get install chromium")
    return text


def _get(bind: str, port: int, path: str, first_line: bool = False) -> int:
    host = f"[{bind}]" if ":" in bind else bind
    conn = http.client.HTTPConnection(bind, port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": f"{host}:{port}"})
        r = conn.getresponse()
        if first_line:
            r.read1(256)  # the stream never ends: its first event shows it works
        else:
            r.read()
        return r.status
    finally:
        conn.close()
