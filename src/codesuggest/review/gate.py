"""The HTTP gate in front of the Gradio app: what the review server refuses to serve.

An ASGI middleware that answers before Gradio's routes see the request:

- no API description: ``/openapi.json`` (FastAPI's own, which listed every route without a
  login), Gradio's ``/gradio_api/openapi.json`` and ``/gradio_api/info``, docs pages;
- no URL fetching: a ``/file=`` route given a URL (Gradio would fetch it from the server, which
  must never make a request on a client's say-so) and the ``/proxy=`` route;
- with a login configured, nothing but the login page and the files it is drawn with until
  the browser has signed in. Gradio checks the login on most routes, not all of them (the
  queue's cancel and heartbeat, streams, startup events...); the gate checks it on every one.
"""

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIX = "/gradio_api"
_DESCRIPTIONS = frozenset(
    {
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        f"{API_PREFIX}/openapi.json",
        f"{API_PREFIX}/info",
        f"{API_PREFIX}/info/",
    }
)
_URL_ROUTE = re.compile(rf"^(?:{API_PREFIX})?/(?:file=|file/|proxy=)(?P<rest>.*)$", re.DOTALL)
_URL_LIKE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|/{2}|\\)", re.IGNORECASE)
# What a browser that has not signed in may load: the login page, its scripts, styles and
# icon, and the login form's POST. Everything else answers 401.
# Gradio's launch() itself requests startup-events (once; later calls do nothing).
_LOGIN_PAGE = frozenset(
    {
        "/",
        "/login",
        "/login/",
        "/favicon.ico",
        "/theme.css",
        "/robots.txt",
        "/manifest.json",
        f"{API_PREFIX}/startup-events",
    }
)
_LOGIN_ASSETS = ("/assets/", "/static/", "/svelte/", f"{API_PREFIX}/theme.css")


def _is_url_fetch(path: str) -> bool:
    m = _URL_ROUTE.match(path)
    if m is None:
        return False
    return path.startswith((f"{API_PREFIX}/proxy=", "/proxy=")) or bool(
        _URL_LIKE.match(m.group("rest").lstrip())
    )


def _signed_in(scope: Scope) -> bool:
    """Whether the request carries the session cookie of a user who signed in.

    Gradio's ``App`` keeps its sign-in tokens in ``tokens`` and names its cookies after
    ``cookie_id``; ``scope["app"]`` is that ``App`` (Starlette sets it before any middleware).
    """
    app = scope.get("app")
    tokens = getattr(app, "tokens", None) or {}
    cookie_id = getattr(app, "cookie_id", None)
    if not tokens or cookie_id is None:
        return False
    cookies: dict[str, str] = {}
    for name, value in scope.get("headers") or ():
        if name.lower() == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                cookies.setdefault(key, val)
    for key in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"):
        token = cookies.get(key)
        if token and token in tokens:
            return True
    return False


def _login_required(scope: Scope) -> bool:
    app = scope.get("app")
    return any(getattr(app, name, None) is not None for name in ("auth", "auth_dependency"))


class Gate:
    """ASGI middleware: see the module. ``Gate(app)`` wraps the Gradio app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path") or "/"
        if path in _DESCRIPTIONS:
            await self._refuse(scope, send, 404, "Not found: this server describes no API.")
        elif _is_url_fetch(path):
            await self._refuse(scope, send, 403, "This server does not fetch URLs.")
        elif (
            _login_required(scope)
            and not (path in _LOGIN_PAGE or path.startswith(_LOGIN_ASSETS))
            and not _signed_in(scope)
        ):
            await self._refuse(scope, send, 401, "Not authenticated: sign in first.")
        else:
            await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": message}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
