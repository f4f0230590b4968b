"""Engagement tracking after ROS4HRI: UNKNOWN, DISENGAGED, ENGAGING, ENGAGED, DISENGAGING.

Each frame gives faces; each face gets a score from attention (a frontal face counts
fully, a profile partly), closeness (face width against the frame) and how central it
is. One face is the target: the best-scoring frontal face, kept while it stays in view,
so two people never make the head flicker between them. The state moves with
hysteresis over a short time window of the target's scores. Pure logic: time comes in
with each frame.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from hardware.face_box import Face


class Engagement(StrEnum):
    """Engagement states, as ROS4HRI names them."""

    UNKNOWN = "UNKNOWN"
    DISENGAGED = "DISENGAGED"
    ENGAGING = "ENGAGING"
    ENGAGED = "ENGAGED"
    DISENGAGING = "DISENGAGING"


@dataclass(frozen=True)
class EngagementSettings:
    """Thresholds and windows (from config)."""

    engage_on: float = 0.45          # mean score to become engaged
    engage_off: float = 0.25         # mean score below which engagement fades
    engage_window_s: float = 0.4     # how long the score must hold to engage
    disengage_window_s: float = 0.5  # how long it must stay low to start disengaging
    disengaged_after_s: float = 1.0  # how long disengaging lasts before DISENGAGED
    lost_after_s: float = 0.6        # a target unseen this long is dropped
    near_fraction: float = 0.22      # face width / frame width that counts as fully close
    profile_attention: float = 0.35  # attention credited to a profile face
    weight_closeness: float = 0.6
    weight_center: float = 0.4
    switch_margin: float = 0.25      # another face must beat the target by this much...
    switch_after_s: float = 1.5      # ...for this long before the target changes
    warmup_frames: int = 3           # frames before leaving UNKNOWN


@dataclass(frozen=True)
class Observation:
    """What the vision worker reports each frame: no pixels, only numbers."""

    t: float
    state: Engagement
    score: float
    faces: int
    target: tuple[float, float, float, float] | None  # normalised cx, cy, w, h of the target


class EngagementTracker:
    """Turns per-frame faces into a stable target and an engagement state."""

    def __init__(self, width: int, height: int, settings: EngagementSettings | None = None) -> None:
        self.width, self.height = width, height
        self.s = settings or EngagementSettings()
        self.state = Engagement.UNKNOWN
        self.target: Face | None = None
        self._target_seen = 0.0
        self._rival_since: float | None = None
        self._scores: deque[tuple[float, float]] = deque()
        self._frames = 0
        self._since = 0.0

    def score(self, face: Face) -> float:
        """Attention x (closeness and centrality), in 0..1."""
        s = self.s
        attention = 1.0 if face.frontal else s.profile_attention
        closeness = min(1.0, face.w / (self.width * s.near_fraction))
        cx, _ = face.center()
        centrality = max(0.0, 1.0 - abs(cx / self.width - 0.5) * 2)
        return attention * (s.weight_closeness * closeness + s.weight_center * centrality)

    def update(self, t: float, faces: list[Face]) -> Observation:
        """Feed one frame's faces at time t; returns the observation to report."""
        self._frames += 1
        target = self._choose(t, faces)
        score = self.score(target) if target is not None else 0.0
        self._scores.append((t, score))
        horizon = max(self.s.engage_window_s, self.s.disengage_window_s)
        while self._scores and self._scores[0][0] < t - horizon:
            self._scores.popleft()
        self._step(t, score)
        box = None
        if self.target is not None:
            cx, cy = self.target.center()
            box = (cx / self.width, cy / self.height, self.target.w / self.width, self.target.h / self.height)
        return Observation(t, self.state, round(score, 3), len(faces), box)

    def _mean(self, t: float, window: float) -> tuple[float, int]:
        recent = [s for ts, s in self._scores if ts >= t - window]
        return (sum(recent) / len(recent) if recent else 0.0, len(recent))

    def _choose(self, t: float, faces: list[Face]) -> Face | None:
        current = None
        if self.target is not None and faces:
            best = max(faces, key=lambda f: f.iou(self.target) if self.target else 0.0)  # type: ignore[arg-type]
            if best.iou(self.target) > 0.2 or _near(best, self.target):
                current = best
        if current is not None:
            self.target, self._target_seen = current, t
        elif self.target is not None and t - self._target_seen > self.s.lost_after_s:
            self.target = None
        frontal = [f for f in faces if f.frontal] or faces
        if not frontal:
            return current
        best = max(frontal, key=self.score)
        if self.target is None:
            self.target, self._target_seen, self._rival_since = best, t, None
            return best
        if current is None:
            return None  # target briefly unseen: hold it, score this frame as nothing
        if best is not current and self.score(best) > self.score(current) + self.s.switch_margin:
            if self._rival_since is None:
                self._rival_since = t
            elif t - self._rival_since >= self.s.switch_after_s:
                self.target, self._rival_since = best, None
                return best
        else:
            self._rival_since = None
        return current

    def _step(self, t: float, score: float) -> None:
        s = self.s
        st = self.state
        engage_mean, engage_n = self._mean(t, s.engage_window_s)
        fade_mean, _ = self._mean(t, s.disengage_window_s)
        new = st
        if st == Engagement.UNKNOWN:
            if self._frames >= s.warmup_frames:
                new = Engagement.ENGAGING if score >= s.engage_on else Engagement.DISENGAGED
        elif st == Engagement.DISENGAGED:
            if score >= s.engage_on:
                new = Engagement.ENGAGING
        elif st == Engagement.ENGAGING:
            if score < s.engage_off:
                new = Engagement.DISENGAGED
            elif engage_mean >= s.engage_on and engage_n >= 2 and t - self._since >= s.engage_window_s:
                new = Engagement.ENGAGED
        elif st == Engagement.ENGAGED:
            if fade_mean < s.engage_off and t - self._since >= s.disengage_window_s:
                new = Engagement.DISENGAGING
        elif st == Engagement.DISENGAGING:
            if engage_mean >= s.engage_on:
                new = Engagement.ENGAGED
            elif t - self._since >= s.disengaged_after_s:
                new = Engagement.DISENGAGED
        if new != st:
            self.state, self._since = new, t


def _near(a: Face, b: Face) -> bool:
    (ax, ay), (bx, by) = a.center(), b.center()
    return abs(ax - bx) < max(a.w, b.w) * 0.6 and abs(ay - by) < max(a.h, b.h) * 0.6
