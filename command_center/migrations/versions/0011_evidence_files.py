"""rectification evidence as uploaded files (name, size, type beside the SHA-256)

Revision ID: 0011
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rectification_evidence") as batch:
        batch.add_column(sa.Column("file_name", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("file_size", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("content_type", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rectification_evidence") as batch:
        batch.drop_column("content_type")
        batch.drop_column("file_size")
        batch.drop_column("file_name")
