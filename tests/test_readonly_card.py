"""A worn SD card that the kernel remounts read-only while the robot runs: a real ext4 file system on a loop device,
mounted errors=remount-ro as Raspberry Pi OS mounts its root, made to fail through ext4's own trigger_fs_error (the
kernel's error path, as for a bad block). The robot keeps running, a help request still reaches staff and the
resident hears that staff were called, and staff get a storage fault. (The card stays read-only until a reboot;
tests/test_durable_alerts.py has the restart on it.)"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot.config import Config
from robot.runtime import Runtime

from .broker import Broker, Client, alerts, robot_config
from .conftest import wait_for
from .test_durable_alerts import online, staff_acknowledges


@pytest.fixture
def card(tmp_path: Path) -> Iterator[Path]:
    """A 32 MB ext4 'card' mounted errors=remount-ro; fail it with `fail(card)`."""
    image, mount = tmp_path / "card.img", tmp_path / "card"
    mount.mkdir()
    with open(image, "wb") as f:
        f.truncate(32 * 1024 * 1024)
    if os.geteuid() != 0 or subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True).returncode or (
            subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(image), str(mount)],
                           capture_output=True).returncode):
        pytest.skip("needs root, mkfs.ext4 and a loop device to make an ext4 card")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fail(card: Path) -> None:
    """An ext4 error on the card: the kernel remounts it read-only at once (errors=remount-ro)."""
    device = next(line.split()[0] for line in Path("/proc/mounts").read_text().splitlines()
                  if line.split()[1] == str(card))
    Path(f"/sys/fs/ext4/{Path(device).name}/trigger_fs_error").write_text("test: a worn card")
    with pytest.raises(OSError):
        (card / "probe").write_text("x")  # read-only now


def test_a_card_remounted_read_only_while_running_still_takes_help_to_staff(
        config: Config, broker: Broker, staff: Client, card: Path) -> None:
    cfg = robot_config(config, broker, outbox_min_free_mb=1)
    cfg = cfg.model_copy(update={"robot": cfg.robot.model_copy(update={"state_dir": card / "state"}),
                                 "log": cfg.log.model_copy(update={"audit_flush_s": 0.1})})
    rt = Runtime(cfg, simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: online(staff, rt.boot_id) and rt.behaviour.state == "idle", 15)
        fail(card)
        rt.hear("help me please, I fell")  # the words, the real door
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 10)
        assert wait_for(lambda: [s.key for s in rt.said][:1] == ["help_called"], 5)
        assert wait_for(lambda: alerts(staff, type="robot_fault", fault="storage", state="raised"), 5)
        # Staff answer through the broker: the robot, on its read-only card, still takes the acknowledgement.
        alert_id = alerts(staff, type="help_request")[0]["alert_id"]
        assert rt.behaviour.state == "alerting"
        staff_acknowledges(staff, rt, alert_id, "c" * 32)
    finally:
        rt.stop()  # and it stops cleanly on the read-only card (the simulator's link raised here before)
