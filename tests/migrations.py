"""What a migrated database's tables differ by from the models (Alembic's autogenerate
comparison), for the tests that check a module's migrations build exactly its models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.storage import Base, Database


def model_differences(database: Database | str, *names: str) -> list[object]:
    """The differences whose description names one of ``names`` (a module's table prefix);
    ``database`` is an open database or the URL of one, disposed of here."""
    own = isinstance(database, str)
    db = Database(database) if isinstance(database, str) else database
    try:
        with db.engine.connect() as connection:
            found = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        if own:
            db.dispose()
    return [d for d in found if any(name in repr(d) for name in names)]
