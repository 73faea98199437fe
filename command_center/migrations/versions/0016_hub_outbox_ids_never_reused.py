"""hub outbox ids are never reused (SQLite AUTOINCREMENT)

Without AUTOINCREMENT SQLite numbers a new row max(id) + 1, so after the relay's retention window has pruned
every row (a quiet night) the next message is id 1 again: the running relay skips it as already published
and the broker drops ``outbox:1`` as a duplicate of a message it saw within its idempotency window.
PostgreSQL's sequence never goes back; nothing changes there.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import time

import sqlalchemy as sa
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
    bind = op.get_bind()
    if bind.scalar(sa.text("SELECT count(*) FROM hub_outbox")) == 0:
        # No row to count on from: the table was pruned empty (the case this fixes) or never used, and the
        # ids it gave out before, whose keys the broker may still hold, are forgotten. Start above any id
        # a table could have reached: the time in milliseconds (about 1.8e12, far below 2**63).
        bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'hub_outbox'"))
        bind.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('hub_outbox', :seq)"),
            {"seq": int(time.time() * 1000)},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("hub_outbox", recreate="always") as batch_op:
        batch_op.alter_column("id", autoincrement=True)
