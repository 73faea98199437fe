"""hub outbox: hub messages written with the change, relayed after commit (DESIGN.md section 4)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import command_center.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("data", sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"), nullable=False),
        sa.Column("created_at", command_center.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", command_center.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_outbox")),
    )
    with op.batch_alter_table("hub_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hub_outbox_published_at"), ["published_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hub_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hub_outbox_published_at"))
    op.drop_table("hub_outbox")
