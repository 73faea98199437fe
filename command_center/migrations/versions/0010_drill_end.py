"""drill flags on task-force messages, tasks and matters; cancelled orders and deadlines

Revision ID: 0010
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import command_center.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_FLAGS = ("taskforce_messages", "tasks", "matters")
_CANCELLED = ("orders", "deadlines")


def upgrade() -> None:
    for table in _FLAGS:
        # The server default fills existing rows; it stays (dropping it would rebuild each table on SQLite).
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("drill", sa.Boolean(), nullable=False, server_default=sa.false()))
    for table in _CANCELLED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("cancelled_at", command_center.db.UTCDateTime(timezone=True), nullable=True)
            )
    # Existing rows of drill task forces and incidents are drill rows too.
    op.execute(
        "UPDATE tasks SET drill = true WHERE taskforce_id IN (SELECT id FROM taskforces WHERE drill = true)"
        " OR incident_id IN (SELECT id FROM incidents WHERE drill = true)"
    )
    op.execute(
        "UPDATE taskforce_messages SET drill = true"
        " WHERE taskforce_id IN (SELECT id FROM taskforces WHERE drill = true)"
    )
    op.execute(
        "UPDATE matters SET drill = true WHERE taskforce_id IN (SELECT id FROM taskforces WHERE drill = true)"
        " OR incident_id IN (SELECT id FROM incidents WHERE drill = true)"
    )


def downgrade() -> None:
    for table in _CANCELLED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("cancelled_at")
    for table in _FLAGS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("drill")
