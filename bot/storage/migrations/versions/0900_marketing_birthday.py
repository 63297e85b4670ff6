"""Marketing: the customer's birthday as a month-day (no year), for birthday-triggered campaigns.

Revision ID: 0900
Revises: 0701
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0900"
# On marketing's own branch (0700, 0701), as each module's migrations are.
down_revision: str | None = "0701"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("marketing_contacts") as batch:
        batch.add_column(sa.Column("birthday", sa.String(5), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("marketing_contacts") as batch:
        batch.drop_column("birthday")
