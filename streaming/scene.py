"""A synthetic body-cam picture: the scene's text over a dark frame, a running clock and a REC mark.

Drills use it as a ``video`` inject (a body-cam stream from the scene, DESIGN.md section 6): responders on the
video wall see what the scenario says is happening, marked 演练 DRILL in the picture itself, so a recording of
it can never pass for real footage. The text is drawn once; each frame only adds the clock and the mark.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from aiortc.mediastreams import VideoStreamTrack
from av import VideoFrame
from PIL import Image, ImageDraw, ImageFont

#: CJK fonts the scene text is drawn with, first found wins (Debian's fonts-noto-cjk; .ci/run installs it).
FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
SHANGHAI = timezone(timedelta(hours=8))
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=8)
def _font(size: int) -> Font:
    for path in FONT_PATHS:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)  # Latin only: Chinese text then shows as boxes


def _wrap(text: str, font: Font, width: int) -> list[str]:
    """Break ``text`` into lines that fit ``width`` pixels (by character: Chinese has no spaces)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for char in paragraph:
            if line and font.getlength(line + char) > width:
                lines.append(line)
                line = char
            else:
                line += char
        lines.append(line)
    return lines


def scene_background(lines: Sequence[str], width: int = 640, height: int = 360) -> Image.Image:
    """The still part of the picture: the DRILL banner and the scene text, wrapped to the frame."""
    image = Image.new("RGB", (width, height), (24, 28, 36))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 34), fill=(176, 32, 32))
    draw.text((10, 5), "演练 DRILL · 模拟执法记录仪 synthetic body-cam", font=_font(20), fill=(255, 255, 255))
    body = _font(22)
    y = 52
    for text in lines:
        for line in _wrap(text, body, width - 20):
            if y > height - 60:
                break
            draw.text((10, y), line, font=body, fill=(235, 235, 235))
            y += 30
    return image


class SceneVideoTrack(VideoStreamTrack):
    """30 fps frames of the scene text, with the time (Asia/Shanghai) and a blinking REC mark."""

    def __init__(self, lines: Sequence[str], width: int = 640, height: int = 360) -> None:
        super().__init__()
        self._background = scene_background(lines, width, height)
        self.counter = 0

    def render(self, at: datetime) -> Image.Image:
        image = self._background.copy()
        draw = ImageDraw.Draw(image)
        height = image.height
        stamp = at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
        draw.text((10, height - 34), stamp, font=_font(20), fill=(255, 220, 0))
        if self.counter // 15 % 2 == 0:
            draw.ellipse((image.width - 90, height - 30, image.width - 74, height - 14), fill=(220, 0, 0))
        draw.text((image.width - 66, height - 34), "REC", font=_font(20), fill=(255, 255, 255))
        return image

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        picture = self.render(datetime.fromtimestamp(time.time(), UTC))
        frame: VideoFrame = VideoFrame.from_image(picture)  # type: ignore[no-untyped-call]
        frame.pts = pts
        frame.time_base = time_base
        self.counter += 1
        return frame
