"""Marketing: the shop's customer id of whoever clicked a campaign message's link and bought
(reported by the checkout with the link's ``campaign_click``), so a messaging-app recipient's
order under the shop's own id is credited to the message.

Revision ID: 0903
Revises: 0902
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0903"
# On marketing's own branch (0700, 0701, 0900, 0901, 0902).
down_revision: str | None = "0902"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("marketing_recipients") as batch:
        batch.add_column(sa.Column("buyer_id", sa.String(128), nullable=True))
        batch.create_index("ix_marketing_recipients_buyer", ["buyer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("marketing_recipients") as batch:
        batch.drop_index("ix_marketing_recipients_buyer")
        batch.drop_column("buyer_id")
