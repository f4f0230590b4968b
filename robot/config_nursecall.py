"""The `[nursecall]` config section: the ESPA 4.4.4 line to the home's paging or nurse-call system.

Checked like every other section (unknown keys, bounds, every problem at once); the texts a pager shows
are templates of fixed words and the room token only, in 7-bit characters a paging display can take.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Digit = Annotated[str, Field(pattern=r"^[0-9]$")]
CallAddress = Annotated[str, Field(pattern=r"^[0-9A-Za-z*#]{1,16}$", description="A pager, handset or group.")]
Code = Annotated[str, Field(pattern=r"^[0-9]{1,2}$")]
ALERT_TYPES = ("help_request", "wellbeing_concern", "reminder_unacked", "robot_fault")
PAGED_PRIORITIES = ("high", "medium")  # low alerts are never paged

DEFAULT_TEMPLATES: dict[str, dict[str, str]] = {
    "en": {"help_request": "Help request, room {room}", "wellbeing_concern": "Check on resident, room {room}",
           "reminder_unacked": "Missed reminder, room {room}", "robot_fault": "CareBot fault, room {room}"},
    "de": {"help_request": "Hilferuf, Zimmer {room}", "wellbeing_concern": "Bitte nachsehen, Zimmer {room}",
           "reminder_unacked": "Erinnerung offen, Zimmer {room}", "robot_fault": "CareBot Fehler, Zimmer {room}"},
    "ko": {"help_request": "Dowa juseyo, bang {room}", "wellbeing_concern": "Hwagin yocheong, bang {room}",
           "reminder_unacked": "Allim miwallyo, bang {room}", "robot_fault": "CareBot gojang, bang {room}"},
}


class NursecallSection(BaseModel):
    """Alerts to the home's paging system over ESPA 4.4.4, from `carebot nursecall` or the robot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    port: str = Field("", description="Serial port of the ESPA line, e.g. /dev/ttyUSB0.")
    baud: Literal[1200, 2400, 4800, 9600, 19200, 38400] = 9600
    framing: str = Field("7E2", pattern=r"^[78][NEO][12]$",
                         description="Data bits, parity (N, E, O) and stop bits, e.g. 7E2 or 8N1.")
    role: Literal["master", "slave"] = Field(
        "master", description="master: CareBot is the control station and polls; slave: the paging system polls.")
    own_address: Digit = "1"
    paging_address: Digit = "2"
    response_timeout_s: float = Field(3.0, ge=0.05, le=60, description="Wait for ACK, NAK or a poll answer.")
    retries: int = Field(3, ge=0, le=20, description="Repeats of a call after a NAK or silence.")
    poll_interval_s: float = Field(1.0, ge=0.01, le=60, description="master: how often CareBot polls the paging "
                                   "system; slave: how often the paging system is expected to poll CareBot.")
    retry_after_s: float = Field(10.0, ge=0.1, le=3600, description="After a failed call, try again this late.")
    call_address: dict[Literal["high", "medium"], CallAddress] = Field(
        {"high": "100", "medium": "100"}, description="The pager or group that gets each priority.")
    priority: dict[Literal["high", "medium"], Code] = Field(
        {"high": "2", "medium": "1"}, description="ESPA priority record: 1 normal, 2 high.")
    beep: dict[Literal["high", "medium"], Code] = Field({}, description="ESPA beep coding per priority.")
    language: Literal["en", "de", "ko"] = "en"
    templates: dict[Literal["en", "de", "ko"], dict[str, str]] = Field(
        {}, description="Texts per language and alert type, over the defaults; only {room} may be filled in.")
    record_file: Path = Field(Path("/var/lib/carebot/nursecall.sqlite"),
                              description="What was paged, so a restart pages nothing twice.")
    fault_room: str = Field("office", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$",
                            description="Room token on the gateway's own fault alert.")

    @field_validator("call_address", "priority")
    @classmethod
    def _both(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [p for p in PAGED_PRIORITIES if p not in value]
        if missing:
            raise ValueError(f"give a value for {', '.join(missing)} too (high and medium alerts are paged)")
        return value

    @field_validator("templates")
    @classmethod
    def _templates(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for lang, texts in value.items():
            for kind, text in texts.items():
                where = f"templates.{lang}.{kind}"
                if kind not in ALERT_TYPES:
                    raise ValueError(f"{where}: no alert type {kind!r}; allowed: {', '.join(ALERT_TYPES)}")
                fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
                if fields - {"room"}:
                    raise ValueError(f"{where}: only {{room}} may be filled in, not {sorted(fields - {'room'})}: "
                                     "a pager must never show what a resident said")
                if not text or any(not " " <= c <= "~" for c in text):
                    raise ValueError(f"{where}: {text[:40]!r} must be printable 7-bit characters (a paging "
                                     "display takes no umlauts or Hangul): write them out, e.g. 'ae' for 'ä'")
                if len(text.replace("{room}", "x" * 32)) > 80:
                    raise ValueError(f"{where}: longer than 80 characters with the longest room token")
        return value

    @model_validator(mode="after")
    def _line(self) -> NursecallSection:
        if self.enabled and not self.port:
            raise ValueError("nursecall is enabled but has no port, e.g. port = \"/dev/ttyUSB0\"")
        if self.own_address == self.paging_address:
            raise ValueError(f"own_address and paging_address are both {self.own_address!r}: they must differ")
        return self

    def text(self, alert_type: str, room: str) -> str:
        """The pager text for an alert: fixed words and the room token, nothing else."""
        texts = {**DEFAULT_TEMPLATES[self.language], **self.templates.get(self.language, {})}
        return texts.get(alert_type, "Alert, room {room}").format(room=room)
