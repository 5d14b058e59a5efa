"""Query parameters shared by the stream and history endpoints, validated into clear 400s."""

from __future__ import annotations

import re
from datetime import datetime

from fastapi import HTTPException, Query, Request

from sidecar.filters import BadFilter, LineFilter
from sidecar.hub import Hub

# ASCII digits only: str.isdigit() also accepts "²" or "①", which int() then refuses (a 500).
_EVENT_ID = re.compile(r"[0-9]{1,19}")

SourceParam = Query(None, description="Source ids, repeated or comma separated; default all.")
FieldParam = Query(
    None, description="Field filter KEY OP VALUE, OP one of = != ~ > >= < <= (dotted keys for nested JSON); repeated: AND."
)


def get_hub(request: Request) -> Hub:
    return request.app.state.hub


def select_sources(hub: Hub, requested: list[str] | None) -> list[str]:
    """Ids only: a source is looked up by id, never by a path built from the request."""
    if not requested:
        return list(hub.sources)
    wanted = [part.strip() for value in requested for part in value.split(",") if part.strip()]
    unknown = [s for s in wanted if s not in hub.sources]
    if unknown:
        known = ", ".join(hub.sources) or "none yet"
        raise HTTPException(404, f"unknown source {', '.join(map(repr, unknown))}; known: {known}")
    return list(dict.fromkeys(wanted))


def line_filter(grep: str | None, level: str | None, fields: list[str] | None = None) -> LineFilter:
    try:
        return LineFilter(grep, level.lower() if level else None, fields or ())
    except BadFilter as error:
        raise HTTPException(400, str(error)) from None


def since_timestamp(since: datetime | None) -> float | None:
    if since is None:
        return None
    if since.tzinfo is None:
        raise HTTPException(400, "since: give a time zone, e.g. 2026-11-26T12:00:00Z")
    return since.timestamp()


def parse_event_id(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if _EVENT_ID.fullmatch(value) is None:
        raise HTTPException(400, "Last-Event-ID: must be an event id this server sent")
    return int(value)
