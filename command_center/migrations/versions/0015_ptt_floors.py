"""push-to-talk floors

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import command_center.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ptt_floors",
        sa.Column("talkgroup", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=True),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("holder_role", sa.String(length=32), nullable=False),
        sa.Column("granted_at", command_center.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("spurts", sa.Integer(), nullable=False),
        sa.Column("stream_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("talkgroup", name=op.f("pk_ptt_floors")),
    )


def downgrade() -> None:
    op.drop_table("ptt_floors")
