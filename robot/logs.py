"""Structured logging: one line per event, `key=value` for people or JSON for machines.

Records go through a queue to a listener thread, so logging from the control loop
never waits on a terminal or a pipe. Log records carry states, triggers, counts and
reasons; never names, transcripts, audio or images. Extra fields are passed as
`extra={"fields": {...}}`.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
import time

_listener: logging.handlers.QueueListener | None = None


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {}) or {}
        if self.as_json:
            out = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                   "logger": record.name, "msg": record.getMessage(), **fields}
            if record.exc_info:
                out["exc"] = self.formatException(record.exc_info)
            return json.dumps(out, default=str)
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        line = f"{stamp} {record.levelname.lower():7s} {record.name}: {record.getMessage()}"
        if extra:
            line += " " + extra
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to sys.stderr as it is at each record, not as it was at the start: a caller that swaps it (a
    test's capture, which then closes) would otherwise leave every later record failing on a closed file."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    """Route every log record through a queue to stderr, formatted as asked."""
    global _listener
    stop_logging()
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    sink = _Stderr()
    sink.setFormatter(_Formatter(fmt == "json"))
    q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    root.addHandler(logging.handlers.QueueHandler(q))
    root.setLevel(level.upper())
    # transitions logs every callback at INFO; its refusals reach us through Behaviour.fire.
    logging.getLogger("transitions").setLevel(max(logging.WARNING, root.level))
    _listener = logging.handlers.QueueListener(q, sink, respect_handler_level=False)
    _listener.start()
    atexit.register(stop_logging)


def stop_logging() -> None:
    """Flush queued records and stop the listener thread."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
