"""`GET /health`: open, for load balancers and the demo's readiness check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ledgerbridge import __version__

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}
