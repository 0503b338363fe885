"""Sage Intacct: wire shapes, the pure mapper and the local sandbox."""
