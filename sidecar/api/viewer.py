"""The viewer page and its static files, packaged in sidecar/web/ (no CDN: air-gapped clusters)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

router = APIRouter()


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    page = WEB_DIR / "index.html"
    if not page.is_file():
        raise HTTPException(500, "viewer files are missing from the package")
    return FileResponse(page, headers={"Cache-Control": "no-cache"})


@router.get("/api/auth", summary="Which auth mode the viewer must use")
async def auth_mode(request: Request) -> dict:
    return {"mode": request.app.state.settings.auth}


def static_files() -> StaticFiles:
    return StaticFiles(directory=WEB_DIR, check_dir=False)
