"""Evidence files for rectification items: stored once by SHA-256, streamed in and out, never held whole.

An upload is written to a temporary file in the evidence folder while its hash is computed, then renamed to
``<folder>/<sha256[:2]>/<sha256>``: the same file uploaded twice is stored once, and a stored file's name is
its hash, so anyone can check it has not changed since it was recorded (the hash is also in the audit log).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from command_center.errors import NotFound, TooLarge, ValidationFailed

CHUNK = 64 * 1024


class Readable(Protocol):
    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class EvidenceFile:
    """A stored upload as the evidence row records it."""

    sha256: str
    size: int
    file_name: str
    content_type: str


def path_for(folder: Path, sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise NotFound("no such evidence file", field="sha256")
    return folder / sha256[:2] / sha256


def clean_name(name: str | None) -> str:
    """Keep the uploader's file name for display only: no folders, no control characters, bounded."""
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    base = "".join(c for c in base if c.isprintable())
    return base[-200:] or "evidence"


async def store(
    folder: Path, upload: Readable, *, file_name: str | None, content_type: str | None, max_bytes: int
) -> EvidenceFile:
    """Stream ``upload`` into the folder; refuse an empty file or one over ``max_bytes``."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    handle, temp_name = tempfile.mkstemp(prefix=".upload-", dir=folder)
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(
                        f"the file is larger than {max_bytes} bytes",
                        field="file",
                        params={"rule": "evidence.too_large", "max_mb": round(max_bytes / 2**20, 1)},
                    )
                digest.update(chunk)
                await asyncio.to_thread(out.write, chunk)  # disk writes off the event loop
        if size == 0:
            raise ValidationFailed("the file is empty", field="file", params={"rule": "evidence.empty"})
        sha256 = digest.hexdigest()
        target = path_for(folder, sha256)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        os.replace(temp, target)
    finally:
        await asyncio.to_thread(temp.unlink, missing_ok=True)
    return EvidenceFile(
        sha256=sha256,
        size=size,
        file_name=clean_name(file_name),
        content_type=(content_type or "application/octet-stream")[:100],
    )
