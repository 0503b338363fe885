"""QuickBooks Desktop through Conductor's API: wire shapes, mapper and sandbox."""
