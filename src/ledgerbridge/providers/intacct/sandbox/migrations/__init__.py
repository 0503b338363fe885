"""Alembic branch `intacct` of the sandbox database."""
