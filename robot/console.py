"""The technician's console for `carebot sim`: typed events in, live state changes out.

Each line is one command. Typed words never reach a log or the audit trail: `say`
only marks that the resident spoke (as typed, skipping recognition).
"""

from __future__ import annotations

import logging
import shlex
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hardware.maestro_protocol import MaestroError

if TYPE_CHECKING:
    from robot.fault_door import FaultDoor
    from robot.runtime import Runtime

HELP = """commands:
  engage | disengage            a person faces the robot / leaves (the state machine told directly)
  person enter|face|turn_away|leave [WHO] [X]   a person on the simulated camera's stage ([vision]
                                scene = "stage", as scenarios use), WHO a name, X 0.05..0.95 across
  say WORDS...                  the resident says something (typed, skips recognition),
                                e.g. say what time is it / say I need a nurse / say stop listening
  play PHRASE | FILE.wav        the simulated microphone plays a resident's phrase (help, yes or no, made
                                with espeak-ng in the robot's language; `play` lists them)
                                or a 16 kHz mono WAV (speech enabled: carebot sim --speech ko)
  hear WORDS...                 the resident says WORDS to the microphone, through speech in (voice activity,
                                grammar, endpointing) with the text-fed recogniser: carebot sim --speech-twins
  button                        the robot's physical button (privacy on and off)
  checkin                       start a wellbeing check-in now
  help                          the resident asks for help
  ack | resolve                 staff acknowledge / resolve the newest open alert
  remind KIND | confirm | decline   a reminder (medication, drink, activity...) and the answer
  pause | resume                staff pause or resume the robot
  privacy on|off                microphone and camera off / on
  quiet on|off                  quiet hours start / end
  gesture NAME                  play a pose or gesture (nod, shake, breathe, sleep...)
  look X Y                      look at a point, -1..1 image coordinates
  unplug | replug | reset       servo-board faults (simulator)
  garbage | errors              junk bytes on the line / set the board's protocol-error bit
  latency MS                    delay the simulated board's replies
  silent on|off                 the board takes every command and answers none (a silent board)
  clock [HH:MM | +MINUTES | speed X]   the simulated clock: show it, advance it to a time of day
                                or by minutes, or run it X times faster than real time
  status                        show state, loop timing and servo positions
  quit                          stop the robot"""

log = logging.getLogger(__name__)
SIMPLE = {"engage", "disengage", "help", "confirm", "decline", "goodbye"}
STAFF = {"ack", "resolve", "pause", "resume"}


def read_stdin(runtime: Runtime, door: FaultDoor | None, stop: threading.Event) -> None:
    """Run the line console on stdin on a thread of its own; `quit` or the end of input sets `stop`."""
    def read() -> None:
        handle_line = runtime.guard.callback("console", handle)  # a bad line never ends the console
        try:
            for raw in sys.stdin.buffer:  # bytes: a line that is not UTF-8 is read with replacements, not fatal
                if handle_line(raw.decode(errors="replace"), runtime, lambda s: print(s, flush=True), door) is False:
                    break
        except Exception:  # stdin itself failed: said, and the robot stops as at the end of input
            log.exception("console: reading standard input failed")
        finally:
            stop.set()

    threading.Thread(target=read, name="console", daemon=True).start()


def handle(line: str, runtime: object, write: Callable[[str], None], door: FaultDoor | None = None) -> bool:
    """Carry out one console line; False when the user asked to quit. `fault ...` lines need the
    fault injector's door (robot.fault_door), open only for tests and benches."""
    from robot.runtime import Runtime  # local: console is optional

    assert isinstance(runtime, Runtime)
    try:
        words = _spoken(line) or shlex.split(line)
    except ValueError as exc:
        write(f"cannot read that line: {exc}")
        return True
    if not words:
        return True
    cmd, args = words[0].lower(), words[1:]
    sim = runtime.sim
    if cmd in ("quit", "exit", "stop"):
        return False
    if cmd in SIMPLE:
        runtime.inject(cmd)
    elif cmd in STAFF:  # as if staff sent it over MQTT
        alert_id = runtime.newest_open_alert() or ""
        if cmd in ("ack", "resolve") and not alert_id:
            write(f"{cmd}: there is no open alert")
        else:
            runtime.inject_command(cmd, {"alert_id": alert_id} if cmd in ("ack", "resolve") else {})
    elif cmd == "say":
        runtime.hear(" ".join(args), typed=True)
    elif cmd == "person" and args and args[0] in ("enter", "face", "turn_away", "leave"):
        _person(args, runtime, write)
    elif cmd == "play":
        _play(args, runtime, write)
    elif cmd == "hear":
        _hear(args, runtime, write)
    elif cmd == "button":
        runtime.press_button()
    elif cmd == "checkin":
        runtime.inject("checkin")
    elif cmd == "remind":
        runtime.inject("remind", kind=args[0] if args else "activity")
    elif cmd in ("privacy", "quiet") and args and args[0] in ("on", "off"):
        if cmd == "privacy":
            runtime.inject("privacy_on" if args[0] == "on" else "privacy_off")
        else:
            runtime.inject("quiet_start" if args[0] == "on" else "quiet_end")
    elif cmd == "gesture" and args:
        runtime.inject_gesture(args[0])
    elif cmd == "look" and len(args) == 2:
        try:
            runtime.inject_look(float(args[0]), float(args[1]))
        except ValueError:
            write("look takes two numbers from -1 to 1, e.g. look 0.5 -0.2")
    elif cmd == "fault":
        if door is None:
            write("fault: fault injection is off (tests and benches set CAREBOT_FAULT_INJECTION=1)")
        else:
            door.handle(args, write)
    elif cmd in ("unplug", "replug", "reset", "garbage", "errors", "latency", "silent"):
        if sim is None:
            write(f"{cmd}: only the simulator can inject faults")
        elif cmd == "unplug":
            sim.unplug()
        elif cmd == "replug":
            sim.replug()
        elif cmd == "reset":
            sim.reset()
        elif cmd == "garbage":
            sim.inject_garbage(bytes((0x13, 0x37, 0x55)))
        elif cmd == "errors":
            sim.inject_errors(MaestroError.SERIAL_PROTOCOL)
        elif cmd == "silent":
            sim.mute = not args or args[0] != "off"
        else:
            try:
                sim.latency_s = float(args[0]) / 1000 if args else 0.0
            except ValueError:
                write("latency takes milliseconds, e.g. latency 20")
    elif cmd == "clock":
        _clock(args, runtime, write)
    elif cmd == "status":
        st = runtime.status()
        loop = st["loop"]
        write(f"state={st['state']} faults={st['facts']['faults']} loop p99={loop['p99_ms']} ms "
              f"max={loop['max_ms']} ms missed={loop['missed_ticks']} fifo={loop['sched_fifo']}")
        if "simulator" in st:
            write("servos " + " ".join(f"{k}={v}" for k, v in st["simulator"]["positions_us"].items()))
        speech = st.get("speech")
        if speech and speech["speech_out_up"]:
            write(f"speech {'muted while speaking' if speech['speech_in_muted'] else 'listening'}, "
                  f"{speech['outstanding']} to say; finished {speech['finished']} failed {speech['failed']} "
                  f"cancelled {speech['cancelled']}")
    elif cmd in ("?", "help!", "commands"):
        write(HELP)
    else:
        write(f"unknown command {cmd!r}; type 'commands' for the list")
    return True


def _person(args: list[str], runtime: Runtime, write: Callable[[str], None]) -> None:
    """A stage direction for the simulated camera (robot.workers.vision)."""
    if runtime.config.vision.scene != "stage" or "vision" not in runtime.worker_specs_names():
        write("person: the simulated camera has no stage; set [vision] scene = \"stage\" (scenarios do)")
        return
    try:
        x = float(args[2]) if len(args) > 2 else 0.5
    except ValueError:
        write("person: X is a number from 0.05 to 0.95, e.g. person enter resident 0.7")
        return
    runtime.supervisor.send("vision", "stage", who=args[1] if len(args) > 1 else "resident", action=args[0],
                            x=min(0.95, max(0.05, x)))


def _clock(args: list[str], runtime: Runtime, write: Callable[[str], None]) -> None:
    """Show, advance or speed up the robot's clock (robot.clock; the simulator's only)."""
    import datetime as dt

    from robot.errors import CareBotError

    clock = runtime.clock
    try:
        if len(args) == 2 and args[0] == "speed":
            clock.set_speed(float(args[1]))
        elif len(args) == 1 and args[0].startswith("+"):
            clock.advance(float(args[0][1:]) * 60)
        elif len(args) == 1:
            clock.advance_to(dt.time.fromisoformat(args[0]))
        elif args:
            raise ValueError("too many words")
    except (ValueError, CareBotError) as exc:
        write(f"clock: {exc}; e.g. clock 09:00, clock +15 or clock speed 60")
        return
    write(f"clock {clock.now():%Y-%m-%d %H:%M:%S} at {clock.speed:g}x")


def _spoken(line: str) -> list[str]:
    """`say` and `hear` with the resident's words as typed (no shell syntax: "I can't get up" has one
    apostrophe); a pair of quotes round them all is dropped. Empty for any other command."""
    head, *rest = line.split(maxsplit=1)[:2] or [""]
    if head.lower() not in ("say", "hear"):
        return []
    text = rest[0].strip() if rest else ""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return [head, *text.split()]


def _hear(args: list[str], runtime: Runtime, write: Callable[[str], None]) -> None:
    """Words the resident says, to the text-fed recogniser through the simulated microphone."""
    if "speech_in" not in runtime.worker_specs_names() or runtime.config.speech.recogniser != "text":
        write("hear: needs speech with the text-fed recogniser (carebot sim --speech-twins, or [speech] "
              "recogniser = \"text\"); with Vosk use `play`, or `say` to skip recognition")
    elif not args:
        write("hear what? e.g. hear I need a nurse")
    else:
        from hardware.recogniser_text import MAX_WORDS, words_of

        if len(words_of(" ".join(args))) > MAX_WORDS:
            write(f"hear: a resident says at most {MAX_WORDS} words at once; the rest are dropped")
        runtime.supervisor.send("speech_in", "hear", text=" ".join(args))


def _play(args: list[str], runtime: Runtime, write: Callable[[str], None]) -> None:
    """Play a ready-made phrase or a WAV file to the simulated microphone."""
    from robot import sim_speech
    from robot.errors import CareBotError

    language = runtime.config.robot.language
    if not args:
        phrases = sim_speech.PHRASES.get(language, {})
        write("play what? " + ", ".join(f"{k} ({v})" for k, v in phrases.items()) + ", or a FILE.wav")
        return
    if "speech_in" not in runtime.worker_specs_names():
        write("play: speech is not enabled; start the simulator with speech, e.g. carebot sim --speech ko")
        return
    path = args[0]
    if not path.lower().endswith(".wav"):
        try:
            path = str(sim_speech.phrase(path, language, runtime.state_dir))
        except CareBotError as exc:
            write(f"play: {exc}")
            return
    if not Path(path).is_file():
        write(f"play: no file {path}")
        return
    runtime.supervisor.send("speech_in", "play", path=path)
