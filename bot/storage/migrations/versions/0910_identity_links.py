"""Identity links: app identities of one customer, linked by a verified phone's keyed hash.

Revision ID: 0910
Revises: 0800
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0910"
down_revision: str | None = "0800"
branch_labels: str | Sequence[str] | None = ("identity",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("identity_key", sa.String(128), nullable=False, unique=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("sender", sa.String(128), nullable=False),
        sa.Column("person", sa.String(40), nullable=False),
        sa.Column("phone_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_identity_links_person", "identity_links", ["person"])


def downgrade() -> None:
    op.drop_index("ix_identity_links_person", table_name="identity_links")
    op.drop_table("identity_links")
