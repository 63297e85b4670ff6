"""Marketing: a one-off campaign's audience taken in waves (how many, how far apart, how many
taken, when the next one is due), so a Thompson experiment learns between them.

Revision ID: 0902
Revises: 0901
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0902"
# On marketing's own branch (0700, 0701, 0900, 0901).
down_revision: str | None = "0901"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("marketing_campaigns") as batch:
        batch.add_column(sa.Column("waves", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("wave_every_s", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("waves_taken", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_wave_at", UTCDateTime(), nullable=True))
    # Campaigns whose audience was already read took their one wave; the others take it at
    # their start.
    op.execute("UPDATE marketing_campaigns SET waves_taken = 1 WHERE status IN ('running', 'done')")
    op.execute(
        "UPDATE marketing_campaigns SET next_wave_at = starts_at "
        "WHERE status IN ('scheduled', 'taking')"
    )


def downgrade() -> None:
    with op.batch_alter_table("marketing_campaigns") as batch:
        batch.drop_column("next_wave_at")
        batch.drop_column("waves_taken")
        batch.drop_column("wave_every_s")
        batch.drop_column("waves")
