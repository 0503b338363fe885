"""`GET /metrics`: Prometheus' text format, open like `/health` (keep the port private or
let the proxy guard it). See `observability/metrics.py` and the README for each metric."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from ledgerbridge.observability.metrics import exposition

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, media_type=content_type)
