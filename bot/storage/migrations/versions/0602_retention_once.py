"""Insights: a retention rule decides a customer once, even when two runs overlap (a unique
index on customer and rule; duplicates an overlap left behind keep their first decision).

Revision ID: 0602
Revises: 0601
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0602"
down_revision: str | None = "0601"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    actions = sa.table(
        "insights_retention_actions", sa.column("id"), sa.column("customer_id"), sa.column("rule")
    )
    first = sa.select(sa.func.min(actions.c.id)).group_by(actions.c.customer_id, actions.c.rule)
    op.execute(sa.delete(actions).where(actions.c.id.not_in(first)))
    op.create_index(
        "uq_insights_retention_actions_customer_rule",
        "insights_retention_actions",
        ["customer_id", "rule"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_insights_retention_actions_customer_rule", "insights_retention_actions")
