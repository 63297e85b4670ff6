"""Tickets: tickets, their thread, attachments, history, number counters, outboxes, SLA alerts.

Revision ID: 0200
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0200"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("tickets",)
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "tickets": [
        ("ix_tickets_queue", ["status", "team", "priority", "created_at"]),
        ("ix_tickets_status_updated_at_id", ["status", "updated_at", "id"]),
        ("ix_tickets_assignee_status_updated_at_id", ["assignee", "status", "updated_at", "id"]),
        ("ix_tickets_next_due_at", ["next_due_at"]),
        ("ix_tickets_sla_watch_at", ["sla_watch_at"]),
        ("ix_tickets_created_at", ["created_at"]),
        ("ix_tickets_customer_id_created_at", ["customer_id", "created_at"]),
        ("ix_tickets_status_resolved_at", ["status", "resolved_at"]),
    ],
    "ticket_entries": [("ix_ticket_entries_ticket_id_id", ["ticket_id", "id"])],
    "ticket_attachments": [("ix_ticket_attachments_ticket_id", ["ticket_id"])],
    "ticket_history": [("ix_ticket_history_ticket_id_id", ["ticket_id", "id"])],
    "ticket_notifications": [
        ("ix_ticket_notifications_channel_delivered", ["channel", "delivered_at"]),
        ("ix_ticket_notifications_conversation_id", ["conversation_id"]),
    ],
    "ticket_webhooks": [("ix_ticket_webhooks_pending", ["delivered_at", "next_attempt_at"])],
    "ticket_alerts": [("ix_ticket_alerts_team_acknowledged", ["team", "acknowledged_at"])],
}


def _ticket_fk() -> sa.Column[int]:
    return sa.Column(
        "ticket_id", sa.Integer(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.String(24), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(2), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("team", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("vip_tier", sa.String(16), nullable=True),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.Column("satisfaction_comment", sa.Text(), nullable=True),
        sa.Column("merged_into", sa.String(24), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=True, unique=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sla_started_at", UTCDateTime(), nullable=False),
        sa.Column("paused_seconds", sa.Integer(), nullable=False),
        sa.Column("paused_at", UTCDateTime(), nullable=True),
        sa.Column("first_response_due_at", UTCDateTime(), nullable=True),
        sa.Column("first_responded_at", UTCDateTime(), nullable=True),
        sa.Column("first_response_breached_at", UTCDateTime(), nullable=True),
        sa.Column("resolution_due_at", UTCDateTime(), nullable=True),
        sa.Column("resolution_breached_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("next_due_at", UTCDateTime(), nullable=True),
        sa.Column("sla_watch_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "ticket_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        _ticket_fk(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "ticket_attachments",
        sa.Column("id", sa.Integer(), primary_key=True),
        _ticket_fk(),
        sa.Column(
            "entry_id",
            sa.Integer(),
            sa.ForeignKey("ticket_entries.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("media_id", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "ticket_history",
        sa.Column("id", sa.Integer(), primary_key=True),
        _ticket_fk(),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "ticket_counters",
        sa.Column("day", sa.String(8), primary_key=True),
        sa.Column("last", sa.Integer(), nullable=False),
    )
    op.create_table(
        "ticket_notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        _ticket_fk(),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "ticket_webhooks",
        sa.Column("id", sa.Integer(), primary_key=True),
        _ticket_fk(),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "ticket_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        _ticket_fk(),
        sa.Column("team", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
    )
    for table, indexes in INDEXES.items():
        for name, columns in indexes:
            op.create_index(name, table, columns)


def downgrade() -> None:
    for table, indexes in reversed(INDEXES.items()):
        for name, _columns in indexes:
            op.drop_index(name, table_name=table)
    for table in (
        "ticket_alerts",
        "ticket_webhooks",
        "ticket_notifications",
        "ticket_counters",
        "ticket_history",
        "ticket_attachments",
        "ticket_entries",
        "tickets",
    ):
        op.drop_table(table)
