"""The root of ledgerbridge's error tree.

LedgerBridgeError
├── ConfigurationError        the process is set up wrongly; fix the settings
├── NotFoundError             the thing asked for does not exist
└── ProviderError             a provider answered with an error (providers/base.py)
    ├── RetriableError        try again later
    │   └── ThrottledError    try again after `retry_after` seconds
    ├── AuthError             re-authorise the connection
    ├── ConflictError         the record changed underneath; re-read and retry
    ├── ValidationError       the provider refused the data; fix the data
    └── FatalError            nothing the caller can do will help
"""

from __future__ import annotations


class LedgerBridgeError(Exception):
    """Base class of every error ledgerbridge raises on purpose."""


class ConfigurationError(LedgerBridgeError):
    """The process is configured wrongly (a bad URL, an unreadable key file)."""


class NotFoundError(LedgerBridgeError):
    """The connection, record or run asked for does not exist."""


class NeedsReauthorisationError(LedgerBridgeError):
    """The connection's credentials were refused: a person must re-authorise it first."""
