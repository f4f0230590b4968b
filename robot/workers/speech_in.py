"""The speech-in worker: 16 kHz audio -> webrtcvad -> Vosk, in its own process.

Audio comes from the microphone (ALSA's arecord) or, in the simulator, from WAV files
played in real time. 30 ms frames go through voice activity detection; 0.5 s of pre-roll
is kept so the start of a word is not lost. Once speech starts, Vosk gets 150 ms chunks
with the current dialog state's grammar, partial results go out as they change, and the
utterance ends after `endpoint_s` of trailing silence (0.8 s by default: older speakers
pause mid-sentence). The final result carries word confidences and alternatives.
No audio leaves this process and none is written anywhere.

Barge-in (`barge_in` on): while the robot speaks, listening goes on. The robot's own voice,
known sample for sample (the far end, placed on the shared monotonic clock when its playback
starts), is taken out of the microphone signal by libspeexdsp's echo canceller before VAD and
Vosk, and only the barge-in grammar (the packs' stop words and help phrases) is active. A stop
word, heard in a partial result already, is reported at once as `barge_in`; a final result
during speech is sent as an utterance marked `barge_in`, which the control process passes on
only if it calls for help. In the simulator the microphone hears the far end through a
configurable room (hardware/room.py), mixed with the WAV files played as the resident.
Without barge-in, speech in is muted while the robot speaks (half duplex).
"""

from __future__ import annotations

import collections
import math
import time
from pathlib import Path

import numpy as np

from hardware.audio import wav_pcm16k
from hardware.echo import EchoCanceller, FarEnd
from hardware.errors import DeviceUnavailable, HardwareError
from hardware.far_ring import FarRing, FarRingError
from hardware.microphone import FRAME_BYTES, FRAME_S, RATE, WavMicrophone, make_microphone
from hardware.recogniser_text import TextRecogniser
from hardware.room import Room, pcm
from hardware.speech_devices import make_recogniser
from robot.asr import build_grammar, has_unk
from robot.messages import Message
from robot.models import missing_model_message
from robot.worker import Worker

CHUNK_FRAMES = 5          # 150 ms to Vosk at a time
START_FRAMES = 3          # 90 ms of speech starts an utterance
PREROLL_S = 0.5
MAX_UTTERANCE_S = 15.0
STOP_VOTES = 2
LEARN_S = 2.0  # of the robot's voice, for the canceller to learn the room (measured: 5-11 dB left after 1 s)


class SpeechInWorker(Worker):
    """Listens, detects speech, recognises it with the current grammar, reports utterances."""

    poll_s = 0.01

    def setup(self) -> None:
        import webrtcvad

        o = self.options
        model_path = Path(str(o.get("model", "")))
        self.recogniser = make_recogniser(str(o.get("recogniser", "vosk")), model_path, int(o.get("alternatives", 3)))
        self.ready = False  # the model is loaded
        try:
            self.recogniser.open()
            self.ready = True
        except DeviceUnavailable as exc:
            installed = (model_path / "am" / "final.mdl").is_file()
            detail = str(exc) if installed else missing_model_message(model_path)
            self.send("speech_fault", reason="model_missing", detail=detail[:400])
        self.vad = webrtcvad.Vad(int(o.get("vad_aggressiveness", 2)))
        self.endpoint_s = float(o.get("endpoint_s", 0.8))
        self.min_rms = float(o.get("min_rms", 150.0))
        self.grammar: list[str] | None = None
        self.muted = False
        self.source = str(o.get("source", "sim"))
        self.wav = WavMicrophone()  # the simulator's: the resident's WAV files
        self.mic = make_microphone(str(o.get("source", "sim")), str(o.get("device", "default")), self.wav)
        self.audio_t = 0.0  # seconds of audio processed: the clock the utterance times are in
        self.barge_in = bool(o.get("barge_in", False))
        self.speaking = False  # the robot is speaking (barge-in mode)
        self.barge_grammar: list[str] | None = None
        self.stop_words: list[tuple[str, ...]] = []
        self.stopped_at = 0.0  # when a stop word was reported; answered by `far_end_stop`
        self.stop_after_s = 0.0
        self.far = FarEnd()
        self.aec = EchoCanceller() if self.barge_in and o.get("aec", True) else None
        self.room = Room(**dict(o.get("room") or {}))
        # on the robot, speech out hands over what the sound card plays through shared memory
        ring = o.get("far_ring") if self.aec is not None and self.source == "alsa" else None
        self.ring: FarRing | None = None
        if ring:
            try:
                self.ring = FarRing(Path(str(ring)))
            except FarRingError as exc:  # no reference: deaf while the robot speaks (LEARN_S), as half duplex
                self.send("speech_fault", reason="far_ring", detail=str(exc)[:200])
        self.mic_t0 = 0.0  # the simulated microphone's clock: frame k was captured at mic_t0 + k * FRAME_S
        self.mic_frames = 0
        self.learned_s = 0.0  # seconds of the robot's voice the canceller has learnt from
        self._reset()
        self.microphone = False
        self._microphone(bool(o.get("microphone", True)))  # closed from the start when privacy closed it

    def _microphone(self, on: bool) -> None:
        """Open or close the microphone itself: closed, no audio is captured at all."""
        if on == self.microphone:
            return
        self.microphone = on
        if not on:
            self.mic.close()
            self._reset()
        else:
            self.mic.open()

    def _reset(self) -> None:
        self.preroll: collections.deque[bytes] = collections.deque(maxlen=int(PREROLL_S / FRAME_S))
        self.in_speech = False
        self.speech_run = 0
        self.silence_run = 0
        self.pending = bytearray()
        self.partial = ""
        self.started_at = 0.0
        self.last_speech_end = 0.0
        self.over_robot = False  # the robot spoke during this utterance: only stop and help count
        self.stopped = False  # ...and its stop has been acted on
        self.stop_votes = 0

    def handle(self, msg: Message) -> None:
        if msg.kind == "grammar":
            self._set_grammar(list(msg.data.get("phrases") or []))
        elif msg.kind == "barge_grammar":
            self._set_barge_grammar(list(msg.data.get("phrases") or []), list(msg.data.get("stop") or []))
        elif msg.kind == "mute":  # the robot starts or stops speaking
            on = bool(msg.data.get("on", True))
            if self.barge_in:
                if on != self.speaking:
                    self.speaking = on
                    if on and self.in_speech:  # the robot talks over an utterance that began before it: it
                        self.over_robot = True  # may be a call for help, so it goes on, as one heard over it
            else:
                self.muted = on
                if on:
                    self._reset()
        elif msg.kind == "far_end":
            self._far_end(str(msg.data["path"]), float(msg.data["t0"]))
        elif msg.kind == "far_end_stop":
            self.far.clear()
            if self.stopped_at:
                latency = time.monotonic() - self.stopped_at
                self.send("barge_in_silenced", latency_ms=round(latency * 1000, 1),
                          from_word_end_ms=round((latency + self.stop_after_s) * 1000, 1))
                self.stopped_at = 0.0
        elif msg.kind == "microphone":
            self._microphone(bool(msg.data.get("on", True)))
        elif msg.kind == "play":
            if not self.microphone:
                return  # the simulated microphone is closed too: nothing reaches it
            self._play(Path(str(msg.data["path"])), bool(msg.data.get("realtime", True)))
        elif msg.kind == "hear":
            self._hear(str(msg.data["text"]), msg.data.get("confidence"), bool(msg.data.get("realtime", True)))
        else:
            super().handle(msg)

    def _set_grammar(self, phrases: list[str]) -> None:
        if not self.ready:
            return
        if not phrases:
            self.grammar = None  # free-form recognition
            return
        grammar = build_grammar(phrases, self.recogniser.knows)
        if grammar.missing:
            self.send("grammar_missing", words=sorted(grammar.missing)[:32])
        unk = has_unk(self.recogniser.knows)
        if not grammar.phrases and not unk:
            return  # Vosk crashes (SIGSEGV) on an empty grammar: keep the one we have
        self.grammar = grammar.listed(unk=unk)

    def _set_barge_grammar(self, phrases: list[str], stop: list[str]) -> None:
        if not self.ready:
            return
        grammar = build_grammar(phrases + stop, self.recogniser.knows)
        self.barge_grammar = grammar.listed(unk=has_unk(self.recogniser.knows))
        self.stop_words = [tuple(p.split()) for p in stop if p in grammar.phrases]

    def _far_end(self, path: str, t0: float) -> None:
        """The robot's sentence starts playing at `t0`: it becomes the canceller's reference."""
        if not self.barge_in:
            return
        try:
            self.far.add(t0, wav_pcm16k(path))
        except (OSError, EOFError, ValueError) as exc:  # cancellation is lost for this sentence, not listening
            self.send("speech_fault", reason="far_end", detail=str(exc)[:200])

    def _hear(self, text: str, confidence: float | None, realtime: bool) -> None:
        """Words typed for the resident: the text-fed recogniser queues them, its sound goes to the microphone."""
        if not isinstance(self.recogniser, TextRecogniser) or not self.microphone:
            return  # Vosk hears only sound (the console says so first); a closed microphone hears nothing
        # its sound plays after what the microphone still has queued (an earlier `hear`): timed from then
        start = time.monotonic() + len(self.wav.queue) * FRAME_S
        sound = self.recogniser.hear(text, None if confidence is None else float(confidence), start)
        self._played(self.wav.play_pcm(sound, realtime))

    def _play(self, path: Path, realtime: bool) -> None:
        try:
            seconds = self.wav.play(path, realtime)
        except HardwareError as exc:
            self.send("speech_fault", reason="bad_wav", detail=str(exc)[:200])
            return
        self._played(seconds)

    def _played(self, seconds: float) -> None:
        if self.barge_in and self.source == "sim":  # the room's clock plays it (with the robot's own voice)
            return
        self.send("playing", t0=self.wav.started, seconds=round(seconds, 3))

    def step(self) -> None:
        for frame in self._frames():
            self.audio_t += FRAME_S
            if not self.muted and self.ready:
                self._frame(frame)

    def _frames(self) -> list[bytes]:
        if self.source == "alsa":
            frames = self.mic.frames()
            if self.aec is None or not frames:
                return frames
            t = time.monotonic() - FRAME_S * len(frames)  # when the first was captured, less arecord's period
            self._pull_far_end(time.monotonic())
            return [self._cancel(f, t + i * FRAME_S) for i, f in enumerate(frames)]
        if self.barge_in:
            return self._room_frames()
        return self.mic.frames()

    def _room_frames(self) -> list[bytes]:
        """The simulated microphone: the far end through the room, the resident's WAV, noise; in real time."""
        now = time.monotonic()
        if not self.microphone:  # closed for privacy: nothing is heard, not even the robot
            self.mic_t0 = 0.0
            return []
        if self.mic_t0 == 0.0:
            if not self.wav.queue and not self.far.active(now):
                return []  # nothing plays: the room is silent and the clock rests
            self.mic_t0, self.mic_frames = now, 0
        out = []
        while self.mic_t0 + (self.mic_frames + 1) * FRAME_S <= now:
            t = self.mic_t0 + self.mic_frames * FRAME_S
            n = FRAME_BYTES // 2
            mic = sum((g * self.far.window(t, n, back=d) for d, g in self.room.taps()), np.zeros(n))
            voice = self.wav.take()
            if voice is not None:
                mic += np.frombuffer(voice, np.int16)
            mic += self.room.noise(n, self.mic_frames)
            frame = pcm(mic)
            out.append(self._cancel(frame, t) if self.aec is not None else frame)
            self.mic_frames += 1
        if not self.wav.queue and not self.far.active(now):
            self.mic_t0 = 0.0
        return out

    def _pull_far_end(self, now: float) -> None:
        """The blocks the sound card was given since the last frame (speech out's ring) onto the timeline."""
        if self.ring is None:
            return
        blocks, cut = self.ring.read()
        if cut is not None:
            self.far.cut(cut)
        for t0, block in blocks:
            self.far.add(t0, block)
        self.far.active(now)  # forgets what has long been played

    def _cancel(self, frame: bytes, t: float) -> bytes:
        """The frame captured at `t` less the echo of what the speaker played then."""
        assert self.aec is not None
        far = self.far.window(t, len(frame) // 2)
        if far.any():
            self.learned_s += FRAME_S
        return self.aec.process(frame, pcm(far))

    def _frame(self, frame: bytes) -> None:
        # VAD plus an energy floor: webrtcvad keeps saying "speech" for a while after a voice
        # stops, which would stretch every endpoint; quiet frames are not speech.
        samples = memoryview(frame).cast("h")
        rms = math.sqrt(sum(s * s for s in samples[::4]) / (len(samples) // 4))
        speech = rms >= self.min_rms and self.vad.is_speech(frame, RATE)
        if self.speaking and self.aec is not None and self.learned_s < LEARN_S:
            speech = False  # the canceller is still learning the room: its echo would read as words
        if not self.in_speech:
            self.preroll.append(frame)
            self.speech_run = self.speech_run + 1 if speech else 0
            if self.speech_run >= START_FRAMES:
                self.in_speech = True
                self.started_at = self.audio_t - len(self.preroll) * FRAME_S
                self.over_robot = self.speaking
                self.recogniser.begin(self.barge_grammar if self.speaking else self.grammar)
                self.pending = bytearray(b"".join(self.preroll))
                if not self.over_robot:  # a voice over the robot's own starts no turn unless it is stop or help
                    self.send("speech_started", audio_t=round(self.started_at, 3))
            return
        self.pending += frame
        if speech:
            self.silence_run = 0
            self.last_speech_end = self.audio_t
        else:
            self.silence_run += 1
        if len(self.pending) >= CHUNK_FRAMES * FRAME_BYTES:
            partial = self.recogniser.accept(bytes(self.pending))
            self.pending.clear()
            # A stop word over the robot's voice acts at once, when two chunks in a row (150 ms apart)
            # read as nothing but a stop phrase: one alone was often the start of a call for help.
            self.stop_votes = self.stop_votes + 1 if self.over_robot and self._only_stop(partial) else 0
            if self.stop_votes >= STOP_VOTES and not self.stopped:
                self._stop_heard()  # the utterance goes on, in case help follows
            if partial and partial != self.partial:
                self.partial = partial
                self.send("partial", text=partial)
        too_long = self.audio_t - self.started_at > MAX_UTTERANCE_S
        if self.silence_run * FRAME_S >= self.endpoint_s or too_long:
            self._final()

    def _final(self) -> None:
        heard = self.recogniser.end(bytes(self.pending))
        decided = self.audio_t
        text, confidence, nbest = heard.text, heard.confidence, list(heard.alternatives)
        if self.over_robot and text:  # only stop and help may interrupt the robot
            if self._only_stop(text):
                if not self.stopped:
                    self._stop_heard()
            else:  # the control process lets it through only if it calls for help
                self.send("utterance", text=text, confidence=round(confidence, 3), alternatives=nbest,
                          barge_in=True, endpoint_s=round(decided - self.last_speech_end, 3))
            self._reset()
            return
        if text:
            self.send("utterance", text=text, confidence=round(confidence, 3), alternatives=nbest,
                      speech_start=round(self.started_at, 3), speech_end=round(self.last_speech_end, 3),
                      decided=round(decided, 3), endpoint_s=round(decided - self.last_speech_end, 3))
        else:
            self.send("no_speech", duration_s=round(decided - self.started_at, 3))
        self._reset()

    def _only_stop(self, text: str) -> bool:
        """True if `text` is a stop phrase, or ends with one of several words (a misheard start before
        "그만 말해"). A stop word amid other words, or a lone one after some, was more often the echo
        or the start of a call for help than a command (measured: `carebot bench bargein`)."""
        words = tuple(text.split())
        return words in self.stop_words or any(len(s) > 1 and words[-len(s):] == s for s in self.stop_words)

    def _stop_heard(self) -> None:
        """A stop word while the robot speaks: say so at once."""
        self.stopped = True
        self.stopped_at = time.monotonic()
        self.stop_after_s = self.audio_t - self.last_speech_end  # the stop word ended this long ago
        self.send("barge_in", what="stop", t=round(self.stopped_at, 4), after_speech_s=round(self.stop_after_s, 3))

    def teardown(self) -> None:
        self.mic.close()
        if self.ring is not None:
            self.ring.close()
