"""Intent corrections: the report of each NLU retraining (the training examples it added, the
scores of the old and the new model on the test split, whether the new one was swapped in).

Revision ID: 0922
Revises: 0921
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0922"
down_revision: str | None = "0921"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "intent_retrain_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("swapped", sa.Boolean(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("intent_retrain_reports")
