"""Outbox: what an app says of a message after taking it: its id for the message (Feishu's
message_id, DingTalk's processQueryKey), when the recipient read it, and whether (and when last)
its read status is asked of the app.

Revision ID: 0501
Revises: 0500
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0501"
# On the outbox's own branch (0500).
down_revision: str | None = "0500"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("receipt", sa.String(128), nullable=True))
        batch.add_column(sa.Column("read_at", UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("follow_reads", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("read_checked_at", UTCDateTime(), nullable=True))
        batch.create_index("ix_outbox_messages_receipt", ["channel", "receipt"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_index("ix_outbox_messages_receipt")
        batch.drop_column("read_checked_at")
        batch.drop_column("follow_reads")
        batch.drop_column("read_at")
        batch.drop_column("receipt")
