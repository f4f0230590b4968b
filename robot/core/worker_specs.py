"""Which worker processes the config asks for, and the plain options each is spawned with."""

from __future__ import annotations

import os

from hardware.far_ring import ring_path
from robot.config import VOICES, Config
from robot.core.screen import screen_worker
from robot.supervisor import WorkerSpec


def default_workers(config: Config) -> list[WorkerSpec]:
    """The worker processes the config asks for."""
    specs = []
    s = config.speech
    ring = str(ring_path(os.getpid())) if s.barge_in else None  # speech out's played audio, to speech in
    if s.enabled:
        specs.append(WorkerSpec("speech_in", "robot.workers.speech_in:SpeechInWorker", {
            "model": str(s.model), "recogniser": s.recogniser, "source": s.source, "device": s.device,
            "endpoint_s": s.endpoint_s, "vad_aggressiveness": s.vad_aggressiveness, "min_rms": s.min_rms,
            "alternatives": s.alternatives,
            "barge_in": s.barge_in, "aec": s.echo_cancel, "far_ring": ring,
            "room": {"delay_ms": s.room_delay_ms, "attenuation_db": s.room_attenuation_db,
                     "noise_db": s.room_noise_db}}))
        specs.append(WorkerSpec("speech_out", "robot.workers.speech_out:SpeechOutWorker", {
            "synthesiser": s.synthesiser, "voice": s.voice or VOICES[config.robot.language], "pitch": s.pitch,
            "out_dir": str(s.out_dir) if s.out_dir else None, "playback_device": s.playback_device, "far_ring": ring}))
    if config.vision.enabled:
        specs.append(WorkerSpec("vision", "robot.workers.vision:VisionWorker", config.vision.worker_options()))
    if config.screen.enabled:
        specs.append(screen_worker(config))
    return specs
