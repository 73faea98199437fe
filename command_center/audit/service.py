"""Append to and verify the keyed, hash-chained audit log (DESIGN.md section 11).

Each entry's HMAC covers its own fields and the previous entry's hash, so altering or deleting any row
breaks every link after it and, without the key, cannot be repaired; :func:`verify` names the first broken
link, and with the signed checkpoints (:mod:`command_center.audit.anchor`) a truncation of the newest rows
too. Appends are serialised (an advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) so concurrent
writers cannot fork the chain, and an append joins the caller's transaction: an audited change and its audit
entry commit or vanish together. The key comes with the session (``Database.from_settings``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit.chain import (
    GENESIS_HASH,
    Checkpoint,
    chain_key,
    checkpoint_key,
    entry_hash,
    legacy_entry_hash,
)
from command_center.audit.models import AuditEntry
from command_center.auth.roles import Principal
from command_center.db import utcnow

_PG_AUDIT_LOCK = 0x43430A0D  # arbitrary constant key for pg_advisory_xact_lock

#: Keys never written to the audit log, whatever a caller passes.
_SECRET_KEYS = frozenset({"password", "token", "access_token", "secret", "secret_key", "sdp"})


def canonical_detail(detail: Mapping[str, Any] | None) -> str:
    cleaned = {k: ("***" if k in _SECRET_KEYS else v) for k, v in (detail or {}).items()}
    return json.dumps(cleaned, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def root_key(session: AsyncSession) -> bytes:
    key = session.info.get("audit_key")
    if not isinstance(key, bytes):
        raise RuntimeError("this session has no audit key: open the database with Database.from_settings()")
    return key


async def record(
    session: AsyncSession,
    *,
    action: str,
    actor: Principal | None = None,
    target: str = "",
    outcome: str = "ok",
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (the caller commits)."""
    key = chain_key(root_key(session))  # fail before taking the lock if the session has no key
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_AUDIT_LOCK})
    last = (
        await session.execute(
            select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
        )
    ).first()
    seq = (last.seq + 1) if last else 1
    prev_hash = last.hash if last else GENESIS_HASH
    at = at or utcnow()
    fields = {
        "seq": seq,
        "at": at,
        "actor_id": actor.id if actor else None,
        "actor_name": actor.name if actor else "system",
        "action": action,
        "target": target[:200],
        "outcome": outcome,
        "detail": canonical_detail(detail),
        "prev_hash": prev_hash,
    }
    entry = AuditEntry(**fields, hash=entry_hash(key, fields))
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_broken_seq: int | None = None
    reason: str = ""
    legacy: int = 0  # entries from before the chain was keyed (plain SHA-256)
    checkpoints: int = 0  # signed checkpoints checked


def _fields(row: AuditEntry) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "at": row.at,
        "actor_id": row.actor_id,
        "actor_name": row.actor_name,
        "action": row.action,
        "target": row.target,
        "outcome": row.outcome,
        "detail": row.detail,
        "prev_hash": row.prev_hash,
    }


class _Walk:
    """The state of one pass over the chain, row by row, in order."""

    def __init__(self, key: bytes, checkpoints: Sequence[Checkpoint]) -> None:
        self.key = key
        self.by_seq: dict[int, list[Checkpoint]] = {}
        for checkpoint in checkpoints:
            self.by_seq.setdefault(checkpoint.seq, []).append(checkpoint)
        self.expected_seq = 1
        self.expected_prev = GENESIS_HASH
        self.keyed_seen = False
        self.legacy = 0

    def problem(self, row: AuditEntry) -> str | None:
        """What is wrong with ``row`` as the next link, or ``None``."""
        seq = row.seq
        if seq != self.expected_seq:
            return f"entry {self.expected_seq} is missing (deleted)"
        if row.prev_hash != self.expected_prev:
            return f"entry {seq}: the link to the previous entry does not match"
        fields = _fields(row)
        if entry_hash(self.key, fields) == row.hash:
            self.keyed_seen = True
        elif legacy_entry_hash(fields) == row.hash and not self.keyed_seen:
            self.legacy += 1
        elif legacy_entry_hash(fields) == row.hash:
            return f"entry {seq} carries an unkeyed hash after keyed entries: forged (appended or rewritten)"
        else:
            return (
                f"entry {seq}: content was altered after it was written, or the entry was forged "
                "(its keyed hash does not match)"
            )
        for checkpoint in self.by_seq.get(seq, ()):
            if checkpoint.hash != row.hash:
                return (
                    f"entry {seq} differs from the signed checkpoint of {checkpoint.at} "
                    f"({checkpoint.source}): rewritten with recomputed hashes"
                )
        self.expected_prev = row.hash
        self.expected_seq += 1
        return None


async def verify(
    session: AsyncSession, *, checkpoints: Sequence[Checkpoint] = (), batch: int = 1000
) -> ChainReport:
    """Walk the chain in order, then hold it against the signed checkpoints; report the first problem."""
    root = root_key(session)
    signing = checkpoint_key(root)
    for checkpoint in checkpoints:
        if not checkpoint.valid(signing):
            return ChainReport(
                False,
                0,
                checkpoint.seq,
                f"checkpoint {checkpoint.source} has a bad signature: forged, or signed with another key",
            )
    walk = _Walk(chain_key(root), checkpoints)
    last_seq = 0
    while True:
        query = select(AuditEntry).where(AuditEntry.seq > last_seq).order_by(AuditEntry.seq).limit(batch)
        rows = (await session.execute(query)).scalars().all()
        if not rows:
            break
        for row in rows:
            problem = walk.problem(row)
            if problem is not None:
                broken = walk.expected_seq if "missing" in problem else row.seq
                return ChainReport(
                    False, walk.expected_seq - 1, broken, problem, walk.legacy, len(checkpoints)
                )
            last_seq = row.seq
        session.expunge_all()
    entries = walk.expected_seq - 1
    if entries and walk.legacy == entries:
        return ChainReport(
            False,
            entries,
            1,
            "no entry carries a keyed hash: the log was rewritten without the key, or it predates the keyed "
            "chain and was never upgraded (`command-center db upgrade` seals the old entries)",
            walk.legacy,
            len(checkpoints),
        )
    newest = max(checkpoints, key=lambda c: c.seq, default=None)
    if newest is not None and newest.seq > entries:
        reason = (
            f"all entries were deleted: the signed checkpoint of {newest.at} ({newest.source}) records "
            f"{newest.count} entries"
            if entries == 0
            else f"the newest entries were deleted (truncated): the signed checkpoint of {newest.at} "
            f"({newest.source}) records {newest.count} entries up to entry {newest.seq}, "
            f"the log ends at entry {entries}"
        )
        return ChainReport(False, entries, entries + 1, reason, walk.legacy, len(checkpoints))
    return ChainReport(True, entries, None, "", walk.legacy, len(checkpoints))


async def seal_legacy(session: AsyncSession) -> AuditEntry | None:
    """Once, when a database is upgraded to the keyed chain: if the newest entry is unkeyed, append a keyed
    ``audit.seal`` entry after it. Its HMAC covers the last legacy hash, so the old entries cannot be
    rewritten afterwards, and a log without any keyed entry is from then on a sign of tampering."""
    last = (await session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))).scalar()
    if last is None or entry_hash(chain_key(root_key(session)), _fields(last)) == last.hash:
        return None
    return await record(session, action="audit.seal", detail={"legacy_entries": last.seq})


async def head(session: AsyncSession) -> tuple[int, str]:
    """The newest entry's seq and hash, ``(0, GENESIS_HASH)`` for an empty log."""
    last = (
        await session.execute(
            select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
        )
    ).first()
    return (last.seq, last.hash) if last else (0, GENESIS_HASH)


async def count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(AuditEntry))).scalar_one())
