"""POST /poet/feedback without FastAPI's per-request machinery, for the common case.

Feedback ingestion is the route that takes load. Measured under 64 connections,
FastAPI's routing, dependency solving and exception middleware cost about as much
CPU per request as everything else the route does (docs/service.md, "Speed"). This
ASGI layer answers a feedback POST itself when it is authorised and its body is a
valid FeedbackRequest; anything else (no or wrong key, a body of the wrong shape,
any other route) goes on to the FastAPI app unchanged, with the body replayed, so
errors keep one definition and the OpenAPI schema still documents the route.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from dana_poet.service import models as M
from dana_poet.service.auth import DEFAULT_PROJECT, KeyRing

ROUTE = "/poet/feedback"
_JSON = [(b"content-type", b"application/json")]


class FeedbackFastPath:
    def __init__(
        self,
        app: Any,
        *,
        keys: KeyRing,
        feedback: Callable[[str, M.FeedbackRequest], Awaitable[bytes]],
        errors: Callable[[BaseException], tuple[int, dict[str, Any]] | None],
    ) -> None:
        self.app = app
        self.keys = keys
        self.feedback = feedback
        self.errors = errors  # an exception -> (status, body) when it is a known error

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != ROUTE or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        project = self._project(scope)
        if project is None:  # 401/403 as FastAPI words them
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive)
        if not complete:  # refused as too large, or the client went away
            return
        try:
            request = M.FeedbackRequest.model_validate_json(body)
        except ValidationError:  # a 422 as FastAPI words it
            await self.app(scope, _replay(body, receive), send)
            return
        try:
            answer = await self.feedback(project, request)
        except Exception as exc:
            known = self.errors(exc)
            if known is None:
                raise
            status, problem = known
            await _respond(send, status, json.dumps(problem).encode())
            return
        await _respond(send, 200, answer)

    def _project(self, scope: Any) -> str | None:
        if self.keys.open:
            return DEFAULT_PROJECT
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    return None
                return self.keys.project_for(token.strip())
        return None


async def _read_body(receive: Any) -> tuple[bytes, bool]:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Any) -> Callable[[], Awaitable[Any]]:
    sent = False

    async def again() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def _respond(send: Any, status: int, body: bytes) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
