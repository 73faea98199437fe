"""The synthetic body-cam picture of a drill's ``video`` inject: marked DRILL, the scene's text legible."""

from __future__ import annotations

from datetime import UTC, datetime

from streaming.scene import SceneVideoTrack, scene_background


def test_the_picture_carries_the_drill_banner_and_the_scene_text() -> None:
    image = scene_background(["现场人数增加到50人", "Crowd grows to 50"])
    assert image.size == (640, 360)
    assert image.getpixel((320, 30)) == (176, 32, 32)  # the red 演练 DRILL banner across the top
    # Chinese is drawn as glyphs, not as the same missing-glyph box for every character.
    first = scene_background(["演"]).crop((0, 40, 60, 90)).tobytes()
    second = scene_background(["练"]).crop((0, 40, 60, 90)).tobytes()
    assert first != second


async def test_frames_are_timed_and_sized() -> None:
    track = SceneVideoTrack(["东门现场"])
    frame = await track.recv()
    assert (frame.width, frame.height) == (640, 360) and frame.pts is not None
    at = datetime(2026, 3, 1, 1, 2, 3, tzinfo=UTC)
    picture = track.render(at)
    assert (
        picture.crop((10, 326, 230, 350)).tobytes()
        != track.render(at.replace(second=4)).crop((10, 326, 230, 350)).tobytes()
    )  # the clock ticks in the picture
    track.stop()
