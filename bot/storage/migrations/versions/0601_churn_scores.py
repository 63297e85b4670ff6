"""Insights: the latest churn score of each customer and its top reasons (zh and en).

Revision ID: 0601
Revises: 0600
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0601"
down_revision: str | None = "0600"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insights_churn_scores",
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("reasons_zh", sa.Text(), nullable=False),
        sa.Column("reasons_en", sa.Text(), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("scored_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("insights_churn_scores")
