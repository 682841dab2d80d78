"""The HTTP API of `dana-poet serve` (FastAPI). Routes only translate HTTP to ServiceState calls.

Every route but `/health` needs `Authorization: Bearer <key>` when keys are configured
(service/auth.py). Bodies larger than `max_body` bytes are refused with 413 before
they are read in full; a body of the wrong shape is a 422 naming the field; code
that does not parse is a 400 naming line and column; unknown ids are 404.
"""

import os
import sqlite3
import sys
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from dana_poet import __version__
from dana_poet.service import models as M
from dana_poet.service.auth import DEFAULT_PROJECT, KeyRing, load_keys
from dana_poet.service.fastpath import FeedbackFastPath
from dana_poet.service.state import ServiceError, ServiceState
from dana_poet.service.storage import Storage, open_storage

MAX_BODY_BYTES = 1_048_576  # 1 MiB; DANA_POET_MAX_BODY overrides

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": M.Problem, "description": "no or malformed Authorization header"},
    403: {"model": M.Problem, "description": "unknown API key"},
    404: {"model": M.Problem, "description": "unknown id"},
    413: {"model": M.Problem, "description": "body larger than the limit"},
    422: {"model": M.Problem, "description": "body of the wrong shape"},
}
_WITH_400 = {**_ERRORS, 400: {"model": M.Problem, "description": "bad input"}}


def _storage_errors() -> list[type[Exception]]:
    """A database that is down or unreachable: the service answers 503, never acknowledges."""
    kinds: list[type[Exception]] = [sqlite3.OperationalError]
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        kinds += [psycopg.OperationalError, psycopg.InterfaceError]
    return kinds


class _BodyLimit:
    """Refuses bodies over the limit with 413, by Content-Length or while streaming."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(send)
                    return
        seen = 0
        refused = False

        async def counted() -> Any:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    if not refused:
                        refused = True
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Any) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, send: Any) -> None:
        body = b'{"detail":"request body larger than %d bytes (DANA_POET_MAX_BODY)"}' % self.limit
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_app(
    folder: Path | None = None,
    *,
    storage: Storage | None = None,
    keys: KeyRing | None = None,
    max_body: int | None = None,
) -> Any:
    """The ASGI app of the service: the FastAPI app behind the body limit and the
    feedback fast path (service/fastpath.py)."""
    storage = storage or open_storage(Path(folder or os.getcwd()))
    keys = keys if keys is not None else load_keys()
    limit = max_body or int(os.environ.get("DANA_POET_MAX_BODY", MAX_BODY_BYTES))
    state = ServiceState(storage)
    app = FastAPI(
        title="dana-poet service",
        version=__version__,
        description="POET transpilation and learning over HTTP. Bodies are limited to "
        f"{limit} bytes (413 above). Authorization: Bearer <key> on every route but /health "
        "when the server has keys.",
    )
    app.state.poet = state

    async def project(authorization: Annotated[str | None, Header()] = None) -> str:
        if keys.open:
            return DEFAULT_PROJECT
        if not authorization:
            raise ServiceError(401, "missing Authorization: Bearer <key>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ServiceError(401, "Authorization must be 'Bearer <key>'")
        found = keys.project_for(token.strip())
        if found is None:
            raise ServiceError(403, "unknown API key")
        return found

    Project = Annotated[str, Depends(project)]

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _shape_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        return JSONResponse({"detail": problems}, status_code=422)

    async def _storage_down(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": f"storage unavailable: {type(exc).__name__}"}, status_code=503
        )

    for kind in _storage_errors():
        app.add_exception_handler(kind, _storage_down)

    @app.get("/health", response_model=M.Health, responses={503: {"model": M.Health}})
    def health() -> Any:
        try:
            storage.ping()
        except Exception as exc:  # noqa: BLE001 - any storage fault is "unavailable"
            body = M.Health(
                status="unavailable",
                version=__version__,
                storage=storage.kind,
                detail=f"{type(exc).__name__}: {exc}"[:300],
            )
            return JSONResponse(body.model_dump(), status_code=503)
        return M.Health(status="ok", version=__version__, storage=storage.kind)

    @app.post("/poet/transpile", response_model=M.TranspileResponse, responses=_WITH_400)
    async def transpile(body: M.TranspileRequest, who: Project) -> M.TranspileResponse:
        known = state.transpile_from_memory(who, body)
        if known is not None:
            return known
        return await run_in_threadpool(state.transpile, who, body)

    @app.post(
        "/poet/executions",
        status_code=202,
        response_model=M.ExecutionsAccepted,
        responses=_WITH_400,
    )
    def executions(body: M.ExecutionsRequest, who: Project) -> M.ExecutionsAccepted:
        return M.ExecutionsAccepted(accepted=state.record_executions(who, body))

    @app.post(
        "/poet/feedback",
        response_model=M.FeedbackResponse,
        responses={**_WITH_400, 409: {"model": M.Problem, "description": "key reused"}},
    )
    async def feedback(body: M.FeedbackRequest, who: Project) -> Response:
        # answered as bytes: the body is built from checked values, not re-validated
        return Response(await state.feedback(who, body), media_type="application/json")

    @app.get("/poet/functions", response_model=M.FunctionList, responses=_ERRORS)
    def functions(who: Project) -> M.FunctionList:
        return state.list_functions(who)

    @app.get(
        "/poet/functions/{function_id}",
        response_model=M.FunctionDetail,
        responses={
            **_ERRORS,
            304: {"description": "the version named by If-None-Match is current"},
        },
    )
    def function_detail(
        function_id: str,
        who: Project,
        response: Response,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Any:
        current = state.current_version(who, function_id)
        etag = f'"{function_id}:{current}"'
        if if_none_match is not None and if_none_match.strip() == etag:
            return Response(status_code=304, headers={"ETag": etag})
        response.headers["ETag"] = etag
        return state.detail(who, function_id)

    @app.post(
        "/poet/functions/{function_id}/rollback",
        response_model=M.FunctionDetail,
        responses=_ERRORS,
    )
    def rollback(function_id: str, body: M.RollbackRequest, who: Project) -> M.FunctionDetail:
        return state.rollback(who, function_id, body.version)

    @app.get(
        "/poet/functions/{function_id}/feedback",
        response_model=M.FeedbackSummary,
        responses=_ERRORS,
    )
    def feedback_summary(function_id: str, who: Project) -> M.FeedbackSummary:
        return state.feedback_summary(who, function_id)

    @app.get(
        "/poet/functions/{function_id}/executions",
        response_model=M.ExecutionList,
        responses=_ERRORS,
    )
    def recent_executions(
        function_id: str, who: Project, limit: Annotated[int, Query(ge=1, le=1000)] = 50
    ) -> M.ExecutionList:
        return state.executions(who, function_id, limit)

    @app.on_event("shutdown")
    def _close() -> None:
        state.close()

    storage_errors = tuple(_storage_errors())

    def known_error(exc: BaseException) -> tuple[int, dict[str, Any]] | None:
        if isinstance(exc, ServiceError):
            return exc.status, {"detail": exc.detail}
        if isinstance(exc, storage_errors):
            return 503, {"detail": f"storage unavailable: {type(exc).__name__}"}
        return None

    # outside FastAPI's middleware stack, the body limit first: it limits the fast path too
    fast = FeedbackFastPath(app, keys=keys, feedback=state.feedback, errors=known_error)
    return _BodyLimit(fast, limit)
