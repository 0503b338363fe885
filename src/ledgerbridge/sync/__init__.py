"""The sync engine: runs connectors per connection, stores what they read, schedules runs."""
