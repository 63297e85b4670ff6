"""Marketing: what became of each campaign message after the handover (queued, sent, delivered,
read, failed, with the key the outbox or the channel names it by), the send the caps count for
it, and how often the channel's send rate deferred the recipient.

Revision ID: 0901
Revises: 0900
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0901"
# On marketing's own branch (0700, 0701, 0900).
down_revision: str | None = "0900"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("marketing_recipients") as batch:
        batch.add_column(sa.Column("delivery", sa.String(16), nullable=True))
        batch.add_column(sa.Column("delivery_key", sa.String(128), nullable=True))
        batch.add_column(sa.Column("delivery_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("send_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("deferrals", sa.Integer(), nullable=False, server_default="0"))
        batch.create_index(
            "ix_marketing_recipients_delivery", ["delivery", "delivery_key"], unique=False
        )
    # Messages sent before this revision: accepted by their channel is what is known of them.
    op.execute("UPDATE marketing_recipients SET delivery = 'sent' WHERE status = 'sent'")


def downgrade() -> None:
    with op.batch_alter_table("marketing_recipients") as batch:
        batch.drop_index("ix_marketing_recipients_delivery")
        batch.drop_column("deferrals")
        batch.drop_column("send_id")
        batch.drop_column("delivery_at")
        batch.drop_column("delivery_key")
        batch.drop_column("delivery")
