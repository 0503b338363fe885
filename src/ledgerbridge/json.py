"""JSON in and out with orjson, for every app in the process."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTIONS)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A response serialised with orjson (datetimes as ISO-8601, Decimals via `default`)."""
    return Response(
        content=dumps(body), status_code=status, headers=headers, media_type="application/json"
    )
