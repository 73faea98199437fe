"""hub outbox ids are never reused (SQLite AUTOINCREMENT)

Without AUTOINCREMENT SQLite numbers a new row max(id) + 1, so after the relay's retention window has pruned
every row (a quiet night) the next message is id 1 again: the running relay skips it as already published
and the broker drops ``outbox:1`` as a duplicate of a message it saw within its idempotency window.
PostgreSQL's sequence never goes back; nothing changes there.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # Rebuilt with its rows; SQLite starts the AUTOINCREMENT counter after the largest id copied.
    with op.batch_alter_table(
        "hub_outbox", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.alter_column("id", autoincrement=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("hub_outbox", recreate="always") as batch_op:
        batch_op.alter_column("id", autoincrement=True)
