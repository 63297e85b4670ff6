"""Insights: every retention action decided for a customer, its hold-out arm and its outcome.

Revision ID: 0600
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0600"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("insights",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insights_retention_actions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("arm", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(200), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("retained", sa.Boolean(), nullable=True),
    )
    op.create_index(
        "ix_insights_retention_actions_customer_id",
        "insights_retention_actions",
        ["customer_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_insights_retention_actions_customer_id", "insights_retention_actions")
    op.drop_table("insights_retention_actions")
