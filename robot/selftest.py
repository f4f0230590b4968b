"""`carebot selftest`: a technician's check of an installed robot, one part at a time.

Each check uses the configured devices the way the robot does and says what it found, or
what is wrong and how to fix it. A failed check never stops the others. Nothing heard or
seen is kept: the microphone level is computed in memory, camera frames are dropped, and
the test sentence is written to a temporary file that is deleted at once (or, with
--audible, played on the sound card). The robot must not be running on the same devices:
the servo port and camera are opened exclusively, and the head moves to neutral.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from robot.config import VOICES, Config

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"
CHECKS = ("config", "storage", "dialogs", "realtime", "workers", "servo", "speech_out", "speech_in", "camera", "mqtt")
SENTENCE = {"en": "This is the CareBot self test.", "de": "Dies ist der Selbsttest von CareBot.",
            "ko": "케어봇 자체 점검입니다."}


@dataclass
class Check:
    """The outcome of one check."""

    name: str
    status: str
    detail: str
    seconds: float = 0.0


class Skip(Exception):
    """This check does not apply to the config (e.g. speech is off)."""


class Warn(Exception):
    """It works, but not as it should on a robot."""


class Fail(Exception):
    """It does not work; the message says why and what to do."""


@dataclass
class Context:
    """What the checks share: the config file, its parsed form, and the options."""

    path: Path
    config: Config | None
    simulate: bool
    audible: bool
    seconds: float


# -- the checks ---------------------------------------------------------------------------------------


def check_config(ctx: Context) -> str:
    from robot.config_load import check_config as problems_in

    problems = problems_in(ctx.path)
    if problems:
        shown = "; ".join(str(p) for p in problems[:3])
        raise Fail(f"{len(problems)} problem(s): {shown}. Run: carebot config check {ctx.path}")
    from robot.config_load import load_config

    ctx.config = load_config(ctx.path)
    cfg = ctx.config
    return (f"{ctx.path}: robot {cfg.robot.id} at site {cfg.robot.site}, room {cfg.robot.room}, "
            f"language {cfg.robot.language}")


def _config(ctx: Context) -> Config:
    if ctx.config is None:
        raise Skip("the config did not load")
    return ctx.config


def check_storage(ctx: Context) -> str:
    from robot.audit import verify

    cfg = _config(ctx)
    state = Path(cfg.robot.state_dir)
    try:
        state.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=state, prefix=".selftest-") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise Fail(f"cannot write to the state directory {state}: {exc.strerror}. It must be writable by the "
                   "robot's user (the systemd unit's StateDirectory makes /var/lib/carebot).") from None
    free_mb = shutil.disk_usage(state).free / 1e6
    audit = state / "audit.jsonl"
    chain = ""
    if audit.exists():
        result = verify(audit)
        if not result.ok:
            raise Fail(f"the audit log {audit} is damaged: {result.problem} (after {result.records} good records)")
        chain = f"; audit log intact ({result.records} records)"
    if free_mb < cfg.mqtt.outbox_min_free_mb:
        raise Warn(f"{state}: only {free_mb:.0f} MB free, below mqtt.outbox_min_free_mb "
                   f"({cfg.mqtt.outbox_min_free_mb} MB): activity events will be dropped (alerts never are){chain}")
    return f"{state} writable, {free_mb:.0f} MB free{chain}"


def check_dialogs(ctx: Context) -> str:
    from robot.dialogs import INTENTS, DialogError, load_pack

    cfg = _config(ctx)
    folder = Path(cfg.dialogs.path) / cfg.robot.language
    try:
        pack = load_pack(folder)
    except DialogError as exc:
        raise Fail(f"{len(exc.problems)} problem(s), first: {exc.problems[0]}. Run: carebot dialogs check {folder}"
                   ) from None
    return f"{folder}: {len(INTENTS)} intents, {len(pack.responses)} responses"


def check_realtime(ctx: Context) -> str:
    from robot.loop import ControlLoop

    cfg = _config(ctx)
    loop = ControlLoop(lambda now_ns, dt: None, cfg.loop.rate_hz, realtime=cfg.loop.realtime,
                       rt_priority=cfg.loop.rt_priority, name="selftest-loop")
    stats = loop.run_for(min(ctx.seconds, 2.0))
    h = stats.histogram.summary()
    text = (f"{cfg.loop.rate_hz} Hz for {min(ctx.seconds, 2.0):.0f} s: lateness p99 {h['p99_ms']} ms, "
            f"max {h['max_ms']} ms, {stats.missed_ticks} missed; SCHED_FIFO {'yes' if stats.realtime else 'no'}")
    if not stats.realtime and cfg.loop.realtime != "off":
        raise Warn(text + ". Real-time scheduling was refused: run as the systemd service (LimitRTPRIO) "
                   "or grant rtprio in /etc/security/limits.d")
    if stats.missed_ticks or float(h["p99_ms"]) > 1.0:
        raise Warn(text + ". The loop is late: is something else loading this board?")
    return text


def check_workers(ctx: Context) -> str:
    from robot.supervisor import Supervisor, WorkerSpec

    cfg = _config(ctx)
    sup = Supervisor([WorkerSpec("selftest", "robot.workers.diagnostic:DiagnosticWorker", {})], cfg.workers)
    sup.start()
    try:
        if not _wait(lambda: any(m.kind == "ready" for m in sup.drain()), cfg.workers.start_timeout_s):
            raise Fail(f"a worker process did not start in {cfg.workers.start_timeout_s:.0f} s")
        t0 = time.monotonic()
        sup.send("selftest", "echo", n=1)
        if not _wait(lambda: any(m.kind == "echo" for m in sup.drain()), 5):
            raise Fail("a worker process started but did not answer")
        rtt = (time.monotonic() - t0) * 1000
    finally:
        sup.stop()
    return f"a supervised worker process starts, answers in {rtt:.1f} ms and stops cleanly"


def check_servo(ctx: Context) -> str:
    from hardware.errors import DeviceUnavailable
    from hardware.maestro_protocol import describe_errors
    from robot.motion import LED_OFF_US, LED_ON_US
    from robot.servo_cli import open_session

    cfg = _config(ctx)
    simulated = ctx.simulate or cfg.servo.driver == "sim"
    where = "the simulated board" if simulated else cfg.servo.port
    try:
        with open_session(cfg, ctx.simulate) as (session, _):
            errors = session._locked(session.bus.read_errors)
            found = []
            for c in cfg.servo.channels:
                if c.role == "led":
                    session.hold(c.channel, LED_ON_US)
                    time.sleep(0.3)
                    session.hold(c.channel, LED_OFF_US)
                    found.append(f"{c.name} LED blinked")
                    continue
                session.hold(c.channel, c.neutral_us)
            session.settle(5.0)
            off = []
            for c in cfg.servo.channels:
                if c.role != "led":
                    at = session.position(c.channel)
                    found.append(f"{c.name} {at:.0f} µs")
                    if abs(at - c.neutral_us) > 5:
                        off.append(f"{c.name} at {at:.0f} µs, not its neutral {c.neutral_us:.0f} µs")
    except DeviceUnavailable as exc:
        raise Fail(f"{exc}. Check the USB cable and power, the port (ls /dev/serial/by-id/), that the robot is "
                   "not running, and that this user is in the dialout group") from None
    errs = describe_errors(errors)
    if off:
        raise Fail(f"{where}: " + "; ".join(off) + ". Check the servo's power and its speed limits")
    text = f"{where}: " + ", ".join(found)
    if errs:
        raise Warn(text + f"; the board had reported: {', '.join(errs)} (read and cleared)")
    return text + "; no board errors"


def check_speech_out(ctx: Context) -> str:
    from hardware.tts import Speaker, SpeechError

    cfg = _config(ctx)
    wanted = cfg.speech.voice or VOICES[cfg.robot.language]
    sentence = SENTENCE[cfg.robot.language]
    try:
        speaker = Speaker(wanted, pitch=cfg.speech.pitch)
    except (ImportError, OSError, RuntimeError) as exc:
        raise Fail(f"pyttsx3 could not start espeak-ng: {exc}. Install it: apt-get install espeak-ng") from None
    if speaker.voice is None:
        raise Fail(f"espeak-ng has no voice for {wanted!r}; `espeak-ng --voices` lists them; set speech.voice")
    t0 = time.monotonic()
    try:
        if ctx.audible:
            speaker.say(sentence, cfg.speech.rate_wpm, cfg.speech.volume)
            return f"voice {speaker.voice} said the test sentence on the sound card: did you hear it?"
        with tempfile.TemporaryDirectory(prefix="carebot-selftest-") as tmp:
            seconds = speaker.say(sentence, cfg.speech.rate_wpm, cfg.speech.volume, Path(tmp) / "say.wav")
    except SpeechError as exc:
        raise Fail(str(exc)) from None
    took = time.monotonic() - t0
    return (f"voice {speaker.voice}, {cfg.speech.rate_wpm} wpm: {seconds:.1f} s of speech made in {took:.2f} s "
            "(add --audible to hear it)")


def check_speech_in(ctx: Context) -> str:
    cfg = _config(ctx)
    s = cfg.speech
    if not s.enabled:
        raise Skip("speech.enabled is false")
    from robot import models
    from robot.asr import build_grammar
    from robot.dialog_engine import DialogEngine
    from robot.dialogs import load_pack

    if s.model is None or not Path(s.model).is_dir():
        raise Fail(models.missing_model_message(Path(str(s.model))).replace("\n", " "))
    problems = models.verify(Path(s.model)) if (Path(s.model) / models.MANIFEST).exists() else []
    if problems:
        raise Fail(f"the model {s.model} is damaged: {'; '.join(problems[:3])}. "
                   "Reinstall it with carebot model install")
    import vosk

    vosk.SetLogLevel(-1)
    t0 = time.monotonic()
    try:
        model = vosk.Model(str(s.model))
    except Exception as exc:  # vosk raises a bare Exception for a bad model folder
        raise Fail(f"Vosk could not load {s.model}: {exc}") from None
    load_s = time.monotonic() - t0
    engine = DialogEngine(load_pack(Path(cfg.dialogs.path) / cfg.robot.language))
    phrases = sorted({p for ctx_name in ("open", "reminder", "wellbeing", "privacy") for p in engine.grammar(ctx_name)})
    grammar = build_grammar(phrases, model)
    text = (f"model {s.model} loaded in {load_s:.1f} s; "
            f"{len(grammar.phrases)}/{len(phrases)} pack phrases in its vocabulary")
    if s.source == "sim":
        mic = "microphone: the simulator's (WAV files)"
    else:
        mic = _microphone(s.device)
    text += f"; {mic}"
    if grammar.missing:
        words = ", ".join(sorted(grammar.missing)[:6])
        raise Warn(f"{text}; words the model lacks (those phrases cannot be heard): {words}")
    return text


def _microphone(device: str) -> str:
    """Level of one second from the microphone, computed in memory and dropped."""
    import numpy as np

    if shutil.which("arecord") is None:
        raise Fail("arecord is missing: apt-get install alsa-utils")
    try:
        run = subprocess.run(["arecord", "-q", "-D", device, "-f", "S16_LE", "-r", "16000", "-c", "1", "-t", "raw",
                              "-d", "1"], capture_output=True, timeout=5)
    except subprocess.TimeoutExpired:
        raise Fail(f"the microphone {device!r} gave no audio in 5 s") from None
    if run.returncode != 0 or len(run.stdout) < 16000:
        why = run.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no audio"]
        raise Fail(f"cannot record from {device!r}: {why[0]}. `arecord -L` lists devices; set speech.device")
    pcm = np.frombuffer(run.stdout, np.int16).astype(np.float64)
    rms = float(np.sqrt(np.mean(pcm ** 2)))
    del pcm, run
    if rms < 1.0:
        raise Warn(f"the microphone {device!r} gives pure silence: is it muted (alsamixer)?")
    return f"microphone {device!r} level {20 * np.log10(rms / 32768):.0f} dBFS"


def check_camera(ctx: Context) -> str:
    from hardware.camera import CameraUnavailable
    from robot.vision import DetectorUnavailable, make_detector
    from robot.workers.vision import make_camera

    cfg = _config(ctx)
    v = cfg.vision
    if not v.enabled:
        raise Skip("vision.enabled is false: the robot runs voice-only")
    options = v.worker_options()
    camera = make_camera(options)
    try:
        camera.open()
        t0 = time.monotonic()
        frames = 0
        frame = None
        while frames < 10 and time.monotonic() - t0 < 5:
            frame = camera.read()
            frames += 1
        fps = frames / max(1e-6, time.monotonic() - t0)
    except CameraUnavailable as exc:
        raise Fail(f"{exc}. Check the cable, `ls /dev/video*`, that the robot is not running, and that this user "
                   "is in the video group") from None
    finally:
        camera.close()
    assert frame is not None
    shape = f"{frame.shape[1]}x{frame.shape[0]}"
    try:
        detector = make_detector(v.detector, v.width, v.height, Path(v.yunet_model) if v.yunet_model else None)
    except DetectorUnavailable as exc:
        raise Fail(str(exc)) from None
    faces = len(detector.detect(frame))
    del frame  # never kept, never written
    return (f"{options.get('camera', 'v4l2')} camera: {shape} at {fps:.0f} fps; "
            f"{v.detector} detector ready ({faces} face(s) in view)")


def check_mqtt(ctx: Context) -> str:
    cfg = _config(ctx)
    m = cfg.mqtt
    if not m.enabled:
        raise Skip("mqtt.enabled is false: alerts reach no one but this robot's log")
    import queue

    from robot.events import Topics
    from robot.mqtt_link import new_client

    topics = Topics(cfg.robot.site, cfg.robot.id)
    events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    # Its own client id, so that a running robot is not thrown off the broker.
    client = new_client(m, f"carebot-{cfg.robot.site}-{cfg.robot.id}-selftest")
    client.on_connect = lambda c, u, f, rc, p: events.put(("connect", rc))
    client.on_subscribe = lambda c, u, mid, rcs, p: events.put(("suback", rcs))
    t0 = time.monotonic()
    try:
        client.connect(m.host, m.port, keepalive=m.keepalive_s)
    except OSError as exc:
        hint = ("check mqtt.ca_file and that the broker's certificate names " + m.host) if "CERTIFICATE" in str(
            exc).upper() else "check mqtt.host and port, and that mosquitto is running"
        raise Fail(f"cannot reach the broker {m.host}:{m.port}: {exc}; {hint}") from None
    client.loop_start()
    try:
        kind, rc = _next(events, 10)
        if kind is None:
            raise Fail(f"the broker {m.host}:{m.port} did not answer in 10 s")
        if rc.is_failure:
            raise Fail(f"the broker refused {m.username or 'an anonymous login'}: {rc}. Check mqtt.username and "
                       "the password file against scripts/broker-setup.sh's accounts")
        connect_ms = (time.monotonic() - t0) * 1000
        client.subscribe(topics.commands, qos=1)
        kind, rcs = _next(events, 5)
        if kind != "suback" or any(r.is_failure for r in rcs):
            raise Fail(f"the broker would not let {m.username} receive its commands ({topics.commands}): "
                       "check the ACL (scripts/broker-setup.sh)")
    finally:
        client.disconnect()
        client.loop_stop()
    return (f"{m.host}:{m.port} {'TLS verified' if m.tls else 'WITHOUT TLS'}, logged in as {m.username} in "
            f"{connect_ms:.0f} ms; staff commands can reach it")


def _next(events: Any, timeout: float) -> tuple[Any, Any]:
    import queue

    try:
        return tuple(events.get(timeout=timeout))  # type: ignore[return-value]
    except queue.Empty:
        return None, None


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


RUNNERS: dict[str, Callable[[Context], str]] = {
    "config": check_config, "storage": check_storage, "dialogs": check_dialogs, "realtime": check_realtime,
    "workers": check_workers, "servo": check_servo, "speech_out": check_speech_out,
    "speech_in": check_speech_in, "camera": check_camera, "mqtt": check_mqtt,
}


def run(ctx: Context, only: list[str], out: TextIO | None) -> list[Check]:
    """Run the checks in order; print each as it finishes when `out` is given."""
    names = [n for n in CHECKS if n == "config" or not only or n in only]
    results = []
    live = out is not None and out.isatty()
    for i, name in enumerate(names, 1):
        if live:
            print(f"[{i:2d}/{len(names)}] {name:10s} ...", end="", file=out, flush=True)
        t0 = time.monotonic()
        try:
            status, detail = PASS, RUNNERS[name](ctx)
        except Skip as exc:
            status, detail = SKIP, str(exc)
        except Warn as exc:
            status, detail = WARN, str(exc)
        except Fail as exc:
            status, detail = FAIL, str(exc)
        except Exception as exc:  # a check that breaks is a failed check, never a traceback
            status, detail = FAIL, f"{type(exc).__name__}: {exc}"
        result = Check(name, status, detail, round(time.monotonic() - t0, 2))
        results.append(result)
        if out is not None:
            print(f"{chr(13) if live else ''}[{i:2d}/{len(names)}] {name:10s} {status}  {detail}", file=out, flush=True)
    return results


def cmd_selftest(args: argparse.Namespace) -> int:
    """Check every part of the robot; exit 1 if any check failed."""
    from robot.cli import default_config

    unknown = [n for n in args.only or [] if n not in CHECKS]
    if unknown:
        print(f"carebot selftest: no check {', '.join(unknown)}; checks: {', '.join(CHECKS)}", file=sys.stderr)
        return 2
    ctx = Context(Path(args.config or default_config()), None, args.sim, args.audible, args.seconds)
    results = run(ctx, args.only or [], None if args.json else sys.stdout)
    failed = [r for r in results if r.status == FAIL]
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(r) for r in results]}, indent=1, ensure_ascii=False))
    else:
        counts = {s: sum(r.status == s for r in results) for s in (PASS, WARN, FAIL, SKIP)}
        print(", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n) + (": fix the failures above" if failed
                                                                              else ": ready"))
    return 1 if failed else 0


def add_parser(sub: Any, with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]) -> None:
    text = "check every part of the robot: config, storage, dialogs, timing, workers, servos, speech, camera, MQTT"
    p = with_config(sub.add_parser("selftest", help=text, description=text + ". Stop the robot first."))
    p.add_argument("--sim", action="store_true", help="use the simulated servo board instead of the configured one")
    p.add_argument("--only", nargs="+", metavar="CHECK", help=f"run only these checks ({', '.join(CHECKS)})")
    p.add_argument("--audible", action="store_true", help="say the test sentence on the sound card")
    p.add_argument("--seconds", type=float, default=2.0, help="how long the timing check runs")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_selftest)
