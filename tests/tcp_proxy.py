"""A TCP proxy on loopback that a test can cut, stall and restore: a home's internet link, between its bridge and
the centre. Cutting closes every connection through it and refuses new ones until it is restored; stalling holds
every byte in both directions, the connections left open (a half-open link: Wi-Fi gone, a NAT that forgot it);
holding replies holds only what the target sends back (it gets every message; its receipts never arrive)."""

from __future__ import annotations

import socket
import threading


class Link:
    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._server.listen(16)
        self._up = threading.Event()
        self._up.set()
        self._flowing = threading.Event()
        self._flowing.set()
        self._replies = threading.Event()
        self._replies.set()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, name="link-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._server.accept()
            except OSError:
                continue  # (a connection reset before it was accepted; closing the server ends the loop)
            if not self._up.is_set():
                conn.close()  # the link is down: the bridge's connect fails, and it retries
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)  # an idle bridge is not a dead one
            except OSError:
                conn.close()
                continue
            with self._lock:
                self._open += [conn, upstream]
            for a, b, back in ((conn, upstream, False), (upstream, conn, True)):
                threading.Thread(target=self._pipe, args=(a, b, back), name="link-pipe", daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, back: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                while self._up.is_set() and not (self._flowing.wait(0.1) and (not back or self._replies.wait(0.1))):
                    pass  # stalled: the bytes wait here, the connection stays open
                if not data or not self._up.is_set():
                    break
                dst.sendall(data)
        except OSError:
            pass
        _close(src, dst)

    def cut(self) -> None:
        self._up.clear()
        with self._lock:
            conns, self._open = self._open, []
        _close(*conns)

    def stall(self) -> None:
        self._flowing.clear()

    def hold_replies(self) -> None:
        self._replies.clear()

    def restore(self) -> None:
        self._up.set()
        self._flowing.set()
        self._replies.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._server.close()


def _close(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
