"""JSON in and out with orjson, for every app in the process. Starlette is imported only
for a response, so the sync path (`ledgerbridge sync`, workers) never loads the web stack."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from starlette.responses import Response

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTIONS)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A response serialised with orjson (datetimes as ISO-8601, Decimals via `default`)."""
    from starlette.responses import Response

    return Response(
        content=dumps(body), status_code=status, headers=headers, media_type="application/json"
    )
