"""Privacy: the database refuses to change or remove audit records (PIPL art. 54 audits need a
log nobody can rewrite afterwards, by mistake or to cover a read).

SQLite and PostgreSQL each get triggers that abort an UPDATE or a DELETE of
``privacy_audit_log`` with the message below; PostgreSQL also refuses TRUNCATE, which skips row
triggers. Both raise an integrity error (SQLite's RAISE(ABORT), PostgreSQL's SQLSTATE 23001), so
callers see one kind of failure. Nothing in the platform updates or deletes audit rows (an
erasure keeps them: they name the customer's key and what was done, never what was said), so no
way around the triggers is kept. A later migration that rebuilds the table (SQLite's batch mode
copies it) must create the triggers again.

Revision ID: 0401
Revises: 0400
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0401"
down_revision: str | None = "0400"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "privacy_audit_log"
MESSAGE = (
    "the audit log (privacy_audit_log) is append-only: its records can be neither changed nor "
    "deleted"
)
FUNCTION = "privacy_audit_log_append_only"


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
            END
            $$
            """
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE} "
            f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )
        return
    for event, name in (("UPDATE", "no_update"), ("DELETE", "no_delete")):
        op.execute(
            f"CREATE TRIGGER {TABLE}_{name} BEFORE {event} ON {TABLE} "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER {TABLE}_no_truncate ON {TABLE}")
        op.execute(f"DROP TRIGGER {TABLE}_no_change ON {TABLE}")
        op.execute(f"DROP FUNCTION {FUNCTION}()")
        return
    op.execute(f"DROP TRIGGER {TABLE}_no_delete")
    op.execute(f"DROP TRIGGER {TABLE}_no_update")
