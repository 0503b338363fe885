"""The main database's Alembic migrations (`versions/`)."""

HEADS = frozenset({"0014"})
"""The newest revision in `versions/`: a database at it needs no migration, which the
start of every process checks without importing Alembic. A new migration moves it (a test
compares it with Alembic's own reading of `versions/`)."""
