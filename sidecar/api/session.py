"""POST /api/login and /api/logout: trade credentials for the viewer's session cookie."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from sidecar.ops.auth import COOKIE_NAME, Authenticator, is_https, session_cookie_header

router = APIRouter()


@router.post("/api/login", summary="Check credentials (Authorization header) and set the session cookie")
async def login(request: Request, response: Response) -> dict:
    auth: Authenticator = request.app.state.authenticator
    if not auth.enabled:
        return {"mode": "none"}
    if not auth.check_header(request.headers.get("authorization")):
        raise HTTPException(401, "wrong credentials")
    response.headers["Set-Cookie"] = session_cookie_header(auth.make_session(), is_https(request))
    return {"mode": auth.mode}


@router.post("/api/logout", summary="Drop the session cookie")
async def logout(request: Request, response: Response) -> dict:
    response.headers["Set-Cookie"] = session_cookie_header("", is_https(request), max_age=0)
    return {"cookie": COOKIE_NAME, "cleared": True}
