"""Marketing: the audience, saved segments, sends, experiments, assignments, conversions and
copy variants with their review.

Revision ID: 0700
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0700"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("marketing",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "marketing_contacts",
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("churn_risk", sa.Float(), nullable=False),
        sa.Column("last_contact_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "marketing_segments",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("expression", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "marketing_sends",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("campaign", sa.String(64), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_marketing_sends_customer", "marketing_sends", ["customer_id", "sent_at"])
    op.create_table(
        "marketing_experiments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("arms", sa.Text(), nullable=False),
        sa.Column("policy", sa.String(16), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "marketing_assignments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "experiment_id",
            sa.Integer(),
            sa.ForeignKey("marketing_experiments.id"),
            nullable=False,
        ),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("arm", sa.String(32), nullable=False),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("experiment_id", "customer_id"),
    )
    op.create_table(
        "marketing_conversions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "experiment_id",
            sa.Integer(),
            sa.ForeignKey("marketing_experiments.id"),
            nullable=False,
        ),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.Column("converted_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("experiment_id", "order_id"),
    )
    op.create_table(
        "marketing_copy_variants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("brief", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("edited_text", sa.Text(), nullable=True),
        sa.Column("reviewer", sa.String(64), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_marketing_copy_campaign", "marketing_copy_variants", ["campaign", "status"])


def downgrade() -> None:
    op.drop_index("ix_marketing_copy_campaign", "marketing_copy_variants")
    op.drop_table("marketing_copy_variants")
    op.drop_table("marketing_conversions")
    op.drop_table("marketing_assignments")
    op.drop_table("marketing_experiments")
    op.drop_index("ix_marketing_sends_customer", "marketing_sends")
    op.drop_table("marketing_sends")
    op.drop_table("marketing_segments")
    op.drop_table("marketing_contacts")
