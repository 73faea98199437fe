"""The names of the hub's channels (DESIGN.md section 4), and the message types that steer the hub itself.

Every module that names a channel builds it here, so a rename or a new rule has one place to change and the
hub's policy and the domain's events cannot disagree on spelling. It imports nothing of ours, so anyone
may use it.
"""

from __future__ import annotations

from typing import Final

BOARD: Final = "board"
LEDGER: Final = "ledger"
#: Server-to-server: revocations and other orders every hub process must follow. No client may subscribe
#: (no policy rule knows the prefix), and it travels the outbox like any event, so it is sent iff the
#: change that caused it commits.
CONTROL: Final = "control"

#: The only ``type`` values a client may publish (requests the server answers). Everything else is the
#: server's to say; a later feature (push-to-talk) adds its requests here.
CLIENT_REQUEST_TYPES: frozenset[str] = frozenset(
    {"webrtc.publish", "webrtc.view", "ptt.request", "ptt.release"}
)

#: Message types that change who may read the channel they are published on: on one, the hub re-checks
#: every subscriber of that channel before delivering it and ends the subscriptions that lost the right.
ACCESS_CHANGE_TYPES: frozenset[str] = frozenset({"taskforce.members_changed", "incident.departments_changed"})

#: Control message types.
REVOKED: Final = "auth.revoked"


def board(department: str | None = None) -> str:
    """``board`` (the command room's whole view) or ``board:{department}`` (one department's share)."""
    return BOARD if department is None else f"{BOARD}:{department}"


def incident(incident_id: int | str) -> str:
    return f"incident:{incident_id}"


def taskforce(taskforce_id: int | str) -> str:
    return f"taskforce:{taskforce_id}"


def user(user_id: int | str) -> str:
    return f"user:{user_id}"


def drill(drill_id: int | str) -> str:
    return f"drill:{drill_id}"


#: Prefixes whose audience can shrink while a client listens (see ``ACCESS_CHANGE_TYPES``).
RECHECKED_PREFIXES: tuple[str, ...] = ("taskforce:", "incident:")
