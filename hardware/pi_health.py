"""The board's own health on a Raspberry Pi: power, throttling, CPU temperature, free space.

Everything is read from files the kernel keeps, under a root that tests replace with a
scratch directory holding the same files in the same formats:

- `devices/platform/soc/soc:firmware/get_throttled`: the firmware's throttle word, in hex
  without "0x" (the kernel prints it with "%x"). `vcgencmd get_throttled` prints the same word
  as "throttled=0x50005", and is asked only when the file is missing.
- `class/hwmon/hwmon*/name` = "rpi_volt" with `in0_lcrit_alarm`: under-voltage now, on kernels
  that have the hwmon driver but not the firmware file.
- `class/thermal/thermal_zone*/type` and `temp` (millidegrees Celsius).
- `firmware/devicetree/base/model`: "Raspberry Pi 4 Model B Rev 1.4" and a NUL byte.

A machine with none of the throttle sources is "not a Raspberry Pi": the reading says so and
has no power faults; the temperature and free space are still read where they exist.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

THROTTLED = Path("devices/platform/soc/soc:firmware/get_throttled")
MODEL = Path("firmware/devicetree/base/model")
THERMAL = Path("class/thermal")
HWMON = Path("class/hwmon")

# The throttle word's low bits are what holds now; the same bits shifted by 16 have happened since boot.
FLAGS = {0: "under_voltage", 1: "freq_capped", 2: "throttled", 3: "soft_temp_limit"}
SINCE_BOOT_SHIFT = 16
UNDER_VOLTAGE = 1 << 0
SLOWED = (1 << 1) | (1 << 2) | (1 << 3)  # capped, throttled or at the soft temperature limit


def parse_throttled(text: str) -> int:
    """The throttle word from the sysfs file ("50005") or from vcgencmd ("throttled=0x50005")."""
    value = text.strip().split("=")[-1].strip()
    try:
        return int(value, 16)
    except ValueError:
        raise ValueError(f"not a throttle word: {text.strip()[:40]!r}") from None


def flags(word: int, since_boot: bool = False) -> list[str]:
    """The names of the flags set in `word`, now or since boot."""
    shift = SINCE_BOOT_SHIFT if since_boot else 0
    return [name for bit, name in FLAGS.items() if word >> shift & 1 << bit]


@dataclass(frozen=True)
class Reading:
    """One look at the board. `throttled` is None where no throttle source exists."""

    model: str
    throttled: int | None
    source: str  # "sysfs", "hwmon", "vcgencmd", or "" (none)
    temp_c: float | None
    free_mb: float | None
    problem: str = ""  # a source that exists but could not be read

    @property
    def is_pi(self) -> bool:
        """A Raspberry Pi by its model name, or by its firmware's throttle word."""
        return self.model.startswith("Raspberry Pi") or self.throttled is not None

    @property
    def under_voltage(self) -> bool:
        """Under-voltage now (a brown-out: the supply or its cable is too weak)."""
        return self.throttled is not None and bool(self.throttled & UNDER_VOLTAGE)

    @property
    def slowed(self) -> bool:
        """The CPU is capped or throttled now (heat, or under-voltage)."""
        return self.throttled is not None and bool(self.throttled & SLOWED)

    def summary(self) -> dict[str, Any]:
        """JSON-ready, for `carebot status` and selftest."""
        word = self.throttled
        return {"raspberry_pi": self.is_pi, "model": self.model or None, "source": self.source or None,
                "throttled": None if word is None else f"0x{word:x}",
                "now": [] if word is None else flags(word), "since_boot": [] if word is None else flags(word, True),
                "temp_c": self.temp_c, "free_mb": None if self.free_mb is None else round(self.free_mb),
                "problem": self.problem or None}

    def describe(self) -> str:
        """One line a technician can read."""
        return describe(self.summary())


def describe(summary: dict[str, Any]) -> str:
    """A reading's summary (as the status file keeps it) as one line a technician can read."""
    s = summary
    parts = [s.get("model") or ("a Raspberry Pi" if s.get("raspberry_pi") else "not a Raspberry Pi")]
    if s.get("throttled") is None:
        parts.append("power and throttling not available" + (f" ({s['problem']})" if s.get("problem") else ""))
    else:
        parts.append(f"now: {', '.join(s['now']) or 'no under-voltage or throttling'}")
        parts.append(f"since boot: {', '.join(s['since_boot']) or 'none'}")
    if s.get("temp_c") is not None:
        parts.append(f"CPU {s['temp_c']:.1f} °C")
    if s.get("free_mb") is not None:
        parts.append(f"{s['free_mb']:.0f} MB free")
    return "; ".join(parts)


class BoardHealth:
    """Reads the board's health from `sys_root` (normally /sys), and free space under `state_dir`."""

    def __init__(self, sys_root: Path = Path("/sys"), state_dir: Path | None = None,
                 vcgencmd: str | None = "vcgencmd") -> None:
        self.sys_root = sys_root
        self.state_dir = state_dir
        self.vcgencmd = shutil.which(vcgencmd) if vcgencmd else None

    def read(self) -> Reading:
        """Look once; never raises for a missing or unreadable file (the reading says what is missing)."""
        word, source, problem = self._throttled()
        return Reading(self._model(), word, source, self._temperature(), self._free_mb(), problem)

    def _model(self) -> str:
        try:
            return (self.sys_root / MODEL).read_bytes().rstrip(b"\0\n").decode("utf-8", "replace")
        except OSError:
            return ""

    def _throttled(self) -> tuple[int | None, str, str]:
        path = self.sys_root / THROTTLED
        try:
            return parse_throttled(path.read_text()), "sysfs", ""
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            return None, "", f"{path}: {exc}"
        alarm = self._hwmon_alarm()
        if alarm is not None:
            return (UNDER_VOLTAGE if alarm else 0), "hwmon", ""
        if self.vcgencmd is None or self.sys_root != Path("/sys"):  # a scratch root is never the real board
            return None, "", ""
        try:
            out = subprocess.run([self.vcgencmd, "get_throttled"], capture_output=True, text=True, timeout=2,
                                 check=True).stdout
            return parse_throttled(out), "vcgencmd", ""
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            return None, "", f"vcgencmd get_throttled: {exc}"

    def _hwmon_alarm(self) -> bool | None:
        for hwmon in sorted((self.sys_root / HWMON).glob("hwmon*")):
            try:
                if (hwmon / "name").read_text().strip() == "rpi_volt":
                    return (hwmon / "in0_lcrit_alarm").read_text().strip() == "1"
            except OSError:
                continue
        return None

    def _temperature(self) -> float | None:
        """The CPU's zone ("cpu-thermal" on a Pi), else the first zone that reads."""
        zones = sorted((self.sys_root / THERMAL).glob("thermal_zone*"))
        def kind(zone: Path) -> str:
            try:
                return (zone / "type").read_text().strip()
            except OSError:
                return ""
        zones.sort(key=lambda z: kind(z) not in ("cpu-thermal", "cpu_thermal", "x86_pkg_temp"))
        for zone in zones:
            try:
                return round(int((zone / "temp").read_text().strip()) / 1000, 1)
            except (OSError, ValueError):
                continue
        return None

    def _free_mb(self) -> float | None:
        if self.state_dir is None:
            return None
        try:
            return shutil.disk_usage(self.state_dir).free / 1e6
        except OSError:
            return None
