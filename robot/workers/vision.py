"""The vision worker: camera, face detection and engagement, in its own process.

Frames never leave this process and are never written anywhere: the control process
gets only observations (engagement state, score, face count, the target's normalised
box). It films slowly while nobody is near and faster when someone is. Privacy mode
releases the camera device entirely. A camera that fails is reported, closed, and
retried with backoff while the robot carries on voice-only.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from hardware.camera import CameraUnavailable, SceneCamera
from hardware.face_detector import DetectorUnavailable, FaceDetector
from robot.engagement import Engagement, EngagementSettings, EngagementTracker
from robot.messages import Message
from robot.worker import Worker
from robot.workers.devices import make_camera, make_detector

ACTIVE = {Engagement.ENGAGING, Engagement.ENGAGED, Engagement.DISENGAGING}


class VisionWorker(Worker):
    """Runs camera -> detector -> engagement tracker at an adaptive frame rate."""

    poll_s = 0.01

    def setup(self) -> None:
        o = self.options
        self.width, self.height = int(o.get("width", 320)), int(o.get("height", 240))
        self.idle_period = 1.0 / float(o.get("idle_fps", 2.0))
        self.active_period = 1.0 / float(o.get("active_fps", 10.0))
        self.settings = EngagementSettings(**o.get("engagement", {}))
        self.camera = make_camera(o)
        self.detector: FaceDetector | None = None
        try:
            self.detector = make_detector(str(o.get("detector", "haar")), self.width, self.height,
                                          Path(o["yunet_model"]) if o.get("yunet_model") else None)
        except DetectorUnavailable as exc:
            self.send("vision_fault", reason="detector", detail=str(exc)[:300])
        self.tracker = EngagementTracker(self.width, self.height, self.settings)
        self.enabled = bool(o.get("start_on", True))
        self.is_open = False
        self.faulted = False
        self.backoff = 0.5
        self.next_try = 0.0
        self.next_frame = 0.0
        self.frames = 0

    def handle(self, msg: Message) -> None:
        if msg.kind == "camera":
            on = bool(msg.data.get("on", True))
            if not on and self.is_open:
                self.camera.close()  # privacy: release the device itself
                self.is_open = False
            self.enabled = on
            self.tracker = EngagementTracker(self.width, self.height, self.settings)
            self.send("camera_state", on=on)
        elif msg.kind == "inject" and isinstance(self.camera, SceneCamera):
            self.camera.plugged = msg.data.get("fault") != "unplug"
        elif msg.kind == "stage" and isinstance(self.camera, SceneCamera):
            try:
                self.camera.direct(str(msg.data["who"]), str(msg.data["action"]), float(msg.data.get("x", 0.5)))
            except ValueError as exc:  # a scenario's slip: said, and the scene goes on
                logging.getLogger(__name__).warning("stage direction refused: %s", exc)
        elif msg.kind == "head":
            if isinstance(self.camera, SceneCamera):  # a real camera sees the head turn by itself
                self.camera.head = (float(msg.data["pan"]), float(msg.data["tilt"]))
        else:
            super().handle(msg)

    def step(self) -> None:
        if not self.enabled or self.detector is None:
            return
        now = time.monotonic()
        if not self.is_open:
            if now < self.next_try:
                return
            try:
                self.camera.open()
            except CameraUnavailable as exc:
                self._fault(now, str(exc))
                return
            self.is_open = True
            if self.faulted:
                self.faulted, self.backoff = False, 0.5
                self.send("camera_ok")
        if now < self.next_frame:
            return
        try:
            frame = self.camera.read()
        except CameraUnavailable as exc:
            self.camera.close()
            self.is_open = False
            self._fault(now, str(exc))
            return
        captured = time.monotonic()
        faces = self.detector.detect(frame)
        del frame  # nothing of the image outlives this call
        obs = self.tracker.update(captured, faces)
        self.frames += 1
        active = obs.state in ACTIVE or obs.faces > 0
        self.next_frame = now + (self.active_period if active else self.idle_period)
        self.send("vision", state=obs.state.value, score=obs.score, faces=obs.faces,
                  target=list(obs.target) if obs.target else None,
                  latency_ms=round((time.monotonic() - captured) * 1000, 2), captured=captured,
                  head=list(self.camera.head) if isinstance(self.camera, SceneCamera) else None)

    def _fault(self, now: float, reason: str) -> None:
        if not self.faulted:
            self.faulted = True
            self.send("camera_fault", reason=reason[:200])
        self.next_try = now + self.backoff
        self.backoff = min(self.backoff * 2, 10.0)
        self.tracker = EngagementTracker(self.width, self.height, self.settings)

    def teardown(self) -> None:
        if self.is_open:
            self.camera.close()
