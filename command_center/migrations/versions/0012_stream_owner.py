"""stream owner: the process holding a stream and its public URL (WHIP/WHEP redirects); stopped flag and
the encrypted cascade token, so restarts resume what was not stopped

Revision ID: 0012
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("streams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("owner_url", sa.String(length=300), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("stopped", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("cascade_secret", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("streams", schema=None) as batch_op:
        batch_op.drop_column("cascade_secret")
        batch_op.drop_column("stopped")
        batch_op.drop_column("owner_url")
        batch_op.drop_column("owner")
