"""Where a stream lives when several processes serve: each stream's row names the process holding it.

A process knows itself by a random id made at start and by its public URL (``CC_PUBLIC_URL``). A WHIP or
WHEP request for a stream held elsewhere is answered ``307`` to that URL; a hub signaling request is
forwarded to the owner through the broker (``command_center.streams.forwarding``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from command_center.errors import ServiceUnavailable
from command_center.streams.models import StreamRecord


@dataclass(frozen=True, slots=True)
class Process:
    """This server process: ``id`` is new at every start, so a restarted process owns nothing."""

    url: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def claim(self, row: StreamRecord) -> None:
        row.owner, row.owner_url = self.id, self.url

    def holds(self, row: StreamRecord) -> bool:
        return not row.owner or row.owner == self.id


def owner_url(row: StreamRecord, here: Process) -> str | None:
    """The base URL of the process holding ``row``'s stream, or None when it is this one."""
    if here.holds(row):
        return None
    if not row.owner_url:
        raise ServiceUnavailable(
            f"stream {row.id} is held by process {row.owner}, which published no URL (set CC_PUBLIC_URL)"
        )
    return row.owner_url.rstrip("/")
