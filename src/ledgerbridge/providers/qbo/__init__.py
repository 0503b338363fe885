"""QuickBooks Online: wire shapes, the pure mapper, and the local sandbox."""
