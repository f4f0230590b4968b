"""Supervised parts: every thread body and callback boundary runs under one guard.

A part is a thread that calls its `step()` (one bounded piece of work, well under a second)
over and over. The guard catches any exception a step raises, logs it with its traceback,
reports the part as faulted (staff see a robot_fault alert), waits a short backoff and calls
`step()` again: the part is restarted on the same object, whose state survives. A part beats
before every step; the control tick calls `check()` a few times a second, and a part whose
last beat is older than `stall_s` has stopped making progress: it is reported at once (well
within 2 s). Python cannot kill a wedged thread, so a stalled part is replaced by a fresh
thread only where that is safe (`replace_on_stall`); otherwise it stays faulted, systemd's
watchdog is no longer fed, and systemd restarts the service.

A fault clears by itself once the part has run `clear_after_s` without another exception.
Callbacks from library threads (paho's) are wrapped with `callback()`: an exception is caught,
logged and reported, and cleared by the next call that succeeds.

`inject()` is the fault injector's door: it makes the named part's next step (or the named
callback's next call) raise the given exception, or stall for a while, so that tests and
`carebot bench faults` go through the real guard rather than around it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

STALL_S = 1.5  # a part silent this long has stopped making progress (checked every CHECK_S)
CHECK_S = 0.25
CLEAR_AFTER_S = 2.0  # a restarted part that runs this long without an exception is healthy again
BACKOFF_INITIAL_S = 0.05
BACKOFF_MAX_S = 2.0

Report = Callable[[str, bool], None]  # (part name, True = faulted / False = cleared)
F = TypeVar("F", bound=Callable[..., Any])


class _Stall(Exception):
    """Carries an injected stall's duration to the part's thread."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"injected stall of {seconds} s")
        self.seconds = seconds


class Part:
    """One supervised thread: calls `step` until stopped, restarting it after an exception."""

    def __init__(self, guard: Guard, name: str, step: Callable[[], None], *,
                 close: Callable[[], None] | None = None, wake: Callable[[], None] | None = None,
                 stall_s: float = STALL_S, replace_on_stall: bool = False) -> None:
        self.guard = guard
        self.name = name
        self.step = step
        self.close = close
        self.wake = wake
        self.stall_s = stall_s
        self.replace_on_stall = replace_on_stall
        self.last_beat = time.monotonic()
        self.restarts = 0
        self.errors = 0
        self.stalls = 0
        self.faulted = False
        self.last_error_at = 0.0
        self.last_error = ""
        self._stalled = False
        self._inject: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._generation = 0

    # -- control, from other threads -----------------------------------------------------------

    def start(self) -> Part:
        """Start the part's thread."""
        self._stop.clear()
        self._spawn()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """Ask the part to finish its step, run its close, and end; wait for it."""
        self._stop.set()
        if self.wake is not None:
            self.wake()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def alive(self) -> bool:
        """True while the part's thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def inject(self, exc: BaseException) -> None:
        """Fault injection: the part's next step raises `exc` inside the part's own thread."""
        self._inject = exc

    def inject_stall(self, seconds: float) -> None:
        """Fault injection: the part's next step hangs for `seconds` (a wedged library call)."""
        self._inject = _Stall(seconds)

    def snapshot(self) -> dict[str, Any]:
        """For status output."""
        return {"alive": self.alive, "faulted": self.faulted, "restarts": self.restarts, "errors": self.errors,
                "stalls": self.stalls, "beat_age_s": round(time.monotonic() - self.last_beat, 3),
                "last_error": self.last_error}

    # -- the part's thread ---------------------------------------------------------------------

    def _spawn(self) -> None:
        self._generation += 1
        self.last_beat = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(self._generation,), name=self.name, daemon=True)
        self._thread.start()

    def _current(self, generation: int) -> bool:
        return generation == self._generation and not self._stop.is_set()

    def _run(self, generation: int) -> None:
        backoff = BACKOFF_INITIAL_S
        while self._current(generation):
            self.last_beat = time.monotonic()
            try:
                injected, self._inject = self._inject, None
                if isinstance(injected, _Stall):
                    time.sleep(injected.seconds)
                elif injected is not None:
                    raise injected
                self.step()
            except Exception as exc:  # the guard's whole purpose: nothing escapes a part
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:200]
                self.last_error_at = time.monotonic()
                log.exception("part %s raised; restarting it in %.2f s", self.name, backoff)
                self.guard._fault(self)
                self.restarts += 1
                # beat while backing off: a part waiting to restart is being handled, not stuck
                end = time.monotonic() + backoff
                while self._current(generation) and time.monotonic() < end:
                    self.last_beat = time.monotonic()
                    self._stop.wait(min(CHECK_S, max(0.0, end - time.monotonic())))
                backoff = min(backoff * 2, BACKOFF_MAX_S)
            else:
                if self.faulted and time.monotonic() - self.last_error_at >= CLEAR_AFTER_S:
                    backoff = BACKOFF_INITIAL_S
        if generation == self._generation and self.close is not None:
            try:
                self.close()
            except Exception:
                log.exception("part %s raised while closing", self.name)

    # -- the watcher (the control tick) --------------------------------------------------------

    def _check(self, now: float) -> bool:
        """True if the part is alive and making progress; reports and clears its faults."""
        if self._stop.is_set():
            return True
        age = now - self.last_beat
        if not self.alive or age > self.stall_s:
            if not self._stalled:
                self._stalled = True
                self.stalls += 1
                self.last_error = (f"no progress for {age:.1f} s" if self.alive else "thread ended")
                self.last_error_at = now
                log.error("part %s: %s", self.name, self.last_error)
                self.guard._fault(self)
                if self.replace_on_stall or not self.alive:
                    self.restarts += 1
                    self._spawn()  # the old thread, if it ever wakes, sees it is superseded and ends
            return False
        self._stalled = False
        if self.faulted and now - self.last_error_at >= CLEAR_AFTER_S:
            self.guard._clear(self)
        return True


class Guard:
    """Builds parts and guarded callbacks, and watches them."""

    def __init__(self, report: Report | None = None) -> None:
        self.report = report
        self.parts: dict[str, Part] = {}
        self.callbacks: dict[str, _Callback] = {}
        self._next_check = 0.0
        self._healthy = True

    def part(self, name: str, step: Callable[[], None], **options: Any) -> Part:
        """A new supervised part (not started)."""
        p = Part(self, name, step, **options)
        self.parts[name] = p
        return p

    def callback(self, name: str, fn: F) -> F:
        """`fn` wrapped so that nothing it raises escapes into the library thread calling it."""
        cb = _Callback(self, name, fn)
        self.callbacks[name] = cb
        return cb  # type: ignore[return-value]

    def inject(self, name: str, exc: BaseException) -> None:
        """Fault injection by name: a part's next step or a callback's next call raises `exc`."""
        if name in self.parts:
            self.parts[name].inject(exc)
        elif name in self.callbacks:
            self.callbacks[name].pending = exc
        else:
            raise KeyError(f"no guarded part or callback named {name!r}; known: {sorted(self.parts)}")

    def check(self, now: float) -> bool:
        """Watch every part (at most every CHECK_S); True while all are alive and progressing."""
        if now >= self._next_check:
            self._next_check = now + CHECK_S
            healthy = True
            for p in list(self.parts.values()):
                healthy = p._check(now) and healthy
            self._healthy = healthy
        return self._healthy

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every part's record, for status output."""
        return {name: p.snapshot() for name, p in self.parts.items()}

    def _fault(self, p: Part | _Callback) -> None:
        if not p.faulted:
            p.faulted = True
            self._tell(p.name, True)

    def _clear(self, p: Part | _Callback) -> None:
        if p.faulted:
            p.faulted = False
            log.info("part %s is healthy again", p.name)
            self._tell(p.name, False)

    def _tell(self, name: str, raised: bool) -> None:
        if self.report is None:
            return
        try:
            self.report(name, raised)
        except Exception:
            log.exception("reporting the fault of part %s failed", name)


class _Callback:
    """A guarded callback (see Guard.callback)."""

    def __init__(self, guard: Guard, name: str, fn: Callable[..., Any]) -> None:
        self.guard = guard
        self.name = name
        self.fn = fn
        self.faulted = False
        self.errors = 0
        self.pending: BaseException | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            injected, self.pending = self.pending, None
            if injected is not None:
                raise injected
            result = self.fn(*args, **kwargs)
        except Exception:
            self.errors += 1
            log.exception("callback %s raised; the call is dropped", self.name)
            self.guard._fault(self)
            return None
        if self.faulted:
            self.guard._clear(self)
        return result
