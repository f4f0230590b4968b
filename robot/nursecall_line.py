"""The paging line kept: one step at a time, send the calls owed, poll, watch, and open the port again.

Shared by the gateway (`carebot nursecall`) and the robot's own ESPA output: `PagingLine.step` is one turn
of the loop that owns the serial line. A call goes out until the paging system ACKs it, within the retries;
a call that fails is tried again every `retry_after_s`, and the other calls owed go out meanwhile (one the
paging system always refuses must not hold back every other). A port that fails (an adapter pulled out) is
closed and opened again with backoff (1 s doubling to 30 s), the owed calls kept. The line is at fault while a
call owed has failed, the port is closed, or the paging system has said nothing for three polls and a
time-out; each change of that is reported once through `on_fault`.
"""

from __future__ import annotations

import logging
import termios
import time
from collections.abc import Callable

import serial

from hardware import espa
from robot.config_nursecall import NursecallSection
from robot.nursecall import Pager, PagingCall

log = logging.getLogger(__name__)
PORT_ERRORS = (serial.SerialException, OSError, termios.error)


def link_settings(cfg: NursecallSection) -> espa.LinkSettings:
    """The link's roles, addresses and timers as configured, with a character's time on the wire."""
    bits, parity, stop = int(cfg.framing[0]), cfg.framing[1], int(cfg.framing[2])
    return espa.LinkSettings(role=cfg.role, own=cfg.own_address, peer=cfg.paging_address,
                             response_timeout_s=cfg.response_timeout_s, retries=cfg.retries,
                             poll_interval_s=cfg.poll_interval_s,
                             char_s=(1 + bits + (parity != "N") + stop) / cfg.baud)  # start, data, parity, stop


def open_line(cfg: NursecallSection) -> espa.Link:
    """The serial port and the link, as configured (the port is opened here, never at import)."""
    bits, parity, stop = int(cfg.framing[0]), cfg.framing[1], int(cfg.framing[2])
    port = serial.Serial(cfg.port, cfg.baud, bytesize=bits, parity=parity, stopbits=stop, timeout=0.02,
                         write_timeout=2.0)
    return espa.Link(port, link_settings(cfg))


def worst_send_s(cfg: NursecallSection) -> float:
    """The longest one step can take: every attempt's selection and block unanswered (and, as a slave, a
    poll awaited before each), with the block's time on the wire (at most 128 characters of 12 bits)."""
    wire_s = 128 * 12 / cfg.baud
    return (cfg.retries + 1) * (2 * cfg.response_timeout_s + cfg.poll_interval_s + wire_s) + 1.0


class PagingLine:
    """Owns the serial link to the paging system, for one thread."""

    def __init__(self, cfg: NursecallSection, pager: Pager, open_link: Callable[[], espa.Link],
                 on_fault: Callable[[bool], None]) -> None:
        self.cfg = cfg
        self.pager = pager
        self.open_link = open_link
        self.on_fault = on_fault
        self.link: espa.Link | None = None
        self.sent = 0
        self.failures = 0
        self.faulted: bool | None = None  # as last reported
        self.silent = False
        self._next_open = self._next_poll = 0.0
        self._failing: dict[str, float] = {}  # alert -> when its call, which failed, may be tried again
        self._backoff = 1.0

    def step(self, idle: Callable[[float], None]) -> None:
        """One turn: open the port if due, send the call owed or keep the line, watch it. `idle(s)` waits
        up to s seconds for new work when there is nothing to do now."""
        try:
            self._turn(idle)
        except PORT_ERRORS as exc:
            log.error("nursecall: the line %s failed or cannot be opened (%s); trying again in %.0f s: check "
                      "[nursecall] port and the adapter", self.cfg.port, exc,
                      max(0.0, self._next_open - time.monotonic()))
            self.close()
        self._watch()

    def _turn(self, idle: Callable[[float], None]) -> None:
        now = time.monotonic()
        if self.link is None and now >= self._next_open:
            self._next_open, self._backoff = now + self._backoff, min(self._backoff * 2, 30.0)
            self.link = self.open_link()
            self._backoff = 1.0
            log.info("nursecall: the line %s is open", self.cfg.port)
        self._failing = {a: t for a, t in self._failing.items() if a in self.pager.pending}
        # a call that failed waits its turn again, and lets the others go meanwhile
        call = self.pager.next_call(skip={a for a, t in self._failing.items() if t > now})
        link = self.link
        if link is None:
            idle(0.05)
        elif call is not None:
            if not self._page(link, call):
                self._failing[call.alert_id] = now + self.cfg.retry_after_s
        elif link.settings.role == "slave":
            link.service(0.05)  # answer the paging system's polls
        elif now >= self._next_poll:
            link.service(0.0)
            self._next_poll = now + self.cfg.poll_interval_s
        else:
            idle(0.05)

    def _page(self, link: espa.Link, call: PagingCall) -> bool:
        try:
            attempts = link.send(call.block)
        except espa.DeliveryFailed as exc:
            self.failures += 1
            log.error("nursecall: call for alert %s not delivered: %s", call.alert_id, exc)
            return False
        self.pager.delivered(call)
        self._failing.pop(call.alert_id, None)
        self.sent += 1
        log.info("nursecall: paged %s (step %d) to %s in %d attempt(s)", call.alert_id, call.level, call.address,
                 attempts)
        return True

    @property
    def call_failed(self) -> bool:
        """A call owed failed and waits to be tried again (the fault stays while any does, however many other
        calls get through meanwhile, or it would come and go with each)."""
        return bool(self._failing)

    def _watch(self) -> None:
        link = self.link
        silent = link is None or link.silent_for() > 3 * self.cfg.poll_interval_s + self.cfg.response_timeout_s
        if silent != self.silent:
            self.silent = silent
            log.log(logging.ERROR if silent else logging.INFO, "nursecall: the paging system %s",
                    "does not answer" if silent else "answers again")
        faulted = self.silent or self.call_failed
        if faulted != self.faulted:
            was, self.faulted = self.faulted, faulted
            if was is not None or faulted:  # a line healthy from the start is no news
                self.on_fault(faulted)

    def close(self) -> None:
        """Close the port (it is opened again on a later step)."""
        if self.link is not None:
            try:
                self.link.port.close()
            except PORT_ERRORS:
                pass
        self.link = None
