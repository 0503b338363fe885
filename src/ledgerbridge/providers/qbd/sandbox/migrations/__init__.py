"""Alembic revisions of the QuickBooks Desktop sandbox tables (branch `qbd`)."""
