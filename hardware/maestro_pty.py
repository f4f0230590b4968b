"""The virtual Maestro on a wire: a pseudo-terminal the real pyserial driver opens, with faults.

`PtyMaestro` puts a `VirtualMaestro` (hardware.maestro_sim) on a pseudo-terminal, behind a stable
symlink (like /dev/serial/by-id/...), and injects faults: unplug and replug, a board reset, garbage
on the line, reply latency, a mute board (it takes every command and never answers) and error bits.
`SimProcess` serves one from its own process, like a board outside the computer.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
import tty
from pathlib import Path

from hardware.maestro_sim import VirtualMaestro

log = logging.getLogger(__name__)


class PtyMaestro:
    """A VirtualMaestro served on a pseudo-terminal, with fault injection."""

    def __init__(self, board: VirtualMaestro, link: str | os.PathLike[str] | None = None,
                 update_hz: float = 200.0) -> None:
        self.board = board
        self.link = Path(link) if link else None
        self.update_period = 1.0 / update_hz
        self.latency_s = 0.0
        self.mute = False  # a board that takes every command and never answers
        self._master: int | None = None
        self._slave: int | None = None
        self._slave_name = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.bytes_in = 0
        self.plugged = False

    @property
    def port(self) -> str:
        """The path a driver should open: the stable link if there is one."""
        return str(self.link) if self.link else self._slave_name

    def start(self) -> PtyMaestro:
        """Power the board on, plug it in and start serving."""
        self.board.power_on()
        self._plug()
        self._thread = threading.Thread(target=self._serve, name="maestro-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and unplug."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self.unplug()

    def __enter__(self) -> PtyMaestro:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- fault injection ------------------------------------------------------------------------

    def unplug(self) -> None:
        """Pull the USB cable: the driver's next read or write fails."""
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None
            if self.link is not None and self.link.is_symlink():
                try:
                    self.link.unlink()
                except OSError as exc:  # a read-only card: the link points at nothing now, and is replaced next time
                    log.warning("cannot remove the simulated board's link %s: %s", self.link, exc)
            self.plugged = False

    def replug(self) -> None:
        """Plug the cable back in (a new pty behind the same stable link)."""
        with self._lock:
            if self._master is None:
                self._plug_locked()

    def reset(self) -> None:
        """A board reset: re-enumerates on USB (unplug, replug) and starts from power-on."""
        self.unplug()
        self.board.power_on()
        self.replug()

    def inject_garbage(self, data: bytes) -> None:
        """Send bytes the driver did not ask for."""
        with self._lock:
            if self._master is not None:
                os.write(self._master, data)

    def inject_errors(self, bits: int) -> None:
        """Set bits in the board's error register."""
        self.board.errors |= bits

    # -- serving --------------------------------------------------------------------------------

    def _plug(self) -> None:
        with self._lock:
            self._plug_locked()

    def _plug_locked(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        tty.setraw(master)
        self._master, self._slave = master, slave
        self._slave_name = os.ttyname(slave)
        if self.link is not None:
            self.link.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.link.with_name(self.link.name + ".tmp")
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            tmp.symlink_to(self._slave_name)
            os.replace(tmp, self.link)
        self.plugged = True

    def _serve(self) -> None:
        next_update = time.monotonic()
        while not self._stop.is_set():
            master = self._master
            timeout = max(0.0, next_update - time.monotonic())
            if master is None:
                time.sleep(min(timeout, 0.01) or 0.001)
            else:
                try:
                    ready, _, _ = select.select([master], [], [], timeout)
                except (OSError, ValueError):
                    ready = []
                if ready:
                    self._read(master)
            now = time.monotonic()
            if now >= next_update:
                self.board.update(now)
                next_update = now + self.update_period

    def _read(self, master: int) -> None:
        try:
            data = os.read(master, 4096)
        except OSError:
            return  # unplugged under us, or no client: nothing to read
        self.bytes_in += len(data)
        reply = self.board.feed(data)
        if reply and not self.mute:
            if self.latency_s:
                time.sleep(self.latency_s)
            with self._lock:
                if self._master == master:
                    try:
                        os.write(master, reply)
                    except OSError:
                        pass


def _serve_child(conn: object, serial_timeout_s: float) -> None:
    board = VirtualMaestro(serial_timeout_s=serial_timeout_s)
    with PtyMaestro(board) as sim:
        conn.send(sim.port)  # type: ignore[attr-defined]
        conn.recv()  # type: ignore[attr-defined]  # any message, or EOF, stops the board


class SimProcess:
    """A virtual Maestro served from its own process, like a board outside the computer.

    Benchmarks use it so that the simulator does not share the measured process's GIL.
    """

    def __init__(self, serial_timeout_s: float = 0.0) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_child, args=(child, serial_timeout_s), daemon=True)
        self.port = ""

    def __enter__(self) -> SimProcess:
        self._proc.start()
        if not self._conn.poll(20):
            self._proc.kill()
            raise RuntimeError("the simulator process did not start")
        self.port = self._conn.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._conn.send("stop")
        except OSError:
            pass
        self._proc.join(3)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(1)
