"""ledgerbridge: a self-hosted unified Customers API for accounting platforms."""

__version__ = "0.1.0"
