"""`carebot model install|list|verify` with a good archive, a bad checksum and a path-traversal archive,
downloaded from a local HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot.models import ModelError, install, list_models, missing_model_message, verify

from .conftest import ROOT

LAYOUT = {"am/final.mdl": b"acoustic model " * 1000, "conf/model.conf": b"--sample-frequency=16000\n",
          "conf/mfcc.conf": b"--use-energy=false\n", "graph/Gr.fst": b"fst" * 5000, "README": b"test model\n"}


def make_zip(path: Path, members: dict[str, bytes], folder: str = "vosk-model-test") -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(f"{folder}/{name}" if folder else name, data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, directory=str(root), **k)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()


def quiet(_: str) -> None:
    pass


def test_install_from_a_local_http_server_then_list_and_verify(server: tuple[str, Path], tmp_path: Path) -> None:
    url, root = server
    digest = make_zip(root / "vosk-model-test.zip", LAYOUT)
    shown: list[str] = []
    model = install(f"{url}/vosk-model-test.zip", digest, tmp_path / "state", out=shown.append)
    assert model.name == "vosk-model-test" and model.files == len(LAYOUT)
    assert (model.path / "am" / "final.mdl").read_bytes() == LAYOUT["am/final.mdl"]
    assert any("%" in s for s in shown)  # progress was shown
    assert [m.name for m in list_models(tmp_path / "state")] == ["vosk-model-test"]
    assert verify(model.path) == []
    (model.path / "conf" / "model.conf").write_text("tampered")
    assert verify(model.path) == ["conf/model.conf: changed since it was installed"]
    leftovers = [p for p in (tmp_path / "state" / "models").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_bad_checksum_installs_nothing(server: tuple[str, Path], tmp_path: Path) -> None:
    url, root = server
    make_zip(root / "m.zip", LAYOUT)
    with pytest.raises(ModelError, match="checksum mismatch.*nothing was installed"):
        install(f"{url}/m.zip", "0" * 64, tmp_path / "state", out=quiet)
    assert list((tmp_path / "state" / "models").iterdir()) == []


@pytest.mark.parametrize("evil", ["../../etc/evil.conf", "/tmp/evil.conf", "vosk-model-test/../../evil"])
def test_path_traversal_archive_is_refused(tmp_path: Path, evil: str) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name, data in LAYOUT.items():
            z.writestr(f"vosk-model-test/{name}", data)
        z.writestr(evil, b"owned")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(ModelError, match="path traversal"):
        install(str(archive), digest, tmp_path / "state", out=quiet)
    assert not (tmp_path / "evil.conf").exists() and not Path("/tmp/evil.conf").exists()
    assert list((tmp_path / "state" / "models").iterdir()) == []


def test_an_archive_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "photos.zip"
    digest = make_zip(archive, {"holiday.txt": b"x"})
    with pytest.raises(ModelError, match="not a Vosk model: it lacks am/final.mdl"):
        install(str(archive), digest, tmp_path / "state", out=quiet)


def test_reinstall_replaces_atomically(tmp_path: Path) -> None:
    a = tmp_path / "a.zip"
    install(str(a), make_zip(a, LAYOUT), tmp_path / "state", out=quiet)
    b = tmp_path / "b.zip"
    newer = {**LAYOUT, "README": b"newer\n"}
    model = install(str(b), make_zip(b, newer), tmp_path / "state", out=quiet)
    assert (model.path / "README").read_bytes() == b"newer\n"
    assert sorted(p.name for p in (tmp_path / "state" / "models").iterdir()) == ["vosk-model-test"]


def test_cli_install_list_verify_and_clear_errors(tmp_path: Path) -> None:
    archive = tmp_path / "vosk-model-test.zip"
    digest = make_zip(archive, LAYOUT)
    state = str(tmp_path / "state")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "robot.cli", "model", *args, "--state-dir", state],
                              capture_output=True, text=True, cwd=ROOT, timeout=60)

    ok = cli("install", str(archive), "--sha256", digest)
    assert ok.returncode == 0 and "installed vosk-model-test: 5 files" in ok.stdout and "%" in ok.stderr
    assert "vosk-model-test" in cli("list").stdout
    assert cli("verify").stdout.strip() == "vosk-model-test: OK"
    bad = cli("install", str(archive), "--sha256", "abc")
    assert bad.returncode == 2 and "64-hex-digit" in bad.stderr and "Traceback" not in bad.stderr


def test_missing_model_message_names_the_path_and_the_command(tmp_path: Path) -> None:
    text = missing_model_message(tmp_path / "vosk-model-small-en-us-0.15")
    assert str(tmp_path / "vosk-model-small-en-us-0.15") in text
    assert "carebot model install" in text and "--sha256" in text
