"""Stream registry rows for browser tests that need officers on the map or a recording to play.

The rows are written as the relay's bridge writes them (the registry is the database), so the pages read
them through the real API; a recording is a real Matroska file with a real manifest entry.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any


def _run(coro: Any) -> Any:
    # Playwright's sync API runs an event loop in this thread: use another thread for ours.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _write(database_url: str, rows: list[dict[str, Any]]) -> None:
    from command_center.db import Database
    from command_center.streams.models import StreamRecord

    database = Database(database_url)
    try:
        async with database.session() as session:
            for row in rows:
                existing = await session.get(StreamRecord, row["id"])
                if existing is None:
                    session.add(StreamRecord(**row))
                else:
                    for key, value in row.items():
                        setattr(existing, key, value)
    finally:
        await database.dispose()


def add_officer(server: Any, name: str, *, age_seconds: float, lat: float, lon: float, **extra: Any) -> str:
    """A live stream whose officer last reported a position ``age_seconds`` ago."""
    now = datetime.now(UTC)
    stream_id = f"map-{uuid.uuid4().hex[:10]}"
    row = {
        "id": stream_id,
        "officer_name": name,
        "department": "section",
        "started_at": now - timedelta(seconds=age_seconds + 30),
        "connected": True,
        "lat": lat,
        "lon": lon,
        "accuracy": 5.0,
        "position_at": now - timedelta(seconds=age_seconds),
        "codecs": {},
        "segments": [],
    } | extra
    _run(_write(server.database_url, [row]))
    return stream_id


def end(server: Any, *stream_ids: str) -> None:
    """Mark rows ended, so other tests' walls do not see them."""
    now = datetime.now(UTC)
    _run(_write(server.database_url, [{"id": s, "ended_at": now, "connected": False} for s in stream_ids]))


def make_webm(path: Path, seconds: float = 2.0) -> None:
    """A small VP8 WebM/Matroska file, as the recorder writes (encoded frames in Matroska)."""
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 10)
        for n in range(int(seconds * 10)):
            image = np.full((120, 160, 3), (n * 12) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = n
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def add_recording(server: Any, *, incident_id: int, officer: str = "field1") -> tuple[str, str, bytes]:
    """An ended stream of the incident with one recorded segment; returns (stream id, sha256, bytes)."""
    stream_id = f"rec-{uuid.uuid4().hex[:10]}"
    folder = server.folder / "recordings" / stream_id
    segment = folder / f"{stream_id}-0000.mkv"
    make_webm(segment)
    data = segment.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    now = datetime.now(UTC)
    entry = {
        "segment": 0,
        "file": segment.name,
        "sha256": digest,
        "bytes": len(data),
        "codec": "VP8",
        "video_frames": 20,
        "audio_frames": 0,
        "started_at": (now - timedelta(minutes=3)).isoformat(),
        "ended_at": (now - timedelta(minutes=1)).isoformat(),
    }
    (folder / "manifest.json").write_text(__import__("json").dumps([entry]), encoding="utf-8")
    row = {
        "id": stream_id,
        "officer_name": officer,
        "department": "section",
        "incident_id": incident_id,
        "started_at": now - timedelta(minutes=3),
        "ended_at": now - timedelta(minutes=1),
        "connected": False,
        "codecs": {"video": "VP8"},
        "segments": [entry],
    }
    _run(_write(server.database_url, [row]))
    return stream_id, digest, data
