"""The face detector device: OpenCV's Haar cascades, or YuNet when its model is installed.

Frames arrive as numpy arrays inside the vision worker and never leave it; detectors
return boxes only. `probe` tries a detector on the simulator's face photograph.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import cv2
import numpy as np

from hardware.camera import default_face
from hardware.device import Probe
from hardware.errors import DeviceUnavailable, HardwareError
from hardware.face_box import Face


class DetectorUnavailable(DeviceUnavailable):
    """A configured detector cannot run; the message says what is missing and how to fix it."""


class FaceDetector(ABC):
    """Finds faces in a BGR or grey frame."""

    @abstractmethod
    def detect(self, frame: np.ndarray) -> list[Face]:
        """Faces in pixel coordinates of `frame`."""

    def probe(self) -> Probe:
        """Find the face in the simulator's photograph, placed on a plain wall as a camera would see it."""
        face = default_face()
        h, w = face.shape[:2]
        frame = np.full((h * 2, w * 2, 3), 180, np.uint8)
        frame[h // 2:h // 2 + h, w // 2:w // 2 + w] = face
        found = self.detect(frame)
        if not found:
            raise HardwareError(f"{type(self).__name__} found no face in the test photograph")
        return Probe(f"{type(self).__name__} found the face in the test photograph")


def grey(frame: np.ndarray) -> np.ndarray:
    """A single-channel 8-bit view of a frame."""
    if frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return frame if frame.dtype == np.uint8 else frame.astype(np.uint8)


class HaarDetector(FaceDetector):
    """Frontal (alt2) and profile Haar cascades shipped with opencv-python-headless 4.x.

    alt2 with minNeighbors 5 found the face in scikit-image's astronaut and nothing in its
    twenty no-face photographs (coins included, which the default cascade mistakes for faces).
    """

    def __init__(self, scale_factor: float = 1.15, min_neighbors: int = 5, min_size: int = 24,
                 profile: bool = True, profile_scale_factor: float = 1.25, profile_min_size: int = 32) -> None:
        base = Path(cv2.data.haarcascades)  # type: ignore[attr-defined]
        self.frontal = cv2.CascadeClassifier(str(base / "haarcascade_frontalface_alt2.xml"))
        if self.frontal.empty():
            raise DetectorUnavailable(f"OpenCV's Haar cascades are missing from {base}; install "
                                      "opencv-python-headless>=4.9,<5 (OpenCV 5 dropped them)")
        self.profile = cv2.CascadeClassifier(str(base / "haarcascade_profileface.xml")) if profile else None
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, (min_size, min_size)
        # Profiles only lower attention, so a coarser search is enough: 3x cheaper per pass.
        self.profile_scale_factor, self.profile_min_size = profile_scale_factor, (profile_min_size,) * 2

    def detect(self, frame: np.ndarray) -> list[Face]:
        # No histogram equalisation: it tripled the frontal cascade's cost here and the
        # cascades already cope with the lighting of the test photographs.
        g = grey(frame)
        found = [Face(int(x), int(y), int(w), int(h), 1.0, True) for x, y, w, h in
                 self.frontal.detectMultiScale(g, self.scale_factor, self.min_neighbors, minSize=self.min_size)]
        if self.profile is not None:
            width = g.shape[1]
            for flipped in (False, True):
                img = cv2.flip(g, 1) if flipped else g
                for x, y, w, h in self.profile.detectMultiScale(img, self.profile_scale_factor, self.min_neighbors,
                                                                minSize=self.profile_min_size):
                    x = width - x - w if flipped else x
                    face = Face(int(x), int(y), int(w), int(h), 0.8, False)
                    if all(face.iou(f) < 0.3 for f in found):
                        found.append(face)
        return found


class YuNetDetector(FaceDetector):
    """OpenCV's YuNet CNN (cv2.FaceDetectorYN) from an installed ONNX model file."""

    def __init__(self, model: Path, width: int, height: int, threshold: float = 0.8) -> None:
        if not model.is_file():
            raise DetectorUnavailable(
                f"vision.detector is 'yunet' but its model file {model} is not there; put "
                "face_detection_yunet_2023mar.onnx (from the OpenCV model zoo) at that path, "
                "or set vision.detector = \"haar\"")
        self.net = cv2.FaceDetectorYN.create(str(model), "", (width, height), threshold)
        self.size = (width, height)

    def detect(self, frame: np.ndarray) -> list[Face]:
        h, w = frame.shape[:2]
        if (w, h) != self.size:
            self.net.setInputSize((w, h))
            self.size = (w, h)
        bgr = frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        _, faces = self.net.detect(bgr)
        out = []
        for row in faces if faces is not None else []:
            x, y, fw, fh = (int(v) for v in row[:4])
            eyes_level = abs(row[5] - row[7]) < fh * 0.25  # both eyes visible and level: frontal
            out.append(Face(x, y, fw, fh, float(row[-1]), bool(eyes_level)))
        return out
