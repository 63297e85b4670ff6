"""Intent corrections: agents' corrections of the bot's intents, and their review.

Revision ID: 0800
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0800"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("corrections",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "intent_corrections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "message_id",
            sa.Integer(),
            sa.ForeignKey("messages.id", ondelete="SET NULL"),
            nullable=True,
            unique=True,
        ),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("wrong_intent", sa.String(64), nullable=True),
        sa.Column("right_intent", sa.String(64), nullable=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_intent_corrections_status_id", "intent_corrections", ["status", "id"])
    op.create_index("ix_intent_corrections_customer", "intent_corrections", ["customer"])


def downgrade() -> None:
    op.drop_index("ix_intent_corrections_customer", table_name="intent_corrections")
    op.drop_index("ix_intent_corrections_status_id", table_name="intent_corrections")
    op.drop_table("intent_corrections")
