"""Where signed checkpoints live outside the audit table: an append-only file, and Redis when configured.

Someone who can rewrite the database still cannot change what was written here earlier (make the file
append-only with ``chattr +a`` and keep Redis on another host): a checkpoint says "the log had N entries and
entry N's hash was H", so a later truncation or rewrite is found by ``command-center audit verify``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from redis.exceptions import RedisError

from command_center.audit.chain import Checkpoint
from command_center.settings import Settings

log = logging.getLogger(__name__)

REDIS_KEY = "cc:audit:checkpoints"


class FileAnchor:
    """One JSON line per checkpoint, appended with O_APPEND so concurrent processes never interleave."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _read(self) -> list[Checkpoint]:
        if not self.path.exists():
            return []
        found = []
        with self.path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, 1):
                checkpoint = Checkpoint.from_line(line, f"{self.path}:{number}")
                if checkpoint is None and line.strip():
                    # A damaged line is itself evidence of tampering: keep it, unsigned, so verify reports it.
                    checkpoint = Checkpoint(0, "", 0, "?", "", f"{self.path}:{number}")
                if checkpoint is not None:
                    found.append(checkpoint)
        return found

    async def append(self, checkpoint: Checkpoint) -> None:
        await asyncio.to_thread(self._append, checkpoint.to_line())

    async def read(self) -> list[Checkpoint]:
        return await asyncio.to_thread(self._read)


class RedisAnchor:
    """A Redis list of the same lines (a second copy, out of reach of whoever holds the database)."""

    def __init__(self, url: str, key: str = REDIS_KEY) -> None:
        from redis.asyncio import Redis

        self.url = url
        self.key = key
        self.client = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    async def append(self, checkpoint: Checkpoint) -> None:
        await self.client.rpush(self.key, checkpoint.to_line())

    async def read(self) -> list[Checkpoint]:
        lines = await self.client.lrange(self.key, 0, -1)
        found = []
        for index, raw in enumerate(lines):
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            source = f"redis {self.key}[{index}]"
            found.append(Checkpoint.from_line(text, source) or Checkpoint(0, "", 0, "?", "", source))
        return found

    async def close(self) -> None:
        await self.client.aclose()


Anchor = FileAnchor | RedisAnchor


def anchors(settings: Settings) -> list[Anchor]:
    """The file always; Redis too when the broker is Redis."""
    found: list[Anchor] = [FileAnchor(settings.audit_anchor_path)]
    if settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        found.append(RedisAnchor(settings.broker_url))
    return found


async def read_all(settings: Settings) -> list[Checkpoint]:
    """Every checkpoint from every anchor (an unreachable Redis is logged and skipped, never fatal)."""
    checkpoints: list[Checkpoint] = []
    for anchor in anchors(settings):
        try:
            checkpoints += await anchor.read()
        except (OSError, RedisError) as exc:
            log.warning("cannot read audit checkpoints from %s: %s", type(anchor).__name__, exc)
        finally:
            if isinstance(anchor, RedisAnchor):
                await anchor.close()
    return checkpoints
