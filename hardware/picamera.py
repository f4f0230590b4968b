"""The Raspberry Pi camera module through picamera2 (libcamera), as one more camera backend.

picamera2 is imported when the camera opens, so that everywhere else (and on a robot with
a USB camera) it need not be installed. Its arrays are turned into the BGR frames the
detectors take by `to_bgr`, which knows picamera2's formats (its manual, appendix A):
RGB888 is stored [B, G, R] and BGR888 [R, G, B]; XRGB8888 is [B, G, R, 255] and XBGR8888
[R, G, B, 255]; YUV420 is I420, height * 3 / 2 rows of one byte.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from hardware.camera import Camera, CameraUnavailable

FORMATS = ("RGB888", "BGR888", "XRGB8888", "XBGR8888", "YUV420")


def to_bgr(array: np.ndarray, fmt: str, width: int, height: int) -> np.ndarray:
    """A picamera2 array in `fmt` as a BGR frame of width x height; ValueError names what does not fit."""
    if fmt not in FORMATS:
        raise ValueError(f"picamera2 format {fmt!r} is not one of {', '.join(FORMATS)}")
    want_channels = {"RGB888": 3, "BGR888": 3, "XRGB8888": 4, "XBGR8888": 4, "YUV420": None}[fmt]
    if array.dtype != np.uint8 or (array.ndim == 3) != (want_channels is not None) or (
            want_channels is not None and array.shape[2] != want_channels):
        raise ValueError(f"a {fmt} frame should be uint8 with {want_channels or 'no'} channels, "
                         f"not {array.dtype} of shape {array.shape}")
    if fmt == "YUV420":
        frame = cv2.cvtColor(array, cv2.COLOR_YUV2BGR_I420)
    elif fmt == "RGB888":
        frame = array
    elif fmt == "XRGB8888":
        frame = array[:, :, :3]
    else:  # BGR888 and XBGR8888 hold R first
        frame = cv2.cvtColor(np.ascontiguousarray(array[:, :, :3]), cv2.COLOR_RGB2BGR)
    if frame.shape[1] != width or frame.shape[0] != height:
        frame = cv2.resize(frame, (width, height))
    return np.ascontiguousarray(frame)


class PiCamera2Camera(Camera):
    """The camera module on the Pi's CSI connector, in a low-resolution video configuration."""

    def __init__(self, width: int = 320, height: int = 240, fmt: str = "RGB888", index: int = 0) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"picamera2 format {fmt!r} is not one of {', '.join(FORMATS)}")
        self.width, self.height, self.fmt, self.index = width, height, fmt, index
        self.where = f"Raspberry Pi camera {index}"
        self._cam: Any = None

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraUnavailable(f"camera = \"picamera2\" needs picamera2 ({exc}); on Raspberry Pi OS: apt-get "
                                    "install python3-picamera2 and a venv with --system-site-packages") from None
        try:
            cam = Picamera2(self.index)
            cam.configure(cam.create_video_configuration(main={"size": (self.width, self.height),
                                                               "format": self.fmt}))
            cam.start()
        except (RuntimeError, IndexError, OSError) as exc:
            raise CameraUnavailable(f"cannot open {self.where}: {exc}") from None
        self._cam = cam

    def read(self) -> np.ndarray:
        if self._cam is None:
            raise CameraUnavailable("camera is not open")
        try:
            array = self._cam.capture_array("main")
        except (RuntimeError, OSError) as exc:
            raise CameraUnavailable(f"{self.where} stopped giving frames: {exc}") from None
        try:
            return to_bgr(array, self.fmt, self.width, self.height)
        except ValueError as exc:  # a frame that does not fit is a camera fault, not a crash of the vision worker
            raise CameraUnavailable(f"{self.where}: {exc}") from None

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.stop()
            finally:
                cam.close()
