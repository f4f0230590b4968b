"""What the two event-stream servers share about a stream's connection: the resident's screen
(robot/screen_server.py) and the staff page (robot/staffweb/streams.py). Both hold a page's stream open for as
long as the page lives, so both must know at once when it went, and let go of one that went or takes nothing."""

from __future__ import annotations

from aiohttp import web


def gone(request: web.Request) -> bool:
    """Whether the request's connection has closed (aiohttp learns it at once; the handler, not till it writes)."""
    return request.transport is None or request.transport.is_closing()


def let_go(request: web.Request) -> None:
    """End the connection of a stream whose page went or takes nothing, with what is buffered for it. Not close():
    that waits to deliver what is buffered to a page that takes nothing, holding the socket and its buffered
    events (megabytes of whole states on a busy site) for as long as the page stalls, counted nowhere."""
    if request.transport is not None:
        request.transport.abort()
