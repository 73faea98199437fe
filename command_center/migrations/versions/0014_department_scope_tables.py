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
down_revision = "0013"
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


def _drop_departments(owner: str) -> None:
    """Drop the JSON column in place (SQLite 3.35+ and PostgreSQL both can).

    Not a batch "move and copy": recreating ``incidents`` on SQLite drops the old table, and with foreign
    keys on (they are, and cannot be switched off inside the migration's transaction) that deletes every
    row that cascades from it: the incident timelines and the rows this migration just wrote.
    """
    op.drop_column(owner, "departments")


def upgrade() -> None:
    bind = op.get_bind()
    for owner, link, key in _TABLES:
        source = sa.table(owner, sa.column("id", sa.Integer()), sa.column("departments", _JSON))
        rows = [
            {key: row_id, "department": code, "position": position}
            for row_id, value in bind.execute(sa.select(source.c.id, source.c.departments)).all()
            for position, code in enumerate(_codes(value))
        ]
        _drop_departments(owner)
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
        op.create_index(op.f(f"ix_{link}_department"), link, ["department"], unique=False)
        if rows:
            op.bulk_insert(table, rows)


def downgrade() -> None:
    bind = op.get_bind()
    for owner, link, key in _TABLES:
        links = sa.table(
            link, sa.column(key, sa.Integer()), sa.column("department", sa.String()), sa.column("position")
        )
        lists: dict[int, list[str]] = {}
        query = sa.select(links.c[key], links.c.department).order_by(links.c[key], links.c.position)
        for row_id, code in bind.execute(query).all():
            lists.setdefault(row_id, []).append(code)
        op.drop_index(op.f(f"ix_{link}_department"), table_name=link)
        op.drop_table(link)
        # NOT NULL needs a default for the rows already there; added in place, as the upgrade dropped it.
        op.add_column(owner, sa.Column("departments", _JSON, nullable=False, server_default="[]"))
        target = sa.table(owner, sa.column("id", sa.Integer()), sa.column("departments", _JSON))
        for row_id, codes in lists.items():
            bind.execute(sa.update(target).where(target.c.id == row_id).values(departments=codes))
        if bind.dialect.name != "sqlite":  # SQLite cannot drop a default in place; it is harmless there
            op.alter_column(owner, "departments", existing_type=_JSON, server_default=None)
