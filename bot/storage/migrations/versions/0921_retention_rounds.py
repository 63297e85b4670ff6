"""Insights: a retention rule may decide a customer again after a cool-down. Each decision has a
round (0 for the first); the unique index moves from (customer, rule) to (customer, rule, round),
so two overlapping runs still cannot both decide the same round.

Revision ID: 0921
Revises: 0920
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0921"
down_revision: str | None = "0920"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0602"  # the unique index it replaces

TABLE = "insights_retention_actions"


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(
            sa.Column("round", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch.drop_index("uq_insights_retention_actions_customer_rule")
        batch.create_index(
            "uq_insights_retention_actions_customer_rule_round",
            ["customer_id", "rule", "round"],
            unique=True,
        )


def downgrade() -> None:
    actions = sa.table(TABLE, sa.column("round"))
    op.execute(sa.delete(actions).where(actions.c.round > 0))  # later rounds do not fit
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_index("uq_insights_retention_actions_customer_rule_round")
        batch.create_index(
            "uq_insights_retention_actions_customer_rule", ["customer_id", "rule"], unique=True
        )
        batch.drop_column("round")
