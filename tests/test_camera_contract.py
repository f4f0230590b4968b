"""The camera and face-detector contracts, passed alike by each real backend and its twins.

The file twins play a real photograph (scikit-image's astronaut, NASA public domain) as
an image folder and as an MJPG video; the scene twin films the simulator's scripted
resident. V4L2 runs where a /dev/video0 exists and picamera2 where it is importable and
sees a camera; elsewhere they are skipped, saying why, while their failure paths and
picamera2's frame conversion (`to_bgr`) are tested everywhere.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from hardware.camera import Camera, CameraUnavailable, FileCamera, SceneCamera, V4L2Camera, demo_scene
from hardware.face_detector import DetectorUnavailable, FaceDetector, HaarDetector
from hardware.picamera import FORMATS, PiCamera2Camera, to_bgr
from robot.workers.devices import make_detector

W, H = 320, 240
FACING_AT_S = 12.0  # the demo resident faces the robot from 8 s to 22 s


@functools.cache
def astronaut() -> np.ndarray:
    """The real photograph as a camera would give it: BGR, 4:3 (its top 384 rows), the configured size."""
    return cv2.resize(cv2.cvtColor(data.astronaut()[:384], cv2.COLOR_RGB2BGR), (W, H))


def _folder(tmp: Path) -> Camera:
    folder = tmp / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "000.png"), astronaut())  # the test writes its own input; the camera only reads
    return FileCamera(folder, W, H)


def _video(tmp: Path) -> Camera:
    video = tmp / "astronaut.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    for _ in range(5):
        writer.write(astronaut())
    writer.release()
    return FileCamera(video, W, H)


def _scene() -> Camera:
    """The demo scene on a clock that reads 0 when it opens and then the moment the resident faces the robot."""
    return SceneCamera(demo_scene(W, H), clock=itertools.chain([0.0], itertools.repeat(FACING_AT_S)).__next__)


def _v4l2(tmp: Path) -> Camera:
    if not os.path.exists("/dev/video0"):
        pytest.skip("no /dev/video0 on this machine: the V4L2 backend needs a camera (its failure path runs below)")
    return V4L2Camera("/dev/video0", W, H)


def _picamera2(tmp: Path) -> Camera:
    picamera2 = pytest.importorskip("picamera2", reason="picamera2 is not importable here: it comes with Raspberry "
                                    "Pi OS (python3-picamera2); its frame conversion is tested below everywhere")
    if not picamera2.Picamera2.global_camera_info():
        pytest.skip("picamera2 is installed but sees no camera module")
    return PiCamera2Camera(W, H)


CAMERAS: dict[str, Callable[[Path], Camera]] = {
    "file-images": _folder,
    "file-video": _video,
    "scene": lambda tmp: _scene(),
    "v4l2": _v4l2,
    "picamera2": _picamera2,
}
TWINS_WITH_A_FACE = {"file-images", "file-video", "scene"}  # what a real camera sees is not known here


@pytest.fixture(params=sorted(CAMERAS))
def camera(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Camera]:
    cam = CAMERAS[request.param](tmp_path)
    yield cam
    cam.close()


@pytest.fixture(scope="module")
def haar() -> HaarDetector:
    return HaarDetector()


def test_frames_are_bgr_at_the_configured_size(camera: Camera) -> None:
    camera.open()
    frames = [camera.read() for _ in range(3)]
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in frames)
    assert frames[-1].std() > 5  # a picture, not a blank


def test_a_closed_camera_gives_no_frames_and_opens_again(camera: Camera) -> None:
    camera.open()
    camera.read()
    camera.close()
    camera.close()  # twice is safe
    with pytest.raises(CameraUnavailable):
        camera.read()
    camera.open()
    assert camera.read().shape == (H, W, 3)


def test_probe_reads_a_frame_and_releases_the_camera(camera: Camera) -> None:
    found = camera.probe()
    assert f"{W}x{H}" in found.detail and camera.where in found.detail
    with pytest.raises(CameraUnavailable):
        camera.read()


def test_the_detector_finds_the_face_the_twins_show(request: pytest.FixtureRequest, camera: Camera,
                                                    haar: HaarDetector) -> None:
    if request.node.callspec.params["camera"] not in TWINS_WITH_A_FACE:
        pytest.skip("what a real camera sees here is not known")
    camera.open()
    faces = [f for f in haar.detect(camera.read()) if f.frontal]
    assert len(faces) == 1


@pytest.mark.parametrize(("make", "named"), [
    (lambda tmp: FileCamera(tmp / "missing.avi", W, H), "missing.avi"),
    (lambda tmp: FileCamera(tmp, W, H), "no .png or .jpg"),
    (lambda tmp: V4L2Camera("/dev/video-carebot-none", W, H), "/dev/video-carebot-none"),
])
def test_an_absent_source_says_which(make: Callable[[Path], Camera], named: str, tmp_path: Path) -> None:
    with pytest.raises(CameraUnavailable, match=named):
        make(tmp_path).probe()


def test_picamera2_missing_says_how_to_install_it() -> None:
    try:
        import picamera2  # noqa: F401
    except ImportError:
        with pytest.raises(CameraUnavailable, match="python3-picamera2"):
            PiCamera2Camera(W, H).open()
    else:
        pytest.skip("picamera2 is importable here: the backend test above runs instead")


@pytest.mark.parametrize("fmt", FORMATS)
def test_picamera2_frames_become_the_bgr_the_detectors_take(fmt: str) -> None:
    bgr = cv2.resize(astronaut(), (640, 480))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    alpha = np.full((480, 640, 1), 255, np.uint8)
    array = {"RGB888": bgr, "BGR888": rgb, "XRGB8888": np.concatenate([bgr, alpha], 2),
             "XBGR8888": np.concatenate([rgb, alpha], 2), "YUV420": cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)}[fmt]
    frame = to_bgr(array, fmt, W, H)
    assert frame.shape == (H, W, 3) and frame.dtype == np.uint8 and frame.flags["C_CONTIGUOUS"]
    expected = cv2.resize(bgr, (W, H))
    error = np.abs(frame.astype(int) - expected.astype(int)).mean()
    assert error < (4 if fmt == "YUV420" else 0.5), error  # YUV420 halves the colour resolution
    assert [f for f in HaarDetector().detect(frame) if f.frontal]


def test_picamera2_frames_of_the_wrong_shape_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="XRGB8888.*4 channels"):
        to_bgr(np.zeros((H, W, 3), np.uint8), "XRGB8888", W, H)
    with pytest.raises(ValueError, match="not one of"):
        to_bgr(np.zeros((H, W, 3), np.uint8), "MJPEG", W, H)


class _Driver:
    """Stands in for cv2.VideoCapture and Picamera2 (no camera here): hands back one given frame."""

    def __init__(self, frame: np.ndarray) -> None:
        self.frame = frame

    def read(self) -> tuple[bool, np.ndarray]:
        return True, self.frame

    def capture_array(self, stream: str) -> np.ndarray:
        return self.frame

    def release(self) -> None:
        pass


@pytest.mark.parametrize("shape", [(H, W), (H, W, 4), (200, W, 3), (480, 640, 3)])
def test_v4l2_frames_of_another_depth_or_size_become_bgr_at_the_configured_size(shape: tuple[int, ...]) -> None:
    camera = V4L2Camera("/dev/video9", W, H)
    camera._cap = _Driver(np.full(shape, 90, np.uint8))  # type: ignore[assignment]
    frame = camera.read()
    assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
    HaarDetector().detect(frame)  # the detector takes it


@pytest.mark.parametrize("frame", [np.zeros((H, W, 2), np.uint8), np.zeros((H, W, 3), np.uint16),
                                   np.zeros((0, W, 3), np.uint8)])
def test_a_frame_no_detector_can_take_is_a_camera_fault_naming_the_camera(frame: np.ndarray) -> None:
    v4l2 = V4L2Camera("/dev/video9", W, H)
    v4l2._cap = _Driver(frame)  # type: ignore[assignment]
    with pytest.raises(CameraUnavailable, match="/dev/video9 gives frames of"):
        v4l2.read()
    pi = PiCamera2Camera(W, H, "XRGB8888")
    pi._cam = _Driver(frame)
    with pytest.raises(CameraUnavailable, match="Raspberry Pi camera 0: a XRGB8888 frame"):
        pi.read()


DETECTORS: dict[str, Callable[[], FaceDetector]] = {
    "haar": lambda: make_detector("haar", W, H),
    "yunet": lambda: make_detector("yunet", W, H, Path(os.environ.get("CAREBOT_YUNET_MODEL", "/nonexistent"))),
}


@pytest.fixture(params=sorted(DETECTORS), scope="module")
def detector(request: pytest.FixtureRequest) -> FaceDetector:
    try:
        return DETECTORS[request.param]()
    except DetectorUnavailable:
        pytest.skip(f"{request.param}'s model file is not installed here: set CAREBOT_YUNET_MODEL to "
                    "face_detection_yunet_2023mar.onnx to run it")


def test_detector_finds_the_astronaut_where_she_is(detector: FaceDetector) -> None:
    frame = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (W, W))  # face near (225, 120) of 512
    faces = [f for f in detector.detect(frame) if f.frontal]
    assert len(faces) == 1
    cx, cy = faces[0].center()
    assert abs(cx - 225 * W / 512) < 15 and abs(cy - 120 * W / 512) < 20


def test_detector_finds_no_face_in_a_cup_of_coffee(detector: FaceDetector) -> None:
    frame = cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (W, H))
    assert not [f for f in detector.detect(frame) if f.frontal]


def test_detector_probe_finds_the_test_photograph(detector: FaceDetector) -> None:
    assert "found the face" in detector.probe().detail
