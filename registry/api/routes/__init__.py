"""The API's routes, one module per resource; :data:`ROUTERS` in the order the app includes
them (which is the order of ``/openapi.json``'s paths)."""

from __future__ import annotations

from fastapi import APIRouter

from registry.api.routes import audit, health, log, openlineage, records, retention

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    records.router,
    log.router,
    audit.router,
    retention.router,
    health.router,
    openlineage.router,
)
