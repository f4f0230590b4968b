"""sd_notify over $NOTIFY_SOCKET, when systemd gave us one; a no-op otherwise."""

from __future__ import annotations

import os
import socket


class Watchdog:
    """Tells systemd we are ready, alive or stopping (READY=1, WATCHDOG=1, STOPPING=1)."""

    def __init__(self, address: str | None = None) -> None:
        addr = os.environ.get("NOTIFY_SOCKET", "") if address is None else address
        self.sock: socket.socket | None = None
        self.addr = ""
        if addr:
            self.addr = "\0" + addr[1:] if addr.startswith("@") else addr
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.setblocking(False)

    def notify(self, message: str) -> None:
        """Send one notification; never blocks, never raises."""
        if self.sock is None:
            return
        try:
            self.sock.sendto(message.encode(), self.addr)
        except OSError:
            pass
