"""scripts/install.sh and uninstall.sh against a scratch root: the same tree however often it runs,
secrets for the carebot user alone, a technician's config never overwritten, and the state kept.

A scratch root, not a debootstrap chroot: a minimal bookworm chroot took 2.5 minutes to make here
(plus 20 s for systemd and udev) and needs a Debian mirror, too much for every test run. So apt-get,
useradd, chown, systemctl and udevadm are recorded rather than run (the test checks the record), and
the virtualenv step (PyPI, a minute or more) is recorded too. By hand in such a chroot, the script ran
for real twice with the same result (packages, user and groups, owners and modes, the unit enabled
offline), udevadm parsed the rule without complaint, and uninstall kept the state until --purge.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest

from robot.config_load import check_config

from .conftest import ROOT

INSTALL = ROOT / "scripts" / "install.sh"
UNINSTALL = ROOT / "scripts" / "uninstall.sh"


def run(script: Path, root: Path, *args: str) -> str:
    proc = subprocess.run(["bash", str(script), "--root", str(root), *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "DESTDIR": ""})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def tree(root: Path) -> dict[str, tuple[str, str]]:
    """Every path under `root` with its type and mode, and its content's hash or its link's target."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        mode = oct(stat.S_IMODE(st.st_mode))
        if path.is_symlink():
            out[str(path.relative_to(root))] = ("link", os.readlink(path))
        elif path.is_dir():
            out[str(path.relative_to(root))] = ("dir", mode)
        else:
            out[str(path.relative_to(root))] = ("file " + mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    secret = root / "etc/carebot/mqtt-password"
    secret.parent.mkdir(parents=True)
    secret.write_text("s3cret\n")
    secret.chmod(0o644)  # as a technician might copy it in
    run(INSTALL, root, "--skip-venv")
    return root


def test_install_twice_gives_the_same_tree_and_keeps_an_edited_config(installed: Path) -> None:
    config = installed / "etc/carebot/carebot.toml"
    config.write_text(config.read_text().replace('room = "lounge-east"', 'room = "garden-room"'))
    first = tree(installed)
    out = run(INSTALL, installed, "--skip-venv")
    assert tree(installed) == first
    assert "wrote" not in out  # nothing was rewritten: every file was already as it should be
    assert 'room = "garden-room"' in config.read_text()


def test_what_the_install_puts_where(installed: Path) -> None:
    def mode(rel: str) -> int:
        return stat.S_IMODE((installed / rel).stat().st_mode)

    assert mode("etc/carebot") == 0o750 and mode("etc/carebot/carebot.toml") == 0o640
    assert mode("etc/carebot/mqtt-password") == 0o600  # the secret: for the carebot user alone
    assert mode("var/lib/carebot") == 0o700 and mode("var/lib/carebot-sim") == 0o700
    for unit in ("carebot.service", "carebot-sim.service"):
        assert (installed / "etc/systemd/system" / unit).read_text() == (ROOT / "systemd" / unit).read_text()
    rule = (installed / "etc/udev/rules.d/99-carebot-maestro.rules").read_text()
    assert 'SYMLINK+="carebot-servo"' in rule and 'ENV{ID_VENDOR_ID}=="1ffb"' in rule and "008a" in rule
    assert (installed / "etc/systemd/journald.conf.d/carebot.conf").is_file()
    assert os.readlink(installed / "usr/local/bin/carebot") == "/opt/carebot/venv/bin/carebot"
    assert (installed / "opt/carebot/dialogs/en/pack.yaml").read_bytes() == (ROOT / "dialogs/en/pack.yaml").read_bytes()
    assert (installed / "opt/carebot/dialogs/ko/screen.yaml").is_file()  # [screen] is on in the example config
    assert mode("opt/carebot/scripts/screen-kiosk.sh") == 0o755
    assert (installed / "etc/systemd/system/carebot-screen.service").read_text() == \
        (ROOT / "systemd/carebot-screen.service").read_text()
    assert 'port = "/dev/carebot-servo"' in (installed / "etc/carebot/carebot.toml").read_text()
    done = (installed / "opt/carebot/install-skipped.txt").read_text().splitlines()
    assert any(line.startswith("env DEBIAN_FRONTEND=noninteractive apt-get install") and "espeak-ng" in line
               for line in done)
    assert "useradd --system --home-dir /var/lib/carebot --no-create-home --shell /usr/sbin/nologin --user-group " \
           "--groups dialout,audio,video carebot" in done
    assert "chown carebot:carebot " + str(installed / "etc/carebot/mqtt-password") in done
    assert "systemctl enable carebot.service" in done and not any("enable carebot-sim" in line for line in done)
    # this root has no desktop user (no /etc/passwd): the screen is installed, not enabled
    assert not any("enable carebot-screen" in line for line in done)
    assert not (installed / "etc/systemd/system/carebot-screen.service.d").exists()


def test_the_screen_runs_as_the_desktop_user_the_install_finds_or_is_told(tmp_path: Path) -> None:
    """lightdm's autologin user (raspi-config sets it) is the one whose display the kiosk uses, named in a drop-in
    with its runtime directory and X authority file; run again, nothing changes; --screen-user changes it; an
    earlier install's user unit goes (one way to run the kiosk); uninstall takes the unit and the drop-in."""
    root = tmp_path / "root"
    (root / "etc/lightdm").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n"
                                     "robin:x:1001:1001::/home/robin:/bin/bash\n")
    (root / "etc/lightdm/lightdm.conf").write_text("[Seat:*]\n#autologin-user=\nautologin-user=robin\n")
    old = root / "etc/systemd/user/carebot-screen.service"
    old.parent.mkdir(parents=True)
    old.write_text("[Service]\n")
    run(INSTALL, root, "--skip-venv")
    conf = root / "etc/systemd/system/carebot-screen.service.d/user.conf"
    lines = conf.read_text().splitlines()
    assert "User=robin" in lines
    assert "Environment=XDG_RUNTIME_DIR=/run/user/1001 XAUTHORITY=/home/robin/.Xauthority" in lines
    assert lines[-2:] == ["BindReadOnlyPaths=", "BindReadOnlyPaths=-/run/user/1001/wayland-0 "
                          "-/run/user/1001/wayland-1 -/tmp/.X11-unix -/home/robin/.Xauthority"]
    assert "systemctl enable carebot-screen.service" in (root / "opt/carebot/install-skipped.txt").read_text()
    assert not old.exists()
    (root / "etc/lightdm/lightdm.conf").unlink()  # the user named before is kept
    first = tree(root)
    assert "wrote" not in run(INSTALL, root, "--skip-venv") and tree(root) == first
    run(INSTALL, root, "--skip-venv", "--screen-user", "pi")
    assert "User=pi" in conf.read_text() and "/run/user/1000/wayland-0" in conf.read_text()
    proc = subprocess.run(["bash", str(INSTALL), "--root", str(root), "--skip-venv", "--screen-user", "root"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "DESTDIR": ""})
    assert proc.returncode == 2 and "no desktop user" in proc.stderr and not proc.stdout  # before any change
    for script, option in ((INSTALL, "--screen-user"), (INSTALL, "--root"), (UNINSTALL, "--root")):
        proc = subprocess.run(["bash", str(script), "--root", str(root), option], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "DESTDIR": ""})  # the value forgotten: said so
        assert (proc.returncode, proc.stderr.strip(), proc.stdout) == (2, f"{script.stem}: {option} needs a value", "")
    out = run(UNINSTALL, root)
    assert "would run: systemctl disable --now carebot-screen.service" in out
    assert not (root / "etc/systemd/system/carebot-screen.service").exists() and not conf.parent.exists()


def test_the_installed_configs_pass_the_config_check(installed: Path, tmp_path: Path) -> None:
    problems = check_config(installed / "etc/carebot/carebot.toml")  # the example: a technician fills it in
    assert {p.path for p in problems} <= {"mqtt.ca_file", "mqtt.password_file", "privacy.site_key_file",
                                          "speech.model"}
    sim = tmp_path / "carebot-sim.toml"  # the simulator's runs as it is (its dialogs here in the scratch root)
    sim.write_text((installed / "etc/carebot/carebot-sim.toml").read_text().replace(
        "/opt/carebot/", f"{installed}/opt/carebot/").replace("/var/lib/", f"{tmp_path}/"))
    assert check_config(sim) == []
    text = sim.read_text()
    assert 'status_file = "/run/carebot-sim/status.json"' in text and "audit_flush_s = 1.0" in text


def test_uninstall_keeps_config_and_state_unless_purged(installed: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    run(INSTALL, root, "--skip-venv")
    audit = root / "var/lib/carebot/audit.jsonl"
    audit.write_text("{}\n")
    out = run(UNINSTALL, root)
    assert "would run: systemctl disable --now carebot.service" in out
    assert not (root / "opt/carebot").exists()
    assert not (root / "etc/systemd/system/carebot.service").exists()
    assert not (root / "etc/udev/rules.d/99-carebot-maestro.rules").exists()
    assert not (root / "etc/systemd/user/carebot-screen.service").exists()
    assert not (root / "etc/systemd/journald.conf.d").exists()
    assert not (root / "usr/local/bin/carebot").is_symlink()
    assert audit.read_text() == "{}\n" and (root / "etc/carebot/carebot.toml").is_file()
    out = run(UNINSTALL, root, "--purge")
    assert "would run: userdel carebot" in out
    assert not (root / "etc/carebot").exists() and not (root / "var/lib/carebot").exists()


@pytest.mark.parametrize(("script", "option"), [(UNINSTALL, "--purge"), (INSTALL, "--skip-venv")],
                         ids=["uninstall", "install"])
def test_a_root_whose_var_links_outside_it_is_refused_and_nothing_outside_is_touched(script: Path, option: str,
                                                                                     tmp_path: Path) -> None:
    # An image whose /var is a link to /data/var means the image's /data/var; from outside the image the same
    # absolute link is the host's own. Following it, uninstall --purge deleted the host's state.
    host = tmp_path / "host state"
    (host / "lib/carebot").mkdir(parents=True)
    (host / "lib/carebot").chmod(0o755)
    (host / "lib/carebot/audit.jsonl").write_text("the host's own\n")
    root = tmp_path / "an image"
    root.mkdir()
    (root / "var").symlink_to(host)
    proc = subprocess.run(["bash", str(script), "--root", str(root), option], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "DESTDIR": ""})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "outside" in proc.stderr and "var/lib/carebot" in proc.stderr
    assert (host / "lib/carebot/audit.jsonl").read_text() == "the host's own\n"
    assert stat.S_IMODE((host / "lib/carebot").stat().st_mode) == 0o755
    assert not (host / "lib/carebot-sim").exists()


def test_an_empty_config_left_by_an_install_cut_off_is_written_again(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/carebot").mkdir(parents=True)
    (root / "etc/carebot/carebot.toml").write_bytes(b"")  # the first install lost power while copying it
    run(INSTALL, root, "--skip-venv")
    assert (root / "etc/carebot/carebot.toml").read_bytes() == (ROOT / "config/robot.example.toml").read_bytes()
    assert not list((root / "etc/carebot").glob("*.new"))


def test_a_secret_file_the_config_names_is_for_the_carebot_user_alone_whatever_its_name(tmp_path: Path) -> None:
    root = tmp_path / "root"
    etc = root / "etc/carebot"
    etc.mkdir(parents=True)
    config = (ROOT / "config/robot.example.toml").read_text().replace(
        'password_file = "/etc/carebot/mqtt-password"', 'password_file = "/etc/carebot/broker pass"')
    assert "broker pass" in config
    (etc / "carebot.toml").write_text(config)
    (etc / "broker pass").write_text("s3cret\n")
    (etc / "broker pass").chmod(0o644)
    run(INSTALL, root, "--skip-venv")
    assert stat.S_IMODE((etc / "broker pass").stat().st_mode) == 0o600
    done = (root / "opt/carebot/install-skipped.txt").read_text().splitlines()
    assert f"chown carebot:carebot {etc}/broker pass" in done


@pytest.mark.parametrize("script", [UNINSTALL, INSTALL], ids=["uninstall", "install"])
def test_a_screen_drop_in_folder_that_links_outside_the_root_is_refused(script: Path, tmp_path: Path) -> None:
    """The kiosk's drop-in folder and /opt/carebot/scripts are written (and removed) too: a link there in an image
    led install to write user.conf, and uninstall to delete one, in the host's own folder."""
    host = tmp_path / "host units"
    host.mkdir()
    (host / "user.conf").write_text("the host's own\n")
    root = tmp_path / "an image"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/carebot-screen.service.d").symlink_to(host)
    (root / "etc/passwd").write_text("pi:x:1000:1000::/home/pi:/bin/bash\n")
    proc = subprocess.run(["bash", str(script), "--root", str(root), "--skip-venv" if script == INSTALL else "--purge"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "DESTDIR": ""})
    assert proc.returncode == 2 and "carebot-screen.service.d leads outside" in proc.stderr, proc.stdout + proc.stderr
    assert [p.name for p in host.iterdir()] == ["user.conf"] and (host / "user.conf").read_text() == "the host's own\n"
