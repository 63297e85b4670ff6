"""Recommendations: catalogue items, interaction events, user profiles.

Revision ID: 0300
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0300"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("recommend",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recommend_items",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name_zh", sa.String(255), nullable=False),
        sa.Column("name_en", sa.String(255), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("price", sa.Double(), nullable=False),
        sa.Column("description_zh", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("image", sa.String(1024), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "recommend_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("device", sa.String(32), nullable=True),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_recommend_events_user_at", "recommend_events", ["user_id", "at"])
    op.create_index("ix_recommend_events_item", "recommend_events", ["item_id"])
    op.create_table(
        "recommend_profiles",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("category_weights", sa.JSON(), nullable=False),
        sa.Column("price_band_weights", sa.JSON(), nullable=False),
        sa.Column("purchases", sa.Integer(), nullable=False),
        sa.Column("monetary", sa.Double(), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("last_purchase_at", UTCDateTime(), nullable=True),
        sa.Column("last_event_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("recommend_profiles")
    op.drop_index("ix_recommend_events_item", "recommend_events")
    op.drop_index("ix_recommend_events_user_at", "recommend_events")
    op.drop_table("recommend_events")
    op.drop_table("recommend_items")
