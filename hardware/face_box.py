"""What a face detector returns: a box, never the pixels (light enough for the control process to import)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Face:
    """A detected face in pixels, with the detector's confidence and whether it is frontal."""

    x: int
    y: int
    w: int
    h: int
    confidence: float = 1.0
    frontal: bool = True

    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)

    def iou(self, other: Face) -> float:
        """Intersection over union of two boxes."""
        ix = max(0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union else 0.0
