"""The audit chain's cryptography: keyed entry hashes and signed checkpoints (DESIGN.md section 11).

Each entry's hash is an HMAC-SHA-256, keyed from ``CC_SECRET_KEY``, over its fields and the previous entry's
hash: someone with database access alone can neither rewrite a row and recompute the hashes after it, nor
append a forged row. What such a person can still do is delete the newest rows (or all of them); the signed
checkpoints, written outside the table, catch that. Entries written before the chain was keyed carry a
plain SHA-256 ("legacy"); they verify only as an unbroken prefix that the first keyed entry links to.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64


def chain_key(root: bytes) -> bytes:
    return hmac.new(root, b"entries", hashlib.sha256).digest()


def checkpoint_key(root: bytes) -> bytes:
    return hmac.new(root, b"checkpoints", hashlib.sha256).digest()


def _material(fields: dict[str, Any]) -> bytes:
    at: datetime = fields["at"]
    return json.dumps(
        [
            fields["seq"],
            at.isoformat(timespec="microseconds"),
            fields["actor_id"],
            fields["actor_name"],
            fields["action"],
            fields["target"],
            fields["outcome"],
            fields["detail"],
            fields["prev_hash"],
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def entry_hash(key: bytes, fields: dict[str, Any]) -> str:
    """The keyed hash of one entry (``fields``: seq, at, actor_id, actor_name, action, target, outcome,
    detail, prev_hash)."""
    return hmac.new(key, _material(fields), hashlib.sha256).hexdigest()


def legacy_entry_hash(fields: dict[str, Any]) -> str:
    """The unkeyed SHA-256 that entries written before the keyed chain carry."""
    return hashlib.sha256(_material(fields)).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that the log held ``count`` entries, the last being ``seq`` with ``hash``."""

    seq: int
    hash: str
    count: int
    at: str  # ISO-8601 UTC, when it was taken
    sig: str = ""
    source: str = ""  # where it was read from (file line, Redis), for messages; not signed

    def _payload(self) -> bytes:
        return json.dumps([1, self.seq, self.hash, self.count, self.at], separators=(",", ":")).encode()

    def signed(self, key: bytes) -> Checkpoint:
        sig = hmac.new(key, self._payload(), hashlib.sha256).hexdigest()
        return Checkpoint(self.seq, self.hash, self.count, self.at, sig, self.source)

    def valid(self, key: bytes) -> bool:
        expected = hmac.new(key, self._payload(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.sig)

    def to_line(self) -> str:
        data = asdict(self)
        data.pop("source")
        return json.dumps({"v": 1, **data}, separators=(",", ":"))

    @classmethod
    def from_line(cls, line: str, source: str) -> Checkpoint | None:
        """Parse one stored line; ``None`` for a line that is not a checkpoint at all."""
        try:
            data = json.loads(line)
            return cls(
                seq=int(data["seq"]),
                hash=str(data["hash"]),
                count=int(data["count"]),
                at=str(data["at"]),
                sig=str(data["sig"]),
                source=source,
            )
        except (ValueError, KeyError, TypeError):
            return None
