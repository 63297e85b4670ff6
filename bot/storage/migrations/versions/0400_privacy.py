"""Privacy: customers' consents with their history, and the append-only audit log.

Revision ID: 0400
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0400"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("privacy",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "privacy_consents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_privacy_consents_customer", "privacy_consents", ["customer_id", "purpose", "channel"]
    )
    op.create_table(
        "privacy_audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
    )
    op.create_index("ix_privacy_audit_customer", "privacy_audit_log", ["customer_id", "at"])
    op.create_index("ix_privacy_audit_at", "privacy_audit_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_privacy_audit_at", "privacy_audit_log")
    op.drop_index("ix_privacy_audit_customer", "privacy_audit_log")
    op.drop_table("privacy_audit_log")
    op.drop_index("ix_privacy_consents_customer", "privacy_consents")
    op.drop_table("privacy_consents")
