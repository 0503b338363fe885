"""Opaque record cursors. A cursor names a position in one connection's change sequence
for one model: a reader asking for records after it gets every change committed later, in
commit order.

Change sequences are per connection, so a position means nothing elsewhere: a cursor
carries its connection and model, and using it on another is refused (the position would
silently skip or repeat records). Cursors of the first format (`lb1:`) carried only the
number; they are refused with a message saying how to resume.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from ledgerbridge.parsing import INT64_MAX, ParseError, is_ascii_digits, parse_int

_PREFIX = "lb2:"
_UNBOUND_PREFIX = b"lb1:"
MAX_CHANGE_SEQ = INT64_MAX
"""The largest change sequence number a BIGINT column holds."""

_INVALID = (
    "not a valid cursor: pass a value from `_nango_metadata.cursor` or `next_cursor` unchanged"
)


@dataclass(frozen=True)
class CursorPosition:
    """Where a cursor points: after `change_seq` in `connection_id`'s `model` records."""

    connection_id: str
    model: str
    change_seq: int

    def refusal(self, connection_id: str, model: str) -> str | None:
        """Why this cursor cannot be used on (connection_id, model), or None if it can."""
        if (self.connection_id, self.model) == (connection_id, model):
            return None
        return (
            f"this cursor belongs to connection {self.connection_id!r} ({self.model} records), "
            f"not {connection_id!r} ({model}): cursors are positions in one connection's "
            "change sequence; start without a cursor to read this connection"
        )


def encode_cursor(change_seq: int, *, connection_id: str, model: str) -> str:
    raw = f"{_PREFIX}{connection_id}:{model}:{change_seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> CursorPosition:
    """The position inside `cursor`; `ValueError` saying why if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error):
        raise ValueError(_INVALID) from None
    if raw.startswith(_UNBOUND_PREFIX):
        raise ValueError(
            "this cursor comes from an earlier version of ledgerbridge, before cursors were "
            "bound to their connection; resume with `modified_after` set to the last "
            "`last_modified_at` you read, or start again without a cursor"
        )
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(_INVALID) from None
    parts = text.removeprefix(_PREFIX).split(":")
    if not text.startswith(_PREFIX) or len(parts) != 3 or not all(parts):
        raise ValueError(_INVALID)
    connection_id, model, number = parts
    if not is_ascii_digits(number):
        raise ValueError(_INVALID)
    try:
        change_seq = parse_int(number, minimum=0, maximum=MAX_CHANGE_SEQ)
    except ParseError:
        raise ValueError(f"{_INVALID} (its position is out of range)") from None
    return CursorPosition(connection_id=connection_id, model=model, change_seq=change_seq)
