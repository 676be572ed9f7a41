"""The web console at ``/``: plain HTML, CSS and JavaScript shipped in the package.

There is no CDN and no build step, so it works offline and installs with the wheel. The
console is one more client of the HTTP API: it sends the key a person enters (kept in the
browser's session storage) as a bearer token, streams turns and team runs from the same
SSE endpoints as any client, and reads ``/metrics`` for its charts. The files are read
once at start and served from memory with an ``ETag``; every response carries a strict
Content-Security-Policy (scripts, styles and requests only from this server, no frames),
and the script writes model output as text, never as HTML.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from aiohttp import web

__all__ = ["CONSOLE_PREFIX", "console_routes"]

CONSOLE_PREFIX = "/console/"
_FOLDER = Path(__file__).with_name("static")
_TYPES = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "style.css": "text/css",
    "icon.svg": "image/svg+xml",
}
_SECURITY = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def console_routes() -> list[web.RouteDef]:
    """``GET /`` (the page) and ``GET /console/{name}`` (its script, styles and icon)."""
    files: dict[str, tuple[bytes, str]] = {}
    for name in _TYPES:
        body = (_FOLDER / name).read_bytes()
        files[name] = (body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')

    def answer(request: web.Request, name: str) -> web.Response:
        body, etag = files[name]
        headers = {**_SECURITY, "ETag": etag, "Cache-Control": "no-cache"}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type=_TYPES[name], charset="utf-8", headers=headers)

    async def page(request: web.Request) -> web.Response:
        return answer(request, "index.html")

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in files or name == "index.html":
            raise web.HTTPNotFound(reason=f"no console file {name!r}")
        return answer(request, name)

    return [web.get("/", page), web.get(CONSOLE_PREFIX + "{name}", asset)]
