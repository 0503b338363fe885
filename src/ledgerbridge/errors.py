"""The root of ledgerbridge's error tree, grouped by what the caller does next.

LedgerBridgeError
├── ConfigurationError          the process is set up wrongly; fix the settings
├── NotFoundError               the connection, record or run does not exist
├── NeedsReauthorisationError   a person must re-authorise the connection first
├── ConnectionPausedError       the connection is paused; resume it first
├── SyncBusyError               another process is syncing this connection (sync/engine.py)
├── LeaseLostError              this run's lease was taken over; it stops (sync/engine.py)
└── ProviderError               a platform refused or failed a request (providers/base.py)
    ├── RetriableError          try again later
    │   └── ThrottledError      try again after `retry_after` seconds, and slow down
    ├── AuthError               re-authorise the connection
    │   └── TokenRefusedError   the access token was refused: refresh once (Intacct)
    ├── ConflictError           the record changed underneath; re-read and retry
    ├── ProviderValidationError the platform refused the data; fix the data
    └── FatalError              nothing the caller can do will help
        └── CursorLostError     Conductor's cursor died: the pass starts again (qbd)

`ApiError` (api/errors.py) is the unified API's own answer, not part of this tree; the
sandboxes' `QboFault`, `ConductorError` and `IntacctError` are the platforms' errors as the
sandboxes raise them, in the platforms' envelopes.
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


class ConnectionPausedError(LedgerBridgeError):
    """The connection is paused: it does not sync at all until it is resumed."""
