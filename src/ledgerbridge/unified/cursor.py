"""Opaque record cursors. A cursor names a position in a connection's change sequence:
a reader asking for records after it gets every change committed later, in commit order."""

from __future__ import annotations

import base64
import binascii

from ledgerbridge.parsing import INT64_MAX, ParseError, parse_int

_PREFIX = b"lb1:"


def encode_cursor(change_seq: int) -> str:
    return base64.urlsafe_b64encode(_PREFIX + str(change_seq).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The change sequence number inside `cursor`; `ValueError` if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if not raw.startswith(_PREFIX):
            raise ValueError(cursor)
        # A change sequence is a 64-bit column: a cursor past it names no position.
        value = parse_int(raw[len(_PREFIX) :].decode("ascii"), minimum=0, maximum=INT64_MAX)
    except (ParseError, ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError(
            "not a valid cursor: pass a value from `_nango_metadata.cursor` or "
            "`next_cursor` unchanged"
        ) from None
    return value
