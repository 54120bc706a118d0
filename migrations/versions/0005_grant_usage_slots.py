"""grant usage counted over slots, so concurrent calls under one grant do not queue on one row

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("grant_usage") as batch:
        batch.add_column(sa.Column("slot", sa.SmallInteger(), server_default="0", nullable=False))
        batch.drop_constraint("uq_grant_usage_grant_id", type_="unique")
        batch.create_unique_constraint("uq_grant_usage_grant_id", ["grant_id", "day", "slot"])


def downgrade() -> None:
    # fold the slots back into one row per grant and day before the old constraint returns
    op.execute(
        "UPDATE grant_usage SET rows = (SELECT SUM(u.rows) FROM grant_usage u WHERE u.grant_id = grant_usage.grant_id "
        "AND u.day = grant_usage.day), calls = (SELECT SUM(u.calls) FROM grant_usage u "
        "WHERE u.grant_id = grant_usage.grant_id AND u.day = grant_usage.day) WHERE slot = 0"
    )
    op.execute("DELETE FROM grant_usage WHERE slot <> 0")
    with op.batch_alter_table("grant_usage") as batch:
        batch.drop_constraint("uq_grant_usage_grant_id", type_="unique")
        batch.create_unique_constraint("uq_grant_usage_grant_id", ["grant_id", "day"])
        batch.drop_column("slot")
