"""`carebot staff web`: the care staff's page, served by aiohttp, fed by the site's broker as a staff account.

Security, as an attacker on the home's network or a web page in the nurse's browser would try it:
- every page, the state, the event stream and every action need a session; sessions are random 256-bit tokens in
  an HttpOnly, SameSite=Strict cookie (Secure behind TLS), ending after `IDLE_S` without use or `MAX_AGE_S`;
- every state-changing request needs the session's CSRF token in a header and a same-origin Origin, and its body
  is refused unless it is JSON; the login form must come from this origin too;
- the Host header must be one this server answers to (a DNS-rebinding page cannot use it);
- wrong passwords cost Argon2 time and, from the fourth in a row, a growing wait (robot/staffweb/accounts.py);
  logins of one name or from one address take turns, so parallel guesses wait as long as serial ones;
- no value from MQTT is ever put into HTML by the server: pages are fixed shells, and the script writes every
  value with textContent; the Content-Security-Policy allows no inline script at all;
- each ack and resolve, and each login, is written to the audit trail with the staff account's name.
It listens on 127.0.0.1 unless told otherwise; docs/staff-web.md shows it behind a TLS reverse proxy.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import hmac
import logging
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from robot.errors import CareBotError
from robot.staff import CLOSED, TOKEN
from robot.staffweb.accounts import Accounts, AuditTrail
from robot.staffweb.impact import Store
from robot.staffweb.streams import KEEPALIVE_S, EventStreams
from robot.staffweb.view import WebView

log = logging.getLogger(__name__)

PAGES = Path(__file__).resolve().parent / "page"
COOKIE = "carebot_staff"
IDLE_S = 3600.0          # an hour without a request or an open page ends a session
MAX_AGE_S = 13 * 3600.0  # a shift and a handover at most
SESSIONS_PER_ACCOUNT = 16  # a nurse's phone, the station, a tablet...; a new login beyond ends the oldest
LOGINS_WAITING = 2  # logins of one name, or from one address, that may wait their turn; more are refused (429)
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",  # not no-referrer: with it Chromium sends `Origin: null` on the login POST
    # The three together: no window, frame or resource of another origin shares the pages' process (Spectre)
    "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin", "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
SHELLS = {"/": ("alerts", "alerts"), "/robots": ("robots", "robots"), "/impact": ("impact", "impact")}
SESSION: web.RequestKey[Any] = web.RequestKey("session", object)


@dataclass
class Session:
    account: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    created: float = field(default_factory=time.monotonic)
    used: float = field(default_factory=time.monotonic)


class StaffWeb:
    def __init__(self, view: WebView, accounts: Accounts, store: Store, audit: AuditTrail, *,
                 hosts: set[str], secure_cookie: bool) -> None:
        self.view, self.accounts, self.store, self.audit = view, accounts, store, audit
        self.hosts = hosts
        self.secure_cookie = secure_cookie
        self.sessions: dict[str, Session] = {}
        self.login_locks: dict[str, asyncio.Lock] = {}
        self.logins_waiting: collections.Counter[str] = collections.Counter()
        self.app = web.Application(middlewares=[self._guard], client_max_size=4096)
        r = self.app.router
        r.add_get("/login", self.login_page)
        r.add_post("/login", self.login)
        r.add_post("/logout", self.logout)
        for path in SHELLS:
            r.add_get(path, self.shell)
        r.add_get("/static/{name}", self.static)
        r.add_get("/favicon.ico", self.favicon)
        r.add_get("/api/state", self.state)
        r.add_get("/api/impact", self.impact)
        r.add_get("/impact.csv", self.impact_csv)
        r.add_get("/events", self.events)
        r.add_get("/api/streams", self.refused)
        r.add_post("/api/alerts/{robot}/{alert_id}/{action}", self.command)
        self.live = EventStreams(view, HEADERS)
        self._figures = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="staffweb-impact")  # see impact
        self.app.on_shutdown.append(self._close_streams)

    async def _close_streams(self, app: web.Application) -> None:
        """Shutting down: every event stream ends now (a page reconnects by itself), stalled impact queries too."""
        self.live.close()
        self._figures.shutdown(wait=False, cancel_futures=True)

    # -- the guard every request passes ---------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.host not in self.hosts:
            return self._plain(421, "this server does not answer to that host name")
        public = request.path in ("/login", "/static/app.js", "/static/style.css", "/favicon.ico")
        session = self._session(request)
        if not public and session is None:
            if request.method == "GET" and request.path in SHELLS:
                raise web.HTTPSeeOther("/login", headers=HEADERS)
            return self._plain(401, "log in first")
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin is None or origin not in {f"{request.scheme}://{h}" for h in self.hosts} | \
                    {f"https://{h}" for h in self.hosts}:
                return self._plain(403, "refused: not sent from this site's page")
            if request.path != "/login":
                token = request.headers.get("X-CSRF-Token", "")
                if session is None or not hmac.compare_digest(token, session.csrf):
                    return self._plain(403, "refused: the request carries no valid CSRF token")
        request[SESSION] = session
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # the login's redirect (it sets the cookie), a 404, a 405: the same rules
            exc.headers.update(HEADERS)
            raise
        response.headers.update(HEADERS)
        return response

    def _session(self, request: web.Request) -> Session | None:
        token = request.cookies.get(COOKIE, "")
        session = self.sessions.get(token) if token else None
        now = time.monotonic()
        if session is None:
            return None
        if now - session.used > IDLE_S or now - session.created > MAX_AGE_S:
            self.sessions.pop(token, None)
            return None
        session.used = now
        return session

    @staticmethod
    def _plain(status: int, text: str) -> web.Response:
        return web.Response(status=status, text=text + "\n", headers=HEADERS)

    # -- pages ----------------------------------------------------------------------------------------------------

    async def login_page(self, request: web.Request) -> web.Response:
        return web.Response(text=(PAGES / "login.html").read_text(encoding="utf-8"), content_type="text/html")

    def _client(self, request: web.Request) -> str:
        """The browser's address. Behind the reverse proxy every request comes from loopback: then the proxy's
        X-Forwarded-For names the browser (its last entry, the one the proxy added), so one guesser's failures
        slow that guesser, not every nurse's login."""
        peer = request.remote or "?"
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        if forwarded and peer in ("127.0.0.1", "::1"):
            return forwarded[:64]
        return peer

    def _turn(self, keys: tuple[str, ...]) -> list[asyncio.Lock] | None:
        """The locks that make logins of one account, and from one address, take turns (so guesses sent in
        parallel wait as long as guesses sent one after another); None if too many already wait for one."""
        if any(self.logins_waiting[k] > LOGINS_WAITING for k in keys):
            return None
        return [self.login_locks.setdefault(k, asyncio.Lock()) for k in keys]

    def _turn_over(self, keys: tuple[str, ...]) -> None:
        for k in keys:
            self.logins_waiting[k] -= 1
            if self.logins_waiting[k] <= 0:
                del self.logins_waiting[k]
                self.login_locks.pop(k, None)

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        name, password = str(form.get("name", ""))[:64], str(form.get("password", ""))[:256]
        address = self._client(request)
        keys = (f"u:{name}", f"a:{address}")  # always in this order: no two logins wait for each other
        locks = self._turn(keys)
        if locks is None:
            return self._login_page(429, "Too many logins at once for this name or from this place: wait a moment.")
        for k in keys:
            self.logins_waiting[k] += 1
        try:
            async with locks[0], locks[1]:
                await asyncio.sleep(self.accounts.delay(name, address))
                ok = await asyncio.get_running_loop().run_in_executor(None, self.accounts.check, name, password,
                                                                      address)
        except CareBotError as exc:  # a damaged users file: say so, rather than "wrong password" or a 500
            log.error("staff web: %s", exc)
            return self._login_page(503, "The accounts file cannot be read: ask the administrator.")
        finally:
            self._turn_over(keys)
        await asyncio.to_thread(self.audit.write, action="login", account=name if ok else "", ok=ok, address=address)
        if not ok:
            return self._login_page(401, "Wrong name or password.")
        self.sessions.pop(request.cookies.get(COOKIE, ""), None)  # a session the browser had before ends here
        self._forget_sessions(name)
        token = secrets.token_urlsafe(32)
        self.sessions[token] = Session(name)
        response = web.HTTPSeeOther("/")
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/",
                            secure=self.secure_cookie or request.headers.get("X-Forwarded-Proto") == "https")
        raise response

    def _forget_sessions(self, account: str) -> None:
        """Drop ended sessions (a closed browser never comes back to end its own) and the account's oldest beyond
        SESSIONS_PER_ACCOUNT: the server runs for months and every login would otherwise stay in memory."""
        now = time.monotonic()
        for token, s in list(self.sessions.items()):
            if now - s.used > IDLE_S or now - s.created > MAX_AGE_S:
                del self.sessions[token]
        mine = [token for token, s in self.sessions.items() if s.account == account]  # oldest first
        for token in mine[:max(0, len(mine) - SESSIONS_PER_ACCOUNT + 1)]:
            del self.sessions[token]

    @staticmethod
    def _login_page(status: int, error: str) -> web.Response:
        page = (PAGES / "login.html").read_text(encoding="utf-8").replace(
            "<!--error-->", f'<p class="error" role="alert">{error}</p>')  # fixed words, never from a request
        return web.Response(status=status, text=page, content_type="text/html")

    async def logout(self, request: web.Request) -> web.Response:
        self.sessions.pop(request.cookies.get(COOKIE, ""), None)
        response = web.json_response({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    async def shell(self, request: web.Request) -> web.Response:
        session: Session = request[SESSION]
        name, title = SHELLS[request.path]
        page = (PAGES / "shell.html").read_text(encoding="utf-8")
        page = page.replace("{{main}}", (PAGES / f"{name}.main.html").read_text(encoding="utf-8"))
        for other in SHELLS.values():
            page = page.replace(f"{{{{current:{other[0]}}}}}", ' aria-current="page"' if other[0] == name else "")
        # The CSRF token and the account name are the only values the server puts in a page; both are tokens
        # it made or checked (a-z, 0-9, -, _), so they need no escaping, and the account is not from MQTT.
        page = page.replace("{{page}}", name).replace("{{title}}", title).replace("{{keepalive}}", str(KEEPALIVE_S))
        page = page.replace("{{csrf}}", session.csrf).replace("{{account}}", session.account)
        return web.Response(text=page, content_type="text/html")

    async def favicon(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            return self._plain(404, "no such file")
        return web.Response(body=(PAGES / name).read_bytes(), content_type=STATIC[name])

    # -- data -----------------------------------------------------------------------------------------------------

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response(self.view.snapshot())

    # The impact figures' queries run in a thread of their own, off the event loop (which reads the broker) and
    # off the executor of logins and the audit trail (pages waiting on a stalled disk took its every thread: a
    # login waited 15 s). A store that cannot answer is said so, not a 500, a traceback and an empty page.
    async def impact(self, request: web.Request) -> web.Response:
        return await self._query(self.store.figures, lambda rows: web.json_response({"rows": rows}))

    async def impact_csv(self, request: web.Request) -> web.Response:
        return await self._query(self.store.csv, lambda text: web.Response(text=text, content_type="text/csv",
                                 headers={"Content-Disposition": 'attachment; filename="carebot-impact.csv"'}))

    async def _query(self, query: Callable[[], Any], answer: Callable[[Any], web.Response]) -> web.Response:
        try:
            return answer(await asyncio.get_running_loop().run_in_executor(self._figures, query))
        except sqlite3.Error as exc:
            return self._plain(503, f"the impact figures cannot be read now ({exc}): try again in a moment")

    async def events(self, request: web.Request) -> web.StreamResponse:
        account = request[SESSION].account
        page = request.query.get("page", "")  # the page's own id, kept across its reconnects
        if (refused := self.live.refusal(account, page)) is not None:
            return self._plain(503, refused)
        return await self.live.serve(request, account, lambda r: self._session(r) is not None, page)

    async def refused(self, request: web.Request) -> web.Response:
        """Why this account's page would get no stream now, or null: a page asks when its stream was refused (an
        EventSource cannot read the answer's words) to say so, rather than "Connection lost"."""
        return web.json_response({"refused": self.live.full(request[SESSION].account)})

    async def command(self, request: web.Request) -> web.Response:
        session: Session = request[SESSION]
        robot, alert_id, action = (request.match_info[k] for k in ("robot", "alert_id", "action"))
        if request.content_type != "application/json":
            return self._plain(415, "refused: send JSON")
        if action not in ("ack", "resolve") or not re.fullmatch(TOKEN, robot) or \
                not re.fullmatch(r"[0-9a-f]{32}", alert_id):
            return self._plain(404, "no such alert or action")
        with self.view.lock:
            alert = self.view.alerts.get(alert_id)
            if alert is None or alert.robot != robot:
                return self._plain(404, "no such alert")
            if alert.state in CLOSED:
                return self._plain(409, "that alert is already closed")
            if action == "ack" and alert.state == "acknowledged":  # another nurse was first: nothing to send
                return self._plain(409, "that alert is already acknowledged")
            if self.view.pending.get(alert_id, ("", 0.0))[0] == action:  # a double click, or two nurses at once
                return self._plain(409, f"that {action} was sent already: waiting for the robot")
            if not self.view.link["up"]:  # it would wait in this server, for who knows how long: say so now
                return self._plain(503, "this server has no link to the broker: go to the room")
            self.view.station = session.account  # the command's `by` names the staff member who sent it
            self.view.send(robot, action, alert_id=alert_id)
            self.view.pending[alert_id] = (action, time.monotonic())
            self.view.touch(alert_id)  # every page shows it sent, at once
        await asyncio.to_thread(self.audit.write, action=action, account=session.account, robot=robot,
                                alert_id=alert_id)
        return web.json_response({"sent": action})
