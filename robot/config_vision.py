"""The `[vision]` config section: which camera and face detector, and how engagement is judged.

Checked like every other section (unknown keys, bounds, every problem at once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class VisionSection(BaseModel):
    """The camera and engagement detection (in the vision worker process)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    camera: Literal["v4l2", "picamera2", "file", "scene"] = Field(
        "v4l2", description="A V4L2 device, the Raspberry Pi camera module, a video/images, or the demo scene.")
    scene: Literal["demo", "empty", "stage"] = Field("demo", description=(
        "camera = \"scene\": the demo (a resident comes and goes every 40 s), an empty room, or a stage whose "
        "people come and go when a scenario or the console says (robot.scenario)."))
    picamera_format: Literal["RGB888", "BGR888", "XRGB8888", "XBGR8888", "YUV420"] = Field(
        "RGB888", description="picamera2's frame format for camera = \"picamera2\".")
    device: str = Field("/dev/video0", description="V4L2 device; prefer /dev/v4l/by-id/... for a stable name.")
    path: Path | None = Field(None, description="Video file or image folder for camera = \"file\".")
    width: int = Field(320, ge=160, le=1280)
    height: int = Field(240, ge=120, le=960)
    idle_fps: float = Field(2.0, ge=0.5, le=30, description="Frame rate while nobody is near.")
    active_fps: float = Field(10.0, ge=1, le=30, description="Frame rate while someone is.")
    detector: Literal["haar", "yunet"] = "haar"
    yunet_model: Path | None = Field(None, description="face_detection_yunet ONNX file for detector = yunet.")
    engage_on: float = Field(0.45, gt=0, le=1, description="Score that engages.")
    engage_off: float = Field(0.25, ge=0, lt=1, description="Score below which engagement fades.")
    engage_window_s: float = Field(0.4, ge=0.1, le=5)
    disengage_window_s: float = Field(0.5, ge=0.1, le=5)
    disengaged_after_s: float = Field(1.0, ge=0.1, le=10)
    near_fraction: float = Field(0.22, gt=0.02, le=1, description="Face width / frame width counted as close.")

    @model_validator(mode="after")
    def _hysteresis(self) -> VisionSection:
        if self.engage_off >= self.engage_on:
            raise ValueError("engage_off must be below engage_on (that gap is the hysteresis)")
        if self.camera == "file" and self.path is None:
            raise ValueError("camera = \"file\" needs path = a video file or an image folder")
        return self

    def worker_options(self) -> dict[str, Any]:
        """Options for the vision worker process (plain data: it is spawned)."""
        engagement = {k: getattr(self, k) for k in ("engage_on", "engage_off", "engage_window_s",
                                                    "disengage_window_s", "disengaged_after_s", "near_fraction")}
        return {"camera": self.camera, "scene": self.scene, "device": self.device,
                "path": str(self.path) if self.path else None,
                "picamera_format": self.picamera_format,
                "width": self.width, "height": self.height, "idle_fps": self.idle_fps,
                "active_fps": self.active_fps, "detector": self.detector,
                "yunet_model": str(self.yunet_model) if self.yunet_model else None, "engagement": engagement}
