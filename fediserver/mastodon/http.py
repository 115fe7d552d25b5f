"""Helpers every API route shares: JSON answers, the services, the presenter."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from fediserver.domain.services import Services
from fediserver.mastodon.pagination import link_header
from fediserver.urls import Urls


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def urls(request: Request) -> Urls:
    found: Urls = request.app.state.urls
    return found


def paged(request: Request, items: list[dict[str, Any]]) -> JSONResponse:
    """A page of entities (newest first) with its ``Link`` header."""
    link = link_header(request, urls(request), [item["id"] for item in items])
    return ok(items, headers={"Link": link} if link else None)
