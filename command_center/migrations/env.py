"""Alembic environment: runs on the connection handed in by :mod:`command_center.migrate`.

The application's async engine opens the connection and calls Alembic inside ``run_sync``, so the same
code path migrates SQLite and PostgreSQL without a second, synchronous driver.
"""

from __future__ import annotations

from alembic import context

from command_center.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `command-center db upgrade`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
