"""`carebot selftest`, the device checks: servos, speech out and in, camera, the staff broker.

Each opens the configured device the way the robot does, says what it found, or what is
wrong and how to fix it. Nothing heard or seen is kept (see robot.selftest).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from robot.config import VOICES
from robot.selftest_base import Context, Fail, Skip, Warn, config_of

SENTENCE = {"en": "This is the CareBot self test.", "de": "Dies ist der Selbsttest von CareBot.",
            "ko": "케어봇 자체 점검입니다."}


def check_servo(ctx: Context) -> str:
    from hardware.errors import DeviceUnavailable, HardwareError
    from robot.devices import make_servos

    cfg = config_of(ctx)
    simulated = ctx.simulate or cfg.servo.driver == "sim"
    where = "the simulated board" if simulated else cfg.servo.port
    servos, sim = make_servos(cfg, simulate=ctx.simulate)
    try:
        found = servos.probe()
    except DeviceUnavailable as exc:
        raise Fail(f"{exc}. Check the USB cable and power, the port (ls /dev/serial/by-id/), that the robot is "
                   "not running, and that this user is in the dialout group") from None
    except HardwareError as exc:
        raise Fail(f"{where}: {exc}") from None
    finally:
        if sim is not None:
            sim.stop()
    if found.warning:
        raise Warn(f"{where}: {found.detail}; {found.warning}")
    return f"{where}: {found.detail}"


def check_speech_out(ctx: Context) -> str:
    from hardware.speech_devices import make_synthesiser
    from hardware.tts import SpeechError

    cfg = config_of(ctx)
    wanted = cfg.speech.voice or VOICES[cfg.robot.language]
    sentence = SENTENCE[cfg.robot.language]
    try:
        speaker = make_synthesiser(cfg.speech.synthesiser, wanted, cfg.speech.pitch)
    except (ImportError, OSError, RuntimeError) as exc:
        raise Fail(f"pyttsx3 could not start espeak-ng: {exc}. Install it: apt-get install espeak-ng") from None
    if cfg.speech.synthesiser == "sim":
        raise Warn(f"{speaker.probe(sentence, cfg.speech.rate_wpm).detail}: a simulation, the robot makes no "
                   "sound; a robot needs speech.synthesiser = 'espeak'")
    try:
        if ctx.audible:
            if speaker.voice is None:
                raise SpeechError(f"espeak-ng has no voice for {wanted!r}; `espeak-ng --voices` lists them")
            speaker.say(sentence, cfg.speech.rate_wpm, cfg.speech.volume)
            return f"voice {speaker.voice} said the test sentence on the sound card: did you hear it?"
        found = speaker.probe(sentence, cfg.speech.rate_wpm)
    except SpeechError as exc:
        raise Fail(f"{exc}{'; set speech.voice' if speaker.voice is None else ''}") from None
    return f"{found.detail} (add --audible to hear it)"


def check_loudspeaker(ctx: Context) -> str:
    """The sound card speech plays on opens and plays a tenth of a second of silence to the end."""
    from hardware.sound_out import SoundError, probe

    s = config_of(ctx).speech
    if not s.enabled:
        raise Skip("speech.enabled is false: the robot does not speak")
    if s.out_dir is not None:
        raise Skip(f"speech goes to WAV files in {s.out_dir} (speech.out_dir), not to a loudspeaker")
    device = "sim" if ctx.simulate else s.playback_device
    try:
        found = probe(device)
    except SoundError as exc:
        raise Fail(f"{exc}. `aplay -L` lists the devices: set speech.playback_device, and check that this user is "
                   "in the audio group and that nothing else holds the card") from None
    if device == "sim" and not ctx.simulate:
        raise Warn(f"the simulated sound card {found.detail}: the robot makes no sound; set speech.playback_device "
                   "to the ALSA device")
    return f"{'the simulated sound card' if device == 'sim' else 'ALSA device'} {found.detail}"


def check_speech_in(ctx: Context) -> str:
    cfg = config_of(ctx)
    s = cfg.speech
    if not s.enabled:
        raise Skip("speech.enabled is false")
    from robot import models
    from robot.asr import build_grammar
    from robot.dialog_engine import DialogEngine
    from robot.dialogs import load_pack

    if s.recogniser == "text":
        from hardware.recogniser_text import TextRecogniser

        raise Warn(f"{TextRecogniser(s.alternatives).probe().detail}: a simulation, it hears only words typed "
                   "to the simulator; a robot needs speech.recogniser = 'vosk'")
    if s.model is None or not Path(s.model).is_dir():
        raise Fail(models.missing_model_message(Path(str(s.model))).replace("\n", " "))
    problems = models.verify(Path(s.model)) if (Path(s.model) / models.MANIFEST).exists() else []
    if problems:
        raise Fail(f"the model {s.model} is damaged: {'; '.join(problems[:3])}. "
                   "Reinstall it with carebot model install")
    from hardware.errors import DeviceUnavailable
    from hardware.recogniser import VoskRecogniser

    recogniser = VoskRecogniser(Path(s.model))
    t0 = time.monotonic()
    try:
        recogniser.open()
    except DeviceUnavailable as exc:
        raise Fail(str(exc)) from None
    load_s = time.monotonic() - t0
    engine = DialogEngine(load_pack(Path(cfg.dialogs.path) / cfg.robot.language))
    phrases = sorted({p for ctx_name in ("open", "reminder", "wellbeing", "privacy") for p in engine.grammar(ctx_name)})
    grammar = build_grammar(phrases, recogniser.knows)
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
    from hardware.errors import DeviceUnavailable
    from hardware.microphone import AlsaMicrophone

    if shutil.which("arecord") is None:
        raise Fail("arecord is missing: apt-get install alsa-utils")
    try:
        found = AlsaMicrophone(device).probe()
    except DeviceUnavailable as exc:
        raise Fail(f"cannot record from {device!r}: {exc}. `arecord -L` lists devices; set speech.device") from None
    if found.warning:
        raise Warn(f"the microphone {device!r} {found.warning}")
    return f"microphone {device!r} {found.detail}"


def check_camera(ctx: Context) -> str:
    from hardware.camera import CameraUnavailable
    from hardware.errors import HardwareError
    from robot.workers.devices import make_camera, make_detector

    cfg = config_of(ctx)
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
        detector.probe()  # it must find the face in the test photograph, or "no face in view" means nothing
    except HardwareError as exc:
        raise Fail(str(exc)) from None
    faces = len(detector.detect(frame))
    del frame  # never kept, never written
    return (f"{options.get('camera', 'v4l2')} camera: {shape} at {fps:.0f} fps; "
            f"{v.detector} detector ready ({faces} face(s) in view)")


def check_mqtt(ctx: Context) -> str:
    cfg = config_of(ctx)
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


def check_nursecall(ctx: Context) -> str:
    """The ESPA 4.4.4 line to the paging system: with --sim a test call to the simulated one; else a poll only."""
    import serial

    from hardware import espa
    from hardware.espa_sim import PagingSystem, PtyPagingSystem
    from robot.nursecall_line import link_settings

    nc = config_of(ctx).nursecall
    if not nc.enabled and not ctx.simulate:
        raise Skip("[nursecall] is not enabled (carebot nursecall pages alerts to the home's paging system)")
    settings = link_settings(nc)  # the gateway's own, wire time included
    if ctx.simulate:
        system = PagingSystem(address=nc.paging_address, peer=nc.own_address,
                              role="slave" if nc.role == "master" else "master", poll_interval_s=nc.poll_interval_s)
        with PtyPagingSystem(system, baud=nc.baud) as sim, serial.Serial(sim.port, nc.baud, timeout=0.02) as port:
            t0 = time.monotonic()
            espa.Link(port, settings).send(espa.call_block(nc.call_address["high"], "CareBot selftest, no action",
                                                           priority=nc.priority["high"]))
            took = (time.monotonic() - t0) * 1000
        call = system.calls[0]
        return (f"the simulated paging system ({nc.role} role on our side, {nc.baud} baud) took a test call to "
                f"{call.address}, priority {call.priority}, '{call.text}' in {took:.0f} ms")
    bits, parity, stop = int(nc.framing[0]), nc.framing[1], int(nc.framing[2])
    try:
        port = serial.Serial(nc.port, nc.baud, bytesize=bits, parity=parity, stopbits=stop, timeout=0.02)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise Fail(f"cannot open {nc.port}: {exc}. Is the gateway running on it, or the adapter unplugged?") from None
    with port:
        wait = nc.response_timeout_s if nc.role == "master" else 3 * nc.poll_interval_s + nc.response_timeout_s
        if not espa.Link(port, settings).probe(wait):
            raise Fail(f"no answer on {nc.port} ({nc.baud} {nc.framing}, {nc.role}) within {wait:.1f} s: check the "
                       f"cable, baud rate, framing and addresses ({nc.own_address} here, {nc.paging_address} there)")
    return (f"{nc.port}: the paging system answers ({nc.baud} {nc.framing}, {nc.role}); no call was sent "
            "(run with --sim for a test call to the simulator)")
