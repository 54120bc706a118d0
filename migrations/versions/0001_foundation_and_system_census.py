"""foundation and system census

Revision ID: 0001
Revises:
Create Date: 2026-11-24 01:02:31.281344
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_seal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sealed_at", sa.DateTime(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("previous_hash", sa.String(length=64), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_seal")),
        sa.UniqueConstraint("last_seq", name=op.f("uq_audit_seal_last_seq")),
    )
    op.create_table(
        "platform_option",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_platform_option")),
    )
    op.create_table(
        "region",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["parent_id"], ["region.id"], name=op.f("fk_region_parent_id_region")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_region")),
        sa.UniqueConstraint("code", name=op.f("uq_region_code")),
    )
    op.create_table(
        "audit_event",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=True),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("chain_hash", sa.String(length=64), nullable=True),
        sa.Column("seal_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["seal_id"], ["audit_seal.id"], name=op.f("fk_audit_event_seal_id_audit_seal")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_event_seq")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_action"), ["action"], unique=False)
        batch_op.create_index("ix_audit_event_object", ["object_type", "object_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_occurred_at"), ["occurred_at"], unique=False)

    op.create_table(
        "department",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=True),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["region_id"], ["region.id"], name=op.f("fk_department_region_id_region")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_department")),
        sa.UniqueConstraint("code", name=op.f("uq_department_code")),
        sa.UniqueConstraint("name", name=op.f("uq_department_name")),
    )
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["department_id"], ["department.id"], name=op.f("fk_app_user_department_id_department")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("username", name=op.f("uq_app_user_username")),
    )
    op.create_table(
        "integration_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"], ["department.id"], name=op.f("fk_integration_target_department_id_department")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_target")),
        sa.UniqueConstraint("department_id", "name", name=op.f("uq_integration_target_department_id")),
    )
    with op.batch_alter_table("integration_target", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_integration_target_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_api_key_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_key_key_id")),
    )
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_key_user_id"), ["user_id"], unique=False)

    op.create_table(
        "information_system",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("usage_scope", sa.String(length=32), nullable=False),
        sa.Column("approving_department", sa.String(length=100), nullable=False),
        sa.Column("approval_date", sa.Date(), nullable=True),
        sa.Column("funding_source", sa.String(length=32), nullable=False),
        sa.Column("construction_cost", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("annual_om_budget", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("network", sa.String(length=32), nullable=False),
        sa.Column("sharing_status", sa.String(length=32), nullable=False),
        sa.Column("connected_to_platform", sa.Boolean(), nullable=False),
        sa.Column("connection_required", sa.Boolean(), nullable=False),
        sa.Column("protection_level", sa.Integer(), nullable=True),
        sa.Column("protection_assessed", sa.Boolean(), nullable=False),
        sa.Column("offsite_backup", sa.Boolean(), nullable=False),
        sa.Column("last_maintained_on", sa.Date(), nullable=True),
        sa.Column("cpu_utilization", sa.Float(), nullable=True),
        sa.Column("storage_utilization", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("integration_target_id", sa.Integer(), nullable=True),
        sa.Column("integration_state", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"], ["department.id"], name=op.f("fk_information_system_department_id_department")
        ),
        sa.ForeignKeyConstraint(
            ["integration_target_id"],
            ["integration_target.id"],
            name=op.f("fk_information_system_integration_target_id_integration_target"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_information_system")),
        sa.UniqueConstraint("code", name=op.f("uq_information_system_code")),
    )
    with op.batch_alter_table("information_system", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_information_system_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_information_system_sharing_status"), ["sharing_status"], unique=False
        )

    op.create_table(
        "filing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("submitted_by", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("review", sa.String(length=32), nullable=False),
        sa.Column("review_note", sa.Text(), nullable=False),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["app_user.id"], name=op.f("fk_filing_reviewed_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"], ["app_user.id"], name=op.f("fk_filing_submitted_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["system_id"], ["information_system.id"], name=op.f("fk_filing_system_id_information_system")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filing")),
    )
    with op.batch_alter_table("filing", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_filing_system_id"), ["system_id"], unique=False)

    op.create_table(
        "system_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("active_users", sa.Integer(), nullable=False),
        sa.Column("transactions", sa.Integer(), nullable=False),
        sa.Column("cpu_utilization", sa.Float(), nullable=True),
        sa.Column("storage_utilization", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["information_system.id"],
            name=op.f("fk_system_usage_system_id_information_system"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_usage")),
        sa.UniqueConstraint("system_id", "month", name=op.f("uq_system_usage_system_id")),
    )
    with op.batch_alter_table("system_usage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_system_usage_system_id"), ["system_id"], unique=False)

    op.create_table(
        "zombie_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["app_user.id"], name=op.f("fk_zombie_review_decided_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["information_system.id"],
            name=op.f("fk_zombie_review_system_id_information_system"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zombie_review")),
    )
    with op.batch_alter_table("zombie_review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_zombie_review_system_id"), ["system_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("zombie_review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zombie_review_system_id"))

    op.drop_table("zombie_review")
    with op.batch_alter_table("system_usage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_system_usage_system_id"))

    op.drop_table("system_usage")
    with op.batch_alter_table("filing", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_filing_system_id"))

    op.drop_table("filing")
    with op.batch_alter_table("information_system", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_information_system_sharing_status"))
        batch_op.drop_index(batch_op.f("ix_information_system_department_id"))

    op.drop_table("information_system")
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_key_user_id"))

    op.drop_table("api_key")
    with op.batch_alter_table("integration_target", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integration_target_department_id"))

    op.drop_table("integration_target")
    op.drop_table("app_user")
    op.drop_table("department")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_occurred_at"))
        batch_op.drop_index("ix_audit_event_object")
        batch_op.drop_index(batch_op.f("ix_audit_event_action"))

    op.drop_table("audit_event")
    op.drop_table("region")
    op.drop_table("platform_option")
    op.drop_table("audit_seal")
