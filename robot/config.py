"""Typed, frozen configuration, parsed once from TOML and passed down.

Every section rejects unknown keys, every number has bounds, and every problem in a file is reported at once with
its key path, the bad value, what is allowed and, where it can be found, the line. Secrets never sit in the file: it
names files that hold them. Relative paths are taken relative to the directory of the config file.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from robot.config_nursecall import NursecallSection
from robot.config_screen import ScreenSection
from robot.config_vision import VisionSection
from robot.errors import SecretError

TOKEN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
Token = Annotated[str, Field(pattern=TOKEN)]

# Inline secrets are refused with a pointer to the key that names a file instead.
INLINE_SECRETS = {"password": "password_file", "site_key": "site_key_file", "secret": "…_file"}

MAESTRO_MIN_US = 64.0  # the Maestro accepts pulse widths from 64 to 3280 µs at its default 20 ms period
MAESTRO_MAX_US = 3280.0


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RobotSection(Section):
    """Who and where this robot is; tokens name a robot and a room, never a person."""

    id: Token = Field("robot-1", description="Robot token used in MQTT topics and logs.")

    @field_validator("id")
    @classmethod
    def _not_staff(cls, value: str) -> str:
        if value.startswith("staff"):
            raise ValueError("robot ids may not start with 'staff': those broker accounts belong to staff")
        return value

    site: Token = Field("site-1", description="Care-home token used in MQTT topics.")
    room: Token = Field("lounge", description="Location token carried on alerts.")
    language: Literal["en", "ko", "de"] = Field("en", description="Language of speech and dialogs.")
    state_dir: Path = Field(Path("/var/lib/carebot"), description="Outbox, audit log, models, status.")


class LoopSection(Section):
    """The real-time control loop."""

    rate_hz: int = Field(100, ge=20, le=500, description="Tick rate.")
    overrun_fault_after: int = Field(10, ge=1, le=1000, description="Overruns in a row that make a fault.")
    realtime: Literal["auto", "off", "require"] = Field(
        "auto", description="SCHED_FIFO: ask when permitted (auto), never (off), or fail without (require)."
    )
    rt_priority: int = Field(40, ge=1, le=98, description="SCHED_FIFO priority of the loop thread.")
    status_interval_s: float = Field(2.0, ge=0.2, le=60, description="How often status.json is written.")
    status_file: Path | None = Field(None, description="Default STATE_DIR/status.json; a robot's is in RAM.")


class WorkersSection(Section):
    """Supervision of the speech-in, speech-out and vision worker processes."""

    heartbeat_s: float = Field(0.5, ge=0.05, le=10, description="Worker heartbeat period.")
    hang_timeout_s: float = Field(3.0, ge=0.2, le=120, description="Silence after which a worker is killed.")
    start_timeout_s: float = Field(60.0, ge=1, le=600, description="Time a worker has to load (models) and say ready.")
    backoff_initial_s: float = Field(0.5, ge=0.05, le=60, description="First restart delay.")
    backoff_max_s: float = Field(30.0, ge=0.1, le=600, description="Longest restart delay.")
    stable_after_s: float = Field(30.0, ge=1, le=3600, description="Uptime that resets the backoff.")
    stop_grace_s: float = Field(2.0, ge=0.1, le=30, description="Time a worker has to stop before SIGKILL.")
    max_rss_mb: int = Field(0, ge=0, le=16384, description="Recycle a worker above this memory (0 = never).")

    @model_validator(mode="after")
    def _backoff_order(self) -> WorkersSection:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must not be smaller than backoff_initial_s")
        return self


class ServoChannel(Section):
    """One Maestro channel: a joint (pan, tilt, eyelids) or an indicator LED output."""

    channel: int = Field(ge=0, le=23, description="Maestro channel number.")
    name: Token
    role: Literal["pan", "tilt", "eyelids", "led"]
    min_us: float = Field(1000.0, ge=MAESTRO_MIN_US, le=MAESTRO_MAX_US)
    max_us: float = Field(2000.0, ge=MAESTRO_MIN_US, le=MAESTRO_MAX_US)
    neutral_us: float = Field(1500.0, ge=MAESTRO_MIN_US, le=MAESTRO_MAX_US)
    direction: Literal[1, -1] = Field(1, description="-1 if the servo is mounted mirrored.")
    range_deg: float = Field(90.0, gt=0, le=270, description="Joint travel from min_us to max_us.")
    speed: int = Field(0, ge=0, le=1000, description="Board speed limit, 0.25 µs/10 ms units; 0 = none.")
    acceleration: int = Field(0, ge=0, le=255, description="Board acceleration limit; 0 = none.")
    home: Literal["off", "neutral"] = Field("neutral", description="Where the board sends it on timeout.")

    @model_validator(mode="after")
    def _ordered(self) -> ServoChannel:
        if not self.min_us < self.max_us:
            raise ValueError(f"min_us ({self.min_us}) must be below max_us ({self.max_us})")
        if not self.min_us <= self.neutral_us <= self.max_us:
            raise ValueError(f"neutral_us ({self.neutral_us}) must lie within min_us..max_us")
        return self


def _default_channels() -> tuple[ServoChannel, ...]:
    return (
        ServoChannel(channel=0, name="pan", role="pan", min_us=1000, max_us=2000, neutral_us=1500,
                     range_deg=120, speed=60, acceleration=10),
        ServoChannel(channel=1, name="tilt", role="tilt", min_us=1200, max_us=1800, neutral_us=1500,
                     range_deg=60, speed=40, acceleration=8),
        ServoChannel(channel=5, name="indicator", role="led", min_us=1000, max_us=2000, neutral_us=1000,
                     home="off"),
    )


class ServoSection(Section):
    """The servo board: a Pololu Mini Maestro, or the simulated one on a pseudo-terminal."""

    driver: Literal["maestro", "sim"] = Field("sim", description="Real board, or the simulator.")
    port: str = Field("", description="Serial device; prefer /dev/serial/by-id/... for a stable name.")
    protocol: Literal["compact", "pololu"] = Field("compact")
    device_number: int = Field(12, ge=0, le=127, description="Pololu-protocol device number.")
    baud: int = Field(115200, ge=300, le=250000)
    serial_timeout_ms: int = Field(250, ge=0, le=10000, description=(
        "Serial timeout set on the board (Maestro Control Center); the board's watchdog."))
    reply_timeout_ms: int = Field(50, ge=5, le=2000, description="How long to wait for a reply byte.")
    reconnect_max_s: float = Field(5.0, ge=0.1, le=120, description="Longest wait between reconnects.")
    channels: tuple[ServoChannel, ...] = Field(default_factory=_default_channels)

    @model_validator(mode="after")
    def _unique(self) -> ServoSection:
        for label, values in (("channel", [str(c.channel) for c in self.channels]),
                              ("name", [c.name for c in self.channels])):
            dup = sorted({v for v in values if values.count(v) > 1})
            if dup:
                raise ValueError(f"servo channels repeat the {label} {', '.join(map(str, dup))}")
        if self.driver == "maestro" and not self.port:
            raise ValueError("driver 'maestro' needs a port, e.g. /dev/serial/by-id/usb-Pololu_...-if00")
        return self


class MqttSection(Section):
    """The staff broker. Credentials come from files, never from this file."""

    enabled: bool = False
    host: str = "localhost"
    port: int = Field(8883, ge=1, le=65535)
    keepalive_s: int = Field(30, ge=5, le=600)
    tls: bool = True
    ca_file: Path | None = None
    username: str | None = None
    password_file: Path | None = None
    max_inflight: int = Field(8, ge=1, le=100, description="Unacknowledged publishes at once.")
    puback_timeout_s: float = Field(10.0, ge=1, le=300, description="A publish with no PUBACK by then lost it "
                                    "(a dropped callback): it is sent again.")
    reconnect_max_s: int = Field(5, ge=1, le=120, description="Longest wait between reconnects: a call waits at most "
                                 "this long after the broker is back.")
    heartbeat_s: float = Field(30.0, ge=1, le=3600, description="Heartbeat period.")
    outbox_min_free_mb: int = Field(50, ge=1, le=100000, description="Below this, activity is dropped.")
    activity_bucket_s: int = Field(900, ge=60, le=86400, description="Activity counts are summed per bucket.")
    home_assistant: bool = Field(False, description="Announce the robot's status entities, never its alerts, "
                                 "by Home Assistant MQTT discovery.")
    discovery_prefix: str = Field("homeassistant", pattern=r"^[a-z0-9_-]{1,32}$",
                                  description="Home Assistant's discovery prefix.")


class AlertsSection(Section):
    """Escalation of alerts nobody has acknowledged: seconds after raising, per priority."""

    escalate_high_s: tuple[float, ...] = Field((60.0, 180.0), description="Team at +60 s, shift lead at +3 min.")
    escalate_medium_s: tuple[float, ...] = (900.0,)
    escalate_low_s: tuple[float, ...] = ()
    promote_medium_to_high_s: float | None = Field(
        900.0, ge=0, description="A missed reminder becomes high priority after this long.")
    wellbeing_priority: Literal["high", "medium", "low"] = Field(
        "medium", description="Priority of an alert for a concerning wellbeing answer.")
    not_reached_s: float = Field(
        30.0, ge=1, le=600, description="A help request the broker has not accepted by then: the robot tells "
                                        "the resident to use the call button or pull cord, and keeps trying.")

    @field_validator("escalate_high_s", "escalate_medium_s", "escalate_low_s")
    @classmethod
    def _increasing(cls, steps: tuple[float, ...]) -> tuple[float, ...]:
        if any(s <= 0 for s in steps) or list(steps) != sorted(set(steps)):
            raise ValueError("escalation steps must be positive and increasing, e.g. [60, 180]")
        return steps


class PrivacySection(Section):
    """Keys and tokens used to keep events anonymous."""

    site_key_file: Path | None = Field(None, description="File with the key that salts event tokens.")
    microphone: Literal["wake_and_help", "off"] = Field(
        "wake_and_help", description="In privacy mode: recognise only the wake phrase and help, or close the "
                                     "microphone entirely (then only the robot's button ends privacy: "
                                     "staff pause and resume keep it on).")


class QuietHoursSection(Section):
    """When the robot initiates nothing and rests in its sleep pose."""

    enabled: bool = True
    start: dt.time = dt.time(21, 0)
    end: dt.time = dt.time(7, 0)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _hhmm(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value):
            raise ValueError("use 24-hour HH:MM, e.g. \"21:30\"")
        return value

    def contains(self, moment: dt.time) -> bool:
        """True when `moment` falls inside quiet hours (which may span midnight)."""
        if not self.enabled or self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


VOICES = {"en": "en-gb", "de": "de", "ko": "ko"}


class SpeechSection(Section):
    """Speech in (microphone, voice activity, Vosk) and out (pyttsx3 with espeak-ng) workers."""

    enabled: bool = False
    source: Literal["alsa", "sim"] = Field("alsa", description="The microphone, or WAV files played by the simulator.")
    device: str = Field("default", description="ALSA capture device, e.g. plughw:CARD=Mic,DEV=0.")
    model: Path | None = Field(None, description="Vosk model folder; install one with carebot model install.")
    recogniser: Literal["vosk", "text"] = Field("vosk", description=(
        "'vosk' (the model in speech.model), or 'text': the simulator's twin, which hears words typed for the "
        "resident (console `hear`, scenario `hear:`) through the same grammars; it needs source = 'sim', no model."))
    synthesiser: Literal["espeak", "sim"] = Field("espeak", description=(
        "'espeak' (espeak-ng through pyttsx3), or 'sim': the twin that keeps a sentence's time with a wordless "
        "voice-like sound, for a board without espeak-ng or a quick scenario run."))
    endpoint_s: float = Field(0.8, ge=0.3, le=3.0, description="Trailing silence that ends an utterance.")
    vad_aggressiveness: int = Field(2, ge=0, le=3)
    min_rms: float = Field(150.0, ge=0, le=5000, description="Quieter frames never count as speech.")
    alternatives: int = Field(3, ge=1, le=10, description="N-best hypotheses from the recogniser.")
    rate_wpm: int = Field(150, ge=130, le=180, description="Speaking rate; residents can ask for slower.")
    volume: float = Field(1.0, ge=0.1, le=1.0)
    pitch: int = Field(50, ge=0, le=100, description="espeak-ng pitch: 50 is the voice's own; lower may suit "
                       "residents who hear low tones better.")
    voice: str | None = Field(None, description="espeak-ng voice; default follows robot.language.")
    out_dir: Path | None = Field(None, description="Simulator: write speech to WAV files here, not the sound card.")
    playback_device: str = Field("default", description="ALSA playback device for speech, or 'sim' (a simulated card).")
    barge_in: bool = Field(False, description=(
        "Listen while speaking, with echo cancellation (libspeexdsp), for stop words and help; "
        "false keeps half duplex (deaf while speaking) for boards that cannot afford it."))
    echo_cancel: bool = Field(True, description="With barge_in: cancel the robot's own voice (off only to compare).")
    room_delay_ms: float = Field(30.0, ge=10, le=80, description="Simulator: speaker-to-microphone delay.")
    room_attenuation_db: float = Field(6.0, ge=0, le=40, description="Simulator: how much quieter the echo is.")
    room_noise_db: float = Field(-60.0, ge=-120, le=-20, description="Simulator: room noise, dB of full scale.")

    @model_validator(mode="after")
    def _needs_model(self) -> SpeechSection:
        if self.recogniser == "text" and self.source != "sim":
            raise ValueError("speech.recogniser = 'text' hears words typed to the simulated microphone: "
                             "set speech.source = 'sim', or use recogniser = 'vosk' with the sound card")
        if self.enabled and self.model is None and self.recogniser == "vosk":
            raise ValueError("speech is enabled but speech.model names no Vosk model folder "
                             "(or set speech.recogniser = 'text' to simulate one)")
        return self

    def simulated(self) -> list[str]:
        """The speech parts this config simulates: on a robot, each is a resident it cannot hear or speak to."""
        if not self.enabled:
            return []
        parts = {"microphone": self.source == "sim", "recogniser": self.recogniser == "text",
                 "voice": self.synthesiser == "sim", "loudspeaker": self.out_dir is not None
                 or self.playback_device == "sim"}
        return [name for name, simulated in parts.items() if simulated]


class BehaviourSection(Section):
    """Timings of the behaviour state machine."""

    listen_timeout_s: float = Field(8.0, ge=2, le=60, description="Silence before listening gives up.")
    respond_timeout_s: float = Field(30.0, ge=2, le=300, description="Longest a reply may take to speak.")
    greet_interval_s: float = Field(1800.0, ge=0, le=86400, description="Least time between two greetings.")
    boot_timeout_s: float = Field(30.0, ge=1, le=600, description="Longest wait for workers at boot.")
    help_confirm_timeout_s: float = Field(8.0, ge=2, le=60, description=(
        "Silence after 'Shall I call a nurse for you?' before staff are called anyway (medium priority); "
        "counted from when the robot has finished saying the question."))
    help_question_speak_max_s: float = Field(15.0, ge=2, le=60, description=(
        "Longest the help question may take to say; if speech out has not finished it by then (hung), the "
        "silence is counted from here."))


DEFAULT_DIALOGS = Path(__file__).resolve().parent.parent / "dialogs"
HHMM = r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$"


class DialogsSection(Section):
    """Where the dialog packs are, and how sure the engine must be before it acts."""

    path: Path = Field(DEFAULT_DIALOGS, description="Folder holding <language>/pack.yaml.")
    accept: float = Field(0.72, ge=0.3, le=1.0, description="Score at which an intent is acted on.")
    ask_again: float = Field(0.5, ge=0.1, le=1.0, description="Below accept and above this: ask again.")
    min_confidence: float = Field(0.45, ge=0, le=1, description="Recogniser confidence below which to ask again.")


class ScheduledReminder(Section):
    """A daily reminder."""

    time: str = Field(pattern=HHMM)
    kind: Literal["medication", "drink", "meal", "appointment", "activity"]


class ScheduleSection(Section):
    """Daily reminders, wellbeing check-ins and today's activities (local time)."""

    reminders: tuple[ScheduledReminder, ...] = ()
    checkins: tuple[Annotated[str, Field(pattern=HHMM)], ...] = ()
    activities: tuple[Annotated[str, Field(max_length=80)], ...] = Field(
        (), description="Said when asked what's on; staff-written, never about a person.")


# The simulated clock's range: far enough either way for any test, near enough for every date and time
# of it to be representable (a year-1 start, or one in 9999 advanced a day, stopped the simulator dead).
CLOCK_EARLIEST, CLOCK_LATEST = dt.datetime(1971, 1, 1), dt.datetime(2999, 12, 31)


class SimSection(Section):
    """The simulator's clock (robot.clock); `carebot run` on a real robot keeps the machine's own."""

    start: dt.datetime | None = Field(None, ge=CLOCK_EARLIEST, le=CLOCK_LATEST, description=(
        "Local date and time the simulated clock starts at, e.g. 2026-11-27T07:55; unset: now."))
    speed: float = Field(1.0, gt=0, le=3600, description="Seconds of robot time per real second (60: a minute a "
                                                          "second); the loop still ticks at its real rate.")


class LogSection(Section):
    """Structured logs. They never carry names, transcripts or images."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"
    audit_flush_s: float = Field(1.0, ge=0, le=60, description="Audit records are written in batches this often.")
    audit_max_mb: float = Field(256, ge=0.1, le=100000, description="The audit log's files keep at most this much.")


class HealthSection(Section):
    """The board watch: under-voltage, throttling and free space, read off the loop."""

    interval_s: float = Field(2.0, ge=0.05, le=60, description="How often the board is read.")
    clear_after_s: float = Field(30.0, ge=0, le=3600, description="A fault clears after its cause is gone this long.")
    min_free_mb: int = Field(100, ge=0, le=100000, description="Less free space in state_dir is a fault.")
    sys_root: Path = Field(Path("/sys"), description="Where sysfs is (tests point it at a scratch copy).")


class Config(Section):
    """The whole robot configuration."""

    robot: RobotSection = RobotSection()
    loop: LoopSection = LoopSection()
    workers: WorkersSection = WorkersSection()
    servo: ServoSection = ServoSection()
    mqtt: MqttSection = MqttSection()
    privacy: PrivacySection = PrivacySection()
    alerts: AlertsSection = AlertsSection()
    vision: VisionSection = VisionSection()
    dialogs: DialogsSection = DialogsSection()
    speech: SpeechSection = SpeechSection()
    screen: ScreenSection = ScreenSection()
    schedule: ScheduleSection = ScheduleSection()
    quiet_hours: QuietHoursSection = QuietHoursSection()
    behaviour: BehaviourSection = BehaviourSection()
    sim: SimSection = SimSection()
    log: LogSection = LogSection()
    health: HealthSection = HealthSection()
    nursecall: NursecallSection = NursecallSection()
    source: Path | None = Field(None, exclude=True, description="The file this was read from.")


def read_secret(path: Path) -> str:
    """Read a secret from a file named by the config; the value is never logged."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretError(f"cannot read secret file {path}: {exc.strerror}") from None
    if not text:
        raise SecretError(f"secret file {path} is empty")
    return text
