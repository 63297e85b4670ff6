"""Outbox: messages for customers on messaging apps, and inbound deliveries seen (de-duplication).

Revision ID: 0500
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0500"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("outbox",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(128), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=True),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("channel", "source_id", name="uq_outbox_messages_channel_source"),
    )
    op.create_index("ix_outbox_messages_due", "outbox_messages", ["status", "next_attempt_at"])
    op.create_table(
        "outbox_inbound",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("handled_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("channel", "message_id", name="uq_outbox_inbound_channel_message"),
    )
    op.create_index("ix_outbox_inbound_pending", "outbox_inbound", ["status", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_inbound_pending", "outbox_inbound")
    op.drop_table("outbox_inbound")
    op.drop_index("ix_outbox_messages_due", "outbox_messages")
    op.drop_table("outbox_messages")
