"""Vosk model management: `carebot model install|list|verify`.

A model arrives as a zip, from a path or a URL. Installing it downloads with progress,
checks the archive's SHA-256 against the one given, refuses any member that would land
outside the target (absolute paths, "..", links), checks that it looks like a Vosk model,
and only then moves it into <state_dir>/models/<name> in one rename, so a robot never
sees half a model. A manifest records each file's size and hash for `verify`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from robot.errors import CareBotError

REQUIRED = ("am/final.mdl", "conf/model.conf")
MANIFEST = "carebot-manifest.json"
CHUNK = 1 << 20


class ModelError(CareBotError):
    """A model could not be installed or verified; the message says why and what to do."""


@dataclass(frozen=True)
class InstalledModel:
    """A model in the state directory."""

    name: str
    path: Path
    archive_sha256: str
    files: int
    bytes: int


def models_dir(state_dir: Path) -> Path:
    return state_dir / "models"


def missing_model_message(path: Path) -> str:
    """What to say when the configured model is not there: the path and the exact fix."""
    return (f"the speech model {path} is not installed. Install it with:\n"
            f"  carebot model install https://alphacephei.com/vosk/models/{path.name}.zip --sha256 <SHA-256>\n"
            f"or, from a file you have: carebot model install /path/to/{path.name}.zip --sha256 <SHA-256>")


def _progress(done: int, total: int | None, out: Callable[[str], None]) -> None:
    if total:
        out(f"\r  {done / 1e6:7.1f} of {total / 1e6:.1f} MB ({100 * done // total:3d} %)")
    else:
        out(f"\r  {done / 1e6:7.1f} MB")


def fetch(source: str, into: Path, out: Callable[[str], None]) -> Path:
    """Copy or download the archive into a temporary file, showing progress."""
    target = into / "archive.zip"
    if "://" in source:
        if not source.startswith(("http://", "https://")):
            raise ModelError(f"{source}: only http and https URLs are supported")
        try:
            response = urllib.request.urlopen(source, timeout=30)  # noqa: S310 - http(s) only, checked above
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot download {source}: {exc}") from None
        total = int(response.headers.get("Content-Length") or 0) or None
        reader = response
    else:
        path = Path(source)
        if not path.is_file():
            raise ModelError(f"no such archive: {path}")
        total, reader = path.stat().st_size, path.open("rb")
    done = 0
    with reader, target.open("wb") as f:
        while chunk := reader.read(CHUNK):
            f.write(chunk)
            done += len(chunk)
            _progress(done, total, out)
    out("\n")
    return target


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    members = []
    for info in archive.infolist():
        name = PurePosixPath(info.filename)
        mode = info.external_attr >> 16
        if name.is_absolute() or ".." in name.parts or info.filename.startswith(("/", "\\")) or ":" in name.parts[0]:
            raise ModelError(f"refusing the archive: member {info.filename!r} would be written outside the model "
                             "folder (path traversal)")
        if stat.S_ISLNK(mode):
            raise ModelError(f"refusing the archive: member {info.filename!r} is a symbolic link")
        members.append(info)
    return members


def install(source: str, expected_sha256: str, state_dir: Path, *, name: str | None = None,
            out: Callable[[str], None] = lambda s: print(s, end="", file=sys.stderr, flush=True)) -> InstalledModel:
    """Install a model zip atomically; raises ModelError with the reason."""
    expected = expected_sha256.lower().strip()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise ModelError("--sha256 must be the archive's 64-hex-digit SHA-256 (sha256sum prints it)")
    root = models_dir(state_dir)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".installing-", dir=root) as tmp_name:
        tmp = Path(tmp_name)
        out(f"fetching {source}\n")
        archive_path = fetch(source, tmp, out)
        actual = sha256(archive_path)
        if actual != expected:
            raise ModelError(f"checksum mismatch: the archive's SHA-256 is {actual}, not {expected}; "
                             "nothing was installed")
        with zipfile.ZipFile(archive_path) as archive:
            members = _safe_members(archive)
            staging = tmp / "unpacked"
            archive.extractall(staging, members)
        entries = [p for p in staging.iterdir()]
        model_root = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        missing = [r for r in REQUIRED if not (model_root / r).is_file()]
        if missing:
            raise ModelError(f"the archive is not a Vosk model: it lacks {', '.join(missing)}")
        files = {str(p.relative_to(model_root)): (p.stat().st_size, sha256(p))
                 for p in sorted(model_root.rglob("*")) if p.is_file()}
        (model_root / MANIFEST).write_text(json.dumps({"archive_sha256": actual, "files": files}, indent=1))
        model_name = name or (model_root.name if model_root is not staging else Path(source).stem)
        final = root / model_name
        if final.exists():
            old = root / f".replaced-{model_name}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(model_root, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(model_root, final)
    return InstalledModel(model_name, final, actual, len(files), sum(s for s, _ in files.values()))


def list_models(state_dir: Path) -> list[InstalledModel]:
    """Installed models, by name."""
    out = []
    root = models_dir(state_dir)
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        manifest = path / MANIFEST
        if path.name.startswith(".") or not manifest.is_file():
            continue
        data = json.loads(manifest.read_text())
        out.append(InstalledModel(path.name, path, data["archive_sha256"], len(data["files"]),
                                  sum(s for s, _ in data["files"].values())))
    return out


def verify(path: Path) -> list[str]:
    """Problems with an installed model: missing, resized or altered files (empty when good)."""
    manifest = path / MANIFEST
    if not manifest.is_file():
        return [f"{path}: no {MANIFEST}; install the model with carebot model install"]
    problems = []
    for rel, (size, digest) in json.loads(manifest.read_text())["files"].items():
        f = path / rel
        if not f.is_file():
            problems.append(f"{rel}: missing")
        elif f.stat().st_size != size or sha256(f) != digest:
            problems.append(f"{rel}: changed since it was installed")
    return problems
