"""One folder per accounting platform: wire shapes, mapper, connector and sandbox."""
