"""History transports: the source list, pages of held lines, and a plain-text download."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse

from sidecar.api.params import FieldParam, SourceParam, get_hub, line_filter, select_sources
from sidecar.filters import EntrySelection
from sidecar.lines import LogLine
from sidecar.sources import SourceError

router = APIRouter()
_JSON = msgspec.json.Encoder()
MAX_PAGE = 10_000


@router.get("/api/sources", summary="Sources followed, with their state and counters")
async def list_sources(request: Request) -> dict:
    return {"sources": [record.to_json() for record in get_hub(request).sources.values()]}


@router.get("/api/lines", summary="A page of held lines, before or after an id")
async def lines_page(
    request: Request,
    source: list[str] | None = SourceParam,
    before: int | None = Query(None, ge=0, description="Newest lines older than this id."),
    after: int | None = Query(None, ge=0, description="Oldest lines newer than this id."),
    limit: int = Query(500, ge=1, le=MAX_PAGE),
    grep: str | None = Query(None),
    level: str | None = Query(None),
    field: list[str] | None = FieldParam,
    previous: bool = Query(False, description="Pod sources: the last `limit` lines of the previous container instance."),
) -> Response:
    if before is not None and after is not None:
        raise HTTPException(400, "give before or after, not both")
    hub = get_hub(request)
    keep = line_filter(grep, level, field)
    sources = select_sources(hub, source)
    if previous:
        lines = hub.ingest_outside(sources[0], await _previous_instance_lines(request, sources, limit))
        return _page([line for line in lines if keep.keeps_all or keep(line)], more=False)
    # A page holds whole entries: cut by `limit` inside one, it is extended to the entry's edge.
    select = None if keep.keeps_all else EntrySelection(keep, hub, sources)
    newest = after is None
    picked = hub.lines(
        sources, before_id=before, after_id=after, keep=select, limit=limit, newest=newest, whole_entries=True
    )
    more = bool(picked) and bool(
        hub.lines(sources, keep=select, limit=1, newest=newest, **({"before_id": picked[0].id} if newest else {"after_id": picked[-1].id}))
    )
    return _page(picked, more)


def _page(lines: list[LogLine], more: bool) -> Response:
    """Encoded by msgspec straight from the Structs: a 10,000-line page takes milliseconds, where
    FastAPI's generic encoder would hold the event loop (and every live stream) for ~0.2 s."""
    return Response(_JSON.encode({"lines": lines, "more": more}), media_type="application/json")


@router.get("/api/download", summary="Held lines as text/plain")
async def download(
    request: Request,
    source: list[str] | None = SourceParam,
    grep: str | None = Query(None),
    level: str | None = Query(None),
    field: list[str] | None = FieldParam,
) -> StreamingResponse:
    hub = get_hub(request)
    sources = select_sources(hub, source)
    keep = line_filter(grep, level, field)
    picked = hub.lines(sources, keep=None if keep.keeps_all else EntrySelection(keep, hub, sources))
    prefix = len(sources) > 1

    def body() -> Iterator[bytes]:
        for start in range(0, len(picked), 1000):
            chunk = picked[start : start + 1000]
            text = "".join((f"[{line.source}] " if prefix else "") + line.text + "\n" for line in chunk)
            yield text.encode("utf-8", errors="replace")

    name = sources[0] if len(sources) == 1 else "logs"
    return StreamingResponse(
        body(),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.log"'},
    )


async def _previous_instance_lines(request: Request, sources: list[str], limit: int) -> list[LogLine]:
    """Asked of the source itself: the previous instance's log lives in the Kubernetes API, not the hub."""
    read_previous = request.app.state.previous_lines
    if len(sources) != 1 or read_previous is None or get_hub(request).sources[sources[0]].kind != "pod":
        raise HTTPException(400, "previous=true needs exactly one source, of kind pod")
    try:
        return await read_previous(sources[0], limit)
    except LookupError:
        raise HTTPException(404, f"{sources[0]!r} is not a container this sidecar follows") from None
    except SourceError as error:
        raise HTTPException(502, str(error)) from None
