"""devices (GB/T 28181)

Revision ID: 0013
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import command_center.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(length=20), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("ha1", sa.String(length=32), nullable=False),
        sa.Column("realm", sa.String(length=10), nullable=False),
        sa.Column("created_at", command_center.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("manufacturer", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("channels", JSON, nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("position_at", command_center.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", command_center.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_diagnosis", JSON, nullable=True),
        sa.ForeignKeyConstraint(["officer_id"], ["users.id"], name=op.f("fk_devices_officer_id_users")),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_devices")),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_devices_officer_id"), ["officer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devices_officer_id"))
    op.drop_table("devices")
