"""Cameras: V4L2 through OpenCV, a video file or image folder, or a scripted scene
(the Raspberry Pi camera module is hardware.picamera).

A camera lives inside the vision worker only. `read()` returns a BGR frame of the
configured size or raises CameraUnavailable; nothing here writes a frame anywhere.

The scripted scene composes real face photographs onto a background: a person enters,
approaches, faces the robot, turns away (the back of a head: no face) and leaves, at set
times. The shipped face is a crop of NASA's public-domain astronaut portrait, the one
scikit-image ships as `skimage.data.astronaut`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from hardware.device import Probe
from hardware.errors import DeviceUnavailable

ASSETS = Path(__file__).resolve().parent / "assets"


class CameraUnavailable(DeviceUnavailable):
    """The camera is missing, unplugged or stopped giving frames."""


class Camera(ABC):
    """A source of frames."""

    where = "camera"  # what a technician would look for, in messages

    def probe(self) -> Probe:
        """Open, read a frame, release the device; the frame is dropped at once."""
        self.open()
        try:
            frame = self.read()
        finally:
            self.close()
        return Probe(f"{frame.shape[1]}x{frame.shape[0]} frames from {self.where}")

    @abstractmethod
    def open(self) -> None:
        """Acquire the device (raises CameraUnavailable)."""

    @abstractmethod
    def read(self) -> np.ndarray:
        """The next frame (raises CameraUnavailable)."""

    @abstractmethod
    def close(self) -> None:
        """Release the device entirely."""


def fit(frame: np.ndarray, width: int, height: int, where: str) -> np.ndarray:
    """A driver's frame as the 8-bit BGR of width x height the detectors take; CameraUnavailable if it cannot be.

    A driver can hand back grey, BGRA or a raw two-channel YUYV frame, or another height
    than asked (only the width used to be checked): unchecked, such a frame crashed the
    detector and with it the vision worker, instead of being a camera fault.
    """
    if frame.dtype == np.uint8 and frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    elif frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
        raise CameraUnavailable(f"{where} gives frames of {frame.dtype} shaped {frame.shape}, "
                                "not 8-bit grey, BGR or BGRA")
    if frame.shape[:2] != (height, width):
        frame = cv2.resize(frame, (width, height))
    return frame


class V4L2Camera(Camera):
    """A USB or CSI camera through OpenCV's V4L2 backend."""

    def __init__(self, device: str | int, width: int = 320, height: int = 240) -> None:
        self.device, self.width, self.height = device, width, height
        self.where = f"camera {device}"
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        cap = cv2.VideoCapture(self.device, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise CameraUnavailable(f"cannot open camera {self.device}")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # always the newest frame
        self._cap = cap

    def read(self) -> np.ndarray:
        if self._cap is None:
            raise CameraUnavailable("camera is not open")
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise CameraUnavailable(f"camera {self.device} stopped giving frames")
        return fit(frame, self.width, self.height, self.where)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FileCamera(Camera):
    """A video file or a folder of images, played in a loop at the reader's pace."""

    def __init__(self, path: Path, width: int = 320, height: int = 240) -> None:
        self.path, self.width, self.height = path, width, height
        self.where = str(path)
        self._frames: list[Path] = []
        self._cap: cv2.VideoCapture | None = None
        self._i = 0

    def open(self) -> None:
        if self.path.is_dir():
            self._frames = sorted(p for p in self.path.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
            if not self._frames:
                raise CameraUnavailable(f"no .png or .jpg images in {self.path}")
        else:
            self._cap = cv2.VideoCapture(str(self.path))
            if not self._cap.isOpened():
                raise CameraUnavailable(f"cannot play video {self.path}")

    def read(self) -> np.ndarray:
        if self._frames:
            frame = cv2.imread(str(self._frames[self._i % len(self._frames)]))
            self._i += 1
        elif self._cap is not None:
            ok, frame = self._cap.read()
            if not ok:
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = self._cap.read()
            if not ok:
                raise CameraUnavailable(f"video {self.path} gives no frames")
        else:
            raise CameraUnavailable("camera is not open")
        if frame is None:
            raise CameraUnavailable(f"cannot read frame {self._i} of {self.path}")
        return cv2.resize(frame, (self.width, self.height))

    def close(self) -> None:
        self._frames = []
        if self._cap is not None:
            self._cap.release()
            self._cap = None


@dataclass(frozen=True)
class Keyframe:
    """Where a person is at time t: centre (0..1), face width as a fraction of the frame, facing or not."""

    t: float
    x: float
    y: float
    size: float
    facing: bool = True


@dataclass
class Actor:
    """A person in a scene: a face photograph and a path through keyframes."""

    face: np.ndarray
    path: Sequence[Keyframe]
    name: str = ""

    def at(self, t: float) -> Keyframe | None:
        """The interpolated keyframe at t, or None when the person is not in the scene."""
        path = self.path
        if not path or t < path[0].t or t > path[-1].t:
            return None
        for a, b in zip(path, path[1:], strict=False):
            if a.t <= t <= b.t:
                f = (t - a.t) / (b.t - a.t) if b.t > a.t else 1.0
                return Keyframe(t, a.x + (b.x - a.x) * f, a.y + (b.y - a.y) * f, a.size + (b.size - a.size) * f,
                                a.facing if f < 0.5 else b.facing)
        return path[-1]


@dataclass
class Scene:
    """Actors over a background, rendered at any time; loops when `period` is set."""

    actors: list[Actor]
    width: int = 320
    height: int = 240
    period: float | None = None
    background: np.ndarray | None = None
    noise: float = 4.0
    fov: tuple[float, float] = (62.0, 48.0)  # the simulated camera's field of view, degrees
    _rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(7))

    def render(self, t: float, pan_deg: float = 0.0, tilt_deg: float = 0.0) -> np.ndarray:
        """The frame at scene time t, seen by a camera on a head turned by pan/tilt degrees.

        Positive pan turns the head left and positive tilt up (as robot.motion counts them),
        so the world shifts the other way in the image.
        """
        if self.period:
            t %= self.period
        frame = self._background().copy()
        dx, dy = pan_deg / self.fov[0], tilt_deg / self.fov[1]
        for actor in self.actors:
            k = actor.at(t)
            if k is None or k.size <= 0:
                continue
            w = max(8, int(k.size * self.width))
            h = int(w * actor.face.shape[0] / actor.face.shape[1])
            patch = cv2.resize(actor.face, (w, h)) if k.facing else _back_of_head(w, h)
            x0, y0 = int((k.x + dx) * self.width - w / 2), int((k.y + dy) * self.height - h / 2)
            _paste(frame, patch, x0, y0)
        if self.noise:
            frame = np.clip(frame + self._rng.normal(0, self.noise, frame.shape), 0, 255).astype(np.uint8)
        return frame

    def direct(self, name: str, action: str, t: float, x: float = 0.5, size: float = 0.3) -> None:
        """Stage directions at scene time t for the person `name` (scenarios): `enter` (walk in from the
        nearer side to x and face the robot), `turn_away`, `face`, `leave` (turn and walk out)."""
        actor = next((a for a in self.actors if a.name == name), None)
        here = actor.at(t) if actor is not None else None
        if action == "enter":
            side = -0.3 if x < 0.5 else 1.3
            path = [Keyframe(t, side, 0.5, size * 0.5), Keyframe(t + WALK_S, x, 0.5, size),
                    Keyframe(t + STAY_S, x, 0.5, size)]
        elif here is None:
            raise ValueError(f"{name} is not in the scene: enter first")
        elif action in ("face", "turn_away"):
            facing = action == "face"
            path = [Keyframe(t, here.x, here.y, here.size, facing),
                    Keyframe(t + STAY_S, here.x, here.y, here.size, facing)]
        elif action == "leave":
            side = -0.3 if here.x < 0.5 else 1.3
            path = [Keyframe(t, here.x, here.y, here.size, False),
                    Keyframe(t + WALK_S, side, here.y, here.size * 0.5, False)]
        else:
            raise ValueError(f"unknown stage direction {action!r}: enter, face, turn_away or leave")
        if actor is None:
            face = default_face() if not self.actors else self.actors[0].face
            self.actors.append(Actor(face if not self.actors else cv2.flip(face, 1), path, name))
        else:
            actor.path = path

    def _background(self) -> np.ndarray:
        if self.background is None:
            ramp = np.linspace(150, 200, self.width, dtype=np.float32)
            wall = np.tile(ramp, (self.height, 1))
            self.background = cv2.merge([wall * 0.95, wall, wall * 1.05]).clip(0, 255).astype(np.uint8)
        return self.background


def _back_of_head(w: int, h: int) -> np.ndarray:
    patch = np.full((h, w, 3), 170, np.uint8)
    cv2.ellipse(patch, (w // 2, h // 2), (int(w * 0.42), int(h * 0.48)), 0, 0, 360, (40, 45, 60), -1)
    return patch


def _paste(frame: np.ndarray, patch: np.ndarray, x0: int, y0: int) -> None:
    h, w = patch.shape[:2]
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(frame.shape[1], x0 + w), min(frame.shape[0], y0 + h)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    frame[fy0:fy1, fx0:fx1] = patch[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]


def default_face() -> np.ndarray:
    """The shipped face photograph (BGR)."""
    face = cv2.imread(str(ASSETS / "face.png"))
    if face is None:
        raise CameraUnavailable(f"the simulator's face photograph is missing from {ASSETS}")
    return face


WALK_S = 2.0  # a staged person takes this long to walk in or out
STAY_S = 1e6  # ...and stays where last directed this long


def demo_scene(width: int = 320, height: int = 240) -> Scene:
    """A resident enters, approaches, faces the robot, turns away and leaves; every 40 s."""
    path = [Keyframe(0, -0.3, 0.45, 0.12), Keyframe(4, 0.3, 0.45, 0.16), Keyframe(8, 0.72, 0.5, 0.3),
            Keyframe(22, 0.75, 0.5, 0.3), Keyframe(22.1, 0.75, 0.5, 0.3, facing=False),
            Keyframe(28, 0.8, 0.45, 0.2, facing=False), Keyframe(32, 1.4, 0.45, 0.12, facing=False)]
    return Scene([Actor(default_face(), path)], width, height, period=40.0)


class SceneCamera(Camera):
    """A camera that films a scripted scene in real time (or on a supplied clock)."""

    where = "the simulated scene"

    def __init__(self, scene: Scene, clock: Callable[[], float] = time.monotonic) -> None:
        self.scene = scene
        self.clock = clock
        self._t0: float | None = None
        self._open = False
        self.plugged = True
        self.head = (0.0, 0.0)  # where the robot's head points: the camera rides on it

    def open(self) -> None:
        if not self.plugged:
            raise CameraUnavailable("simulated camera is unplugged")
        if self._t0 is None:
            self._t0 = self.clock()
        self._open = True

    def read(self) -> np.ndarray:
        if not self.plugged or not self._open or self._t0 is None:
            raise CameraUnavailable("simulated camera is unplugged" if not self.plugged else "camera is not open")
        return self.scene.render(self.clock() - self._t0, *self.head)

    def close(self) -> None:
        self._open = False  # the scene's clock keeps running, as the world does

    def direct(self, name: str, action: str, x: float = 0.5) -> None:
        """A stage direction now, in scene time (see Scene.direct)."""
        if self._t0 is None:
            self._t0 = self.clock()
        self.scene.direct(name, action, self.clock() - self._t0, x)
