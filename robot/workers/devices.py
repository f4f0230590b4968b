"""The vision worker's device factory: its options in, the camera and face detector out.

Workers are spawned with plain options (the config's `worker_options`) and build their own
devices when they start, so the control process never imports OpenCV. A backend is one
entry in a table. (Speech in's microphone comes from hardware.microphone's `make_microphone`, and the
recogniser and speech synthesis from hardware.speech_devices, so that neither imports OpenCV.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hardware.camera import Camera, FileCamera, SceneCamera, V4L2Camera, demo_scene
from hardware.face_detector import FaceDetector, HaarDetector, YuNetDetector
from hardware.picamera import PiCamera2Camera


def _scene(options: dict[str, Any], width: int, height: int) -> Camera:
    scene = demo_scene(width, height)
    if options.get("scene") in ("empty", "stage"):  # an empty room (benchmarks of idle cost), or a
        scene.actors, scene.period = [], None    # stage whose people come and go when told (scenarios)
    return SceneCamera(scene)


def _v4l2(options: dict[str, Any], width: int, height: int) -> Camera:
    device = options.get("device", "/dev/video0")
    return V4L2Camera(int(device) if str(device).isdigit() else str(device), width, height)


CAMERA_BACKENDS: dict[str, Callable[[dict[str, Any], int, int], Camera]] = {
    "v4l2": _v4l2,
    "picamera2": lambda o, w, h: PiCamera2Camera(w, h, str(o.get("picamera_format", "RGB888"))),
    "file": lambda o, w, h: FileCamera(Path(str(o["path"])), w, h),
    "scene": _scene,
}


def make_camera(options: dict[str, Any]) -> Camera:
    """The configured camera, from the vision worker's options (VisionSection.worker_options)."""
    width, height = int(options.get("width", 320)), int(options.get("height", 240))
    return CAMERA_BACKENDS[str(options.get("camera", "v4l2"))](options, width, height)


def make_detector(kind: str, width: int, height: int, yunet_model: Path | None = None) -> FaceDetector:
    """The configured face detector (raises DetectorUnavailable when it cannot run)."""
    if kind == "yunet":
        return YuNetDetector(yunet_model or Path("/nonexistent"), width, height)
    return HaarDetector()
