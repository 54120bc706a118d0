"""Alembic environment: one metadata (jutong.models), batch mode on SQLite."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from jutong.core.config import get_settings
from jutong.core.db import make_engine
from jutong.models import metadata

config = context.config


# Full-text search objects are made by hand in the migrations (FTS5 tables, a generated tsvector):
# autogenerate must not propose to drop them.
_HAND_MADE = ("catalog_entry_fts", "search_vector", "ix_catalog_entry_search_vector")


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (reflected and name is not None and name.startswith(_HAND_MADE))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url()
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
