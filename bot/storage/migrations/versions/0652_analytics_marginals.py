"""Analytics: per-dimension daily sums (marginals) for the unfiltered dashboard views, filled
from the existing daily rollup.

Revision ID: 0652
Revises: 0651
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0652"
down_revision: str | None = "0651"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMENSIONS = ("channel", "language", "intent", "agent")


def upgrade() -> None:
    op.create_table(
        "analytics_marginals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("dimension", sa.String(16), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
    )
    op.create_index("ix_analytics_marginals_day", "analytics_marginals", ["day"])
    # The days rolled up before this migration: their marginals, summed from the daily rows.
    op.execute(
        "INSERT INTO analytics_marginals (day, dimension, key, metric, value) "
        "SELECT day, '', '', metric, SUM(value) FROM analytics_daily GROUP BY day, metric"
    )
    for dimension in DIMENSIONS:
        op.execute(
            "INSERT INTO analytics_marginals (day, dimension, key, metric, value) "
            f"SELECT day, '{dimension}', {dimension}, metric, SUM(value) FROM analytics_daily "
            f"WHERE metric NOT LIKE 'reason:%' GROUP BY day, {dimension}, metric"
        )


def downgrade() -> None:
    op.drop_table("analytics_marginals")
