"""Staff accounts for the web page: Argon2 password hashes in a file, and login failures that slow down.

The users file has one `name:hash` line per account (argon2-cffi's PHC string: Argon2id, with its own salt and
parameters), mode 0600, written atomically by `carebot staff web adduser`. Names are tokens (a-z, 0-9, - and _):
they name the staff member in the web's audit trail and in the `by` of each command sent to a robot.

Failed logins count per account and per client address: from the fourth in a row, each answer waits
2, 4, 8 ... up to 30 s, so guessing is slow; a success clears the account's count. Each login and each command
is written to the audit trail, naming the staff account.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from robot.errors import CareBotError

log = logging.getLogger(__name__)

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MIN_PASSWORD = 10
FREE_FAILURES = 3
MAX_DELAY_S = 30.0
FORGET_S = 900.0  # failures older than this no longer count

_hasher = PasswordHasher()


def read_users(path: Path) -> dict[str, str]:
    users: dict[str, str] = {}
    if not path.exists():
        return users
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        if not sep or not NAME.fullmatch(name) or not hashed.startswith("$argon2"):
            raise CareBotError(f"{path}:{n}: not an account line (name:argon2-hash)")
        users[name] = hashed
    return users


def add_user(path: Path, name: str, password: str) -> None:
    """Add or replace an account; the file is rewritten atomically, readable by its owner only."""
    if not NAME.fullmatch(name):
        raise CareBotError(f"account name {name[:40]!r}: use a-z, 0-9, - and _ (at most 32), starting with a "
                           "letter or digit")
    if len(password) < MIN_PASSWORD:
        raise CareBotError(f"the password must have at least {MIN_PASSWORD} characters")
    users = read_users(path)
    users[name] = _hasher.hash(password)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".users-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("# carebot staff web accounts: name:argon2id hash (carebot staff web adduser)\n")
            for user, hashed in sorted(users.items()):
                f.write(f"{user}:{hashed}\n")
            f.flush()
            os.fsync(f.fileno())  # on disk before it replaces the old file: a power cut leaves one or the other
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Accounts:
    """Checks passwords against the users file (re-read when it changes) and throttles failures."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime = -1.0
        self._users: dict[str, str] = {}
        self._failures: dict[str, list[float]] = {}
        self._dummy = _hasher.hash("not a password of anyone's")

    def _current(self) -> dict[str, str]:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            return {}
        if mtime != self._mtime:
            self._users, self._mtime = read_users(self.path), mtime
        return self._users

    def delay(self, name: str, address: str, now: float | None = None) -> float:
        """How long to wait before answering a login for this account from this address."""
        now = time.monotonic() if now is None else now
        with self._lock:
            n = max(len([t for t in self._failures.get(k, []) if now - t < FORGET_S])
                    for k in (f"u:{name}", f"a:{address}"))
        return 0.0 if n < FREE_FAILURES else min(MAX_DELAY_S, 2.0 ** (n - FREE_FAILURES + 1))

    def check(self, name: str, password: str, address: str) -> bool:
        """True if the password is right. A wrong one, or an unknown name, costs the same hashing time."""
        with self._lock:
            hashed = self._current().get(name) if NAME.fullmatch(name) else None
        try:
            ok = _hasher.verify(hashed or self._dummy, password) and hashed is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        with self._lock:
            now = time.monotonic()
            if ok:
                self._failures.pop(f"u:{name}", None)
            else:
                for k in (f"u:{name}", f"a:{address}"):
                    self._failures.setdefault(k, []).append(now)
                    self._failures[k] = [t for t in self._failures[k] if now - t < FORGET_S][-50:]
        return ok


class AuditTrail:
    """One JSON line per login and per command, naming the staff account; appended and flushed to disk. Written
    from a thread, never the event loop (it reads the broker: a stalled disk must not hold up an alert)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # said here and at each write; the alerts page serves anyway
            log.error("audit trail cannot be kept (%s): %s", path, exc)

    def write(self, **record: Any) -> None:
        line = json.dumps({"ts": round(time.time(), 3), **record}, sort_keys=True) + "\n"
        try:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
        except OSError as exc:
            log.error("audit trail not written (%s): %s", self.path, exc.strerror)
