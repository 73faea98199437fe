"""Append to and verify the hash-chained audit log.

Each entry's hash covers its own fields and the previous entry's hash, so altering or deleting any row
breaks every link after it; :func:`verify` names the first broken one. Appends are serialised (an advisory
lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) so concurrent writers cannot fork the chain, and an
append joins the caller's transaction: an audited change and its audit entry commit or vanish together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit.models import AuditEntry
from command_center.auth.roles import Principal
from command_center.db import utcnow

GENESIS_HASH = "0" * 64
_PG_AUDIT_LOCK = 0x43430A0D  # arbitrary constant key for pg_advisory_xact_lock

#: Keys never written to the audit log, whatever a caller passes.
_SECRET_KEYS = frozenset({"password", "token", "access_token", "secret", "secret_key", "sdp"})


def canonical_detail(detail: Mapping[str, Any] | None) -> str:
    cleaned = {k: ("***" if k in _SECRET_KEYS else v) for k, v in (detail or {}).items()}
    return json.dumps(cleaned, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor_id: int | None,
    actor_name: str,
    action: str,
    target: str,
    outcome: str,
    detail: str,
    prev_hash: str,
) -> str:
    material = json.dumps(
        [
            seq,
            at.isoformat(timespec="microseconds"),
            actor_id,
            actor_name,
            action,
            target,
            outcome,
            detail,
            prev_hash,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode()).hexdigest()


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
    entry = AuditEntry(**fields, hash=entry_hash(**fields))
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_broken_seq: int | None = None
    reason: str = ""


async def verify(session: AsyncSession, *, batch: int = 1000) -> ChainReport:
    """Walk the chain in order and report the first entry whose link or content does not hold."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    last_seq = 0
    while True:
        rows = (
            (
                await session.execute(
                    select(AuditEntry).where(AuditEntry.seq > last_seq).order_by(AuditEntry.seq).limit(batch)
                )
            )
            .scalars()
            .all()
        )
        if not rows:
            return ChainReport(ok=True, entries=count)
        for row in rows:
            if row.seq != expected_seq:
                return ChainReport(False, count, expected_seq, f"entry {expected_seq} is missing (deleted)")
            if row.prev_hash != expected_prev:
                return ChainReport(False, count, row.seq, "link to the previous entry does not match")
            recomputed = entry_hash(
                seq=row.seq,
                at=row.at,
                actor_id=row.actor_id,
                actor_name=row.actor_name,
                action=row.action,
                target=row.target,
                outcome=row.outcome,
                detail=row.detail,
                prev_hash=row.prev_hash,
            )
            if recomputed != row.hash:
                return ChainReport(False, count, row.seq, "content was altered after it was written")
            expected_prev = row.hash
            expected_seq += 1
            count += 1
            last_seq = row.seq
        session.expunge_all()


async def count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(AuditEntry))).scalar_one())


async def list_entries(
    session: AsyncSession, *, action: str | None = None, before_seq: int | None = None, limit: int = 100
) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(min(limit, 500))
    if action:
        query = query.where(AuditEntry.action == action)
    if before_seq:
        query = query.where(AuditEntry.seq < before_seq)
    return list((await session.execute(query)).scalars().all())
