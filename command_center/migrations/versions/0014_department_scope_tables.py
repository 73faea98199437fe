"""department scope as association tables: incident_departments, matter_departments

The JSON lists ``incidents.departments`` and ``matters.departments`` become rows, so who may see an incident
or a matter is a join and lists filter before their LIMIT. The existing lists are moved (order kept) and
the downgrade moves them back.

Revision ID: 0014
Revises: 0006
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0006"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql")

#: (owner table, link table, link's owner column)
_TABLES = (
    ("incidents", "incident_departments", "incident_id"),
    ("matters", "matter_departments", "matter_id"),
)


def _codes(value: Any) -> list[str]:
    """A stored department list as codes, in order, without repeats (SQLite may hand back the JSON text)."""
    if isinstance(value, str):
        value = json.loads(value or "[]")
    return list(dict.fromkeys(str(code) for code in value or []))


def upgrade() -> None:
    bind = op.get_bind()
    for owner, link, key in _TABLES:
        table = op.create_table(
            link,
            sa.Column(key, sa.Integer(), nullable=False),
            sa.Column("department", sa.String(length=64), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(
                [key], [f"{owner}.id"], name=op.f(f"fk_{link}_{key}_{owner}"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint(key, "department", name=op.f(f"pk_{link}")),
        )
        with op.batch_alter_table(link, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{link}_department"), ["department"], unique=False)
        source = sa.table(owner, sa.column("id", sa.Integer()), sa.column("departments", _JSON))
        rows = [
            {key: row_id, "department": code, "position": position}
            for row_id, value in bind.execute(sa.select(source.c.id, source.c.departments)).all()
            for position, code in enumerate(_codes(value))
        ]
        if rows:
            op.bulk_insert(table, rows)
        with op.batch_alter_table(owner, schema=None) as batch_op:
            batch_op.drop_column("departments")


def downgrade() -> None:
    bind = op.get_bind()
    for owner, link, key in _TABLES:
        with op.batch_alter_table(owner, schema=None) as batch_op:
            batch_op.add_column(sa.Column("departments", _JSON, nullable=True))
        links = sa.table(
            link, sa.column(key, sa.Integer()), sa.column("department", sa.String()), sa.column("position")
        )
        lists: dict[int, list[str]] = {}
        query = sa.select(links.c[key], links.c.department).order_by(links.c[key], links.c.position)
        for row_id, code in bind.execute(query).all():
            lists.setdefault(row_id, []).append(code)
        target = sa.table(owner, sa.column("id", sa.Integer()), sa.column("departments", _JSON))
        bind.execute(sa.update(target).values(departments=[]))
        for row_id, codes in lists.items():
            bind.execute(sa.update(target).where(target.c.id == row_id).values(departments=codes))
        with op.batch_alter_table(owner, schema=None) as batch_op:
            batch_op.alter_column("departments", existing_type=_JSON, nullable=False)
        with op.batch_alter_table(link, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{link}_department"))
        op.drop_table(link)
