"""Insights: the top intents Rasa ranked for a customer message (its ``intent_ranking``), kept
beside the intent so supervisors see the alternatives of the messages the bot was unsure about.

Revision ID: 0920
Revises: 0800
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0920"
down_revision: str | None = "0800"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0651"  # the table it adds a column to


def upgrade() -> None:
    op.add_column("analytics_message_intents", sa.Column("ranking", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analytics_message_intents") as batch:
        batch.drop_column("ranking")
