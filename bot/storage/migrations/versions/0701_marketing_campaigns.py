"""Marketing campaigns: campaigns, their recipients (send results, clicks) and the orders
attributed to them; contacts get an address (e-mail).

Revision ID: 0701
Revises: 0700
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0701"
down_revision: str | None = "0700"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("marketing_contacts") as batch:
        batch.add_column(sa.Column("address", sa.String(254), nullable=False, server_default=""))
    op.create_table(
        "marketing_campaigns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("segment", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column(
            "experiment_id",
            sa.Integer(),
            sa.ForeignKey("marketing_experiments.id"),
            nullable=True,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "marketing_recipients",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "campaign_id", sa.Integer(), sa.ForeignKey("marketing_campaigns.id"), nullable=False
        ),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("arm", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("first_click_at", UTCDateTime(), nullable=True),
        sa.Column("last_click_at", UTCDateTime(), nullable=True),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("campaign_id", "customer_id", "channel"),
    )
    op.create_index(
        "ix_marketing_recipients_due", "marketing_recipients", ["status", "next_attempt_at"]
    )
    op.create_index("ix_marketing_recipients_customer", "marketing_recipients", ["customer_id"])
    op.create_table(
        "marketing_campaign_conversions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "campaign_id", sa.Integer(), sa.ForeignKey("marketing_campaigns.id"), nullable=False
        ),
        sa.Column(
            "recipient_id", sa.Integer(), sa.ForeignKey("marketing_recipients.id"), nullable=False
        ),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.Column("converted_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("marketing_campaign_conversions")
    op.drop_index("ix_marketing_recipients_customer", "marketing_recipients")
    op.drop_index("ix_marketing_recipients_due", "marketing_recipients")
    op.drop_table("marketing_recipients")
    op.drop_table("marketing_campaigns")
    with op.batch_alter_table("marketing_contacts") as batch:
        batch.drop_column("address")
