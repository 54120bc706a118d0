"""resource catalog and data standards

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:52:51.411851
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_classification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("parent_code", sa.String(length=20), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_classification")),
        sa.UniqueConstraint("code", name=op.f("uq_catalog_classification_code")),
    )
    op.create_table(
        "code_set",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_set")),
        sa.UniqueConstraint("identifier", name=op.f("uq_code_set_identifier")),
    )
    op.create_table(
        "code_value",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_set_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("parent_code", sa.String(length=32), nullable=True),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["code_set_id"],
            ["code_set.id"],
            name=op.f("fk_code_value_code_set_id_code_set"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_value")),
        sa.UniqueConstraint("code_set_id", "code", name=op.f("uq_code_value_code_set_id")),
    )
    with op.batch_alter_table("code_value", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_code_value_code_set_id"), ["code_set_id"], unique=False)

    op.create_table(
        "data_element",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("english_name", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("data_type", sa.String(length=2), nullable=False),
        sa.Column("length", sa.Integer(), nullable=True),
        sa.Column("precision", sa.Integer(), nullable=True),
        sa.Column("format", sa.String(length=100), nullable=False),
        sa.Column("validator", sa.String(length=32), nullable=True),
        sa.Column("code_set_id", sa.Integer(), nullable=True),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("security_level", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["code_set_id"], ["code_set.id"], name=op.f("fk_data_element_code_set_id_code_set")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_element")),
        sa.UniqueConstraint("identifier", name=op.f("uq_data_element_identifier")),
    )
    op.create_table(
        "resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("classification_code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("provider_code", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("format_category", sa.String(length=32), nullable=False),
        sa.Column("format_type", sa.String(length=50), nullable=False),
        sa.Column("share_type", sa.String(length=32), nullable=False),
        sa.Column("share_condition", sa.Text(), nullable=False),
        sa.Column("delivery", sa.String(length=32), nullable=False),
        sa.Column("open_type", sa.String(length=32), nullable=False),
        sa.Column("open_condition", sa.Text(), nullable=False),
        sa.Column("update_cycle", sa.String(length=32), nullable=False),
        sa.Column("publish_date", sa.Date(), nullable=True),
        sa.Column("system_id", sa.Integer(), nullable=True),
        sa.Column("related_codes", sa.JSON(), nullable=False),
        sa.Column("security_level", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("return_reason", sa.Text(), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["app_user.id"], name=op.f("fk_resource_created_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["department.id"], name=op.f("fk_resource_department_id_department")
        ),
        sa.ForeignKeyConstraint(
            ["system_id"], ["information_system.id"], name=op.f("fk_resource_system_id_information_system")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource")),
        sa.UniqueConstraint("code", name=op.f("uq_resource_code")),
    )
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_classification_code"), ["classification_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_resource_department_id"), ["department_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_resource_status"), ["status"], unique=False)

    op.create_table(
        "catalog_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("item_names", sa.Text(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("classification_code", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=1), nullable=False),
        sa.Column("share_type", sa.String(length=32), nullable=False),
        sa.Column("open_type", sa.String(length=32), nullable=False),
        sa.Column("format_category", sa.String(length=32), nullable=False),
        sa.Column("update_cycle", sa.String(length=32), nullable=False),
        sa.Column("security_level", sa.String(length=32), nullable=False),
        sa.Column("publish_date", sa.Date(), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"], ["department.id"], name=op.f("fk_catalog_entry_department_id_department")
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resource.id"], name=op.f("fk_catalog_entry_resource_id_resource")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_entry")),
        sa.UniqueConstraint("code", name=op.f("uq_catalog_entry_code")),
        sa.UniqueConstraint("resource_id", name=op.f("uq_catalog_entry_resource_id")),
    )
    with op.batch_alter_table("catalog_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_entry_category"), ["category"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_catalog_entry_classification_code"), ["classification_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_catalog_entry_department_id"), ["department_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_catalog_entry_format_category"), ["format_category"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_catalog_entry_open_type"), ["open_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_entry_publish_date"), ["publish_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_entry_share_type"), ["share_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_entry_update_cycle"), ["update_cycle"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_entry_name"), ["name"], unique=False)
        batch_op.create_index("ix_catalog_entry_department_id_name", ["department_id", "name"], unique=False)
        batch_op.create_index(
            "ix_catalog_entry_search_cover",
            [
                "id",
                "department_id",
                "classification_code",
                "share_type",
                "open_type",
                "format_category",
                "update_cycle",
                "publish_date",
                "name",
            ],
            unique=False,
        )

    op.create_table(
        "data_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("column_name", sa.String(length=64), nullable=False),
        sa.Column("element_id", sa.Integer(), nullable=False),
        sa.Column("data_type", sa.String(length=2), nullable=False),
        sa.Column("length", sa.Integer(), nullable=True),
        sa.Column("code_set_id", sa.Integer(), nullable=True),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("is_key", sa.Boolean(), nullable=False),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("security_level", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["code_set_id"], ["code_set.id"], name=op.f("fk_data_item_code_set_id_code_set")
        ),
        sa.ForeignKeyConstraint(
            ["element_id"], ["data_element.id"], name=op.f("fk_data_item_element_id_data_element")
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resource.id"],
            name=op.f("fk_data_item_resource_id_resource"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_item")),
        sa.UniqueConstraint("resource_id", "name", name=op.f("uq_data_item_resource_id")),
    )
    with op.batch_alter_table("data_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_item_resource_id"), ["resource_id"], unique=False)

    op.create_table(
        "resource_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("change_note", sa.Text(), nullable=False),
        sa.Column("submitted_by", sa.Integer(), nullable=True),
        sa.Column("published_by", sa.Integer(), nullable=True),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["published_by"], ["app_user.id"], name=op.f("fk_resource_version_published_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resource.id"], name=op.f("fk_resource_version_resource_id_resource")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"], ["app_user.id"], name=op.f("fk_resource_version_submitted_by_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_version")),
        sa.UniqueConstraint("resource_id", "version", name=op.f("uq_resource_version_resource_id")),
    )
    with op.batch_alter_table("resource_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_resource_version_resource_id"), ["resource_id"], unique=False)

    _create_search_index()


def _create_search_index() -> None:
    """The full-text index over catalog_entry.search_text, kept in step by the database itself."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE catalog_entry_fts USING fts5("
            "search_text, content='catalog_entry', content_rowid='id', tokenize='unicode61')"
        )
        op.execute(
            "CREATE TRIGGER catalog_entry_ai AFTER INSERT ON catalog_entry BEGIN "
            "INSERT INTO catalog_entry_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER catalog_entry_ad AFTER DELETE ON catalog_entry BEGIN "
            "INSERT INTO catalog_entry_fts(catalog_entry_fts, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER catalog_entry_au AFTER UPDATE ON catalog_entry BEGIN "
            "INSERT INTO catalog_entry_fts(catalog_entry_fts, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); "
            "INSERT INTO catalog_entry_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
    elif bind.dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE catalog_entry ADD COLUMN search_vector tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED"
        )
        op.execute("CREATE INDEX ix_catalog_entry_search_vector ON catalog_entry USING gin (search_vector)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("catalog_entry_ai", "catalog_entry_ad", "catalog_entry_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS catalog_entry_fts")
    with op.batch_alter_table("resource_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_version_resource_id"))

    op.drop_table("resource_version")
    with op.batch_alter_table("data_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_item_resource_id"))

    op.drop_table("data_item")
    with op.batch_alter_table("catalog_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_entry_search_cover")
        batch_op.drop_index("ix_catalog_entry_department_id_name")
        batch_op.drop_index(batch_op.f("ix_catalog_entry_name"))
        batch_op.drop_index(batch_op.f("ix_catalog_entry_update_cycle"))
        batch_op.drop_index(batch_op.f("ix_catalog_entry_share_type"))
        batch_op.drop_index(batch_op.f("ix_catalog_entry_publish_date"))
        batch_op.drop_index(batch_op.f("ix_catalog_entry_open_type"))
        batch_op.drop_index(batch_op.f("ix_catalog_entry_format_category"))
        batch_op.drop_index(batch_op.f("ix_catalog_entry_department_id"))
        batch_op.drop_index(batch_op.f("ix_catalog_entry_classification_code"))
        batch_op.drop_index(batch_op.f("ix_catalog_entry_category"))

    op.drop_table("catalog_entry")
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_status"))
        batch_op.drop_index(batch_op.f("ix_resource_department_id"))
        batch_op.drop_index(batch_op.f("ix_resource_classification_code"))

    op.drop_table("resource")
    op.drop_table("data_element")
    with op.batch_alter_table("code_value", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_code_value_code_set_id"))

    op.drop_table("code_value")
    op.drop_table("code_set")
    op.drop_table("catalog_classification")
