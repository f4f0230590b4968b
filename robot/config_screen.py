"""The [screen] config section (issue 15): where the resident's screen is served, and how it looks.

Its own module only to keep robot/config.py within 400 lines; it follows robot.config's rules:
unknown keys are errors, every number has bounds, values are frozen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ScreenSection(BaseModel):
    """The resident's screen: a page of captions and big buttons, served to a kiosk browser on this machine."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # as robot.config.Section (which imports this)

    enabled: bool = False
    bind: Literal["127.0.0.1", "::1"] = Field("127.0.0.1", description="Loopback only: the page is for this robot.")
    port: int = Field(8090, ge=1024, le=65535, description="Where the kiosk browser opens the page.")
    font_px: int = Field(56, ge=48, le=160, description="Caption size at 800x480; the rest of the page follows it.")
    key_file: Path | None = Field(None, description="Holds the key the kiosk launcher hands the page (made at start "
                                  "if absent, mode 0640); default STATE_DIR/screen.key.")
    presses_per_minute: int = Field(30, ge=5, le=600,
                                    description="More presses of one button a minute than this are refused.")
