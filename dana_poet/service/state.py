"""What each route does, over the library: codegen for stage code, the store, feedback, train.

Every method takes the caller's project; a function of another project is "not found".
Bad input raises ServiceError with a 4xx status; the app turns it into a response.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from dana_poet.poet.store.base import ExecutionRecord
from dana_poet.service import models as M
from dana_poet.service.catalog import FunctionRow, function_id_for
from dana_poet.service.functions import CodeError, function_spec
from dana_poet.service.ingest import FeedbackWriter
from dana_poet.service.storage import Storage
from dana_poet.service.training import Trainer, current_state

RECENT_STATE = 0.5  # seconds a function's version read for a transpile answer is reused


class ServiceError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _jsonable(value: Any) -> Any:
    """Values as JSON can carry them (non-finite floats and odd types tagged, never a 500)."""
    from dana_poet.poet.store.encoding import to_jsonable

    return to_jsonable(value)


def _sentiment_class(signal: dict[str, Any]) -> str:
    s = signal.get("sentiment", 0.0)
    s = float(s) if isinstance(s, int | float) else 0.0
    return "positive" if s > 0 else "negative" if s < 0 else "neutral"


class ServiceState:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.store = storage.store
        self.catalog = storage.catalog
        self.trainer = Trainer(self.store, storage.fit_lock)
        self._transpiled: OrderedDict[tuple[str, str, str, str], str] = OrderedDict()
        self._lock = threading.Lock()
        self._recent_state: dict[str, tuple[float, int, dict[str, Any]]] = {}
        self.writer = FeedbackWriter(self)

    def close(self) -> None:
        self.writer.close()
        self.storage.close()

    # ------------------------------------------------------------ lookups
    def function(self, project: str, function_id: str) -> FunctionRow:
        row = self.catalog.get(function_id)
        if row is None or row.project != project:
            raise ServiceError(404, f"no function {function_id!r} in this project")
        return row

    def resolve_feedback_function(self, project: str, req: M.FeedbackRequest) -> FunctionRow | None:
        if req.function_id:
            return self.function(project, req.function_id)
        if req.function_name:
            rows = self.catalog.in_project(project, req.function_name)
            if not rows:
                raise ServiceError(404, f"no function named {req.function_name!r} in this project")
            ids = {r.function_id for r in rows}
            if len(ids) > 1:
                raise ServiceError(
                    400,
                    f"{len(ids)} functions are named {req.function_name!r} in this project; "
                    "send function_id instead",
                )
            return rows[0]
        return None

    # ------------------------------------------------------------ transpile
    def transpile(self, project: str, req: M.TranspileRequest) -> M.TranspileResponse:
        config = dict(req.config or {})
        memo = (project, req.language, req.function_code, repr(sorted(config.items())))
        function_id = self._transpiled.get(memo)
        row = self.catalog.get(function_id) if function_id else None
        cache_hit = row is not None
        if row is None:
            try:
                spec = function_spec(req.function_code, req.language, config)
            except CodeError as exc:
                raise ServiceError(400, str(exc)) from None
            function_id = function_id_for(
                project, spec.name, req.language, req.function_code, config
            )
            row = self.catalog.get(function_id)
            cache_hit = row is not None
            if row is None:
                row = self._generate(project, function_id, spec, req.language)
            with self._lock:
                self._transpiled[memo] = function_id
                while len(self._transpiled) > 4096:
                    self._transpiled.popitem(last=False)
        version, params = current_state(self.store, row.function_id)
        self._recent_state[row.function_id] = (time.monotonic(), version, params)
        return self._transpiled_answer(row, version, params, cache_hit)

    def transpile_from_memory(
        self, project: str, req: M.TranspileRequest
    ) -> M.TranspileResponse | None:
        """The answer to a transpile seen before, from memory only (no storage, so the
        event loop can give it), or None. Its version may lag by RECENT_STATE seconds."""
        memo = (project, req.language, req.function_code, repr(sorted((req.config or {}).items())))
        function_id = self._transpiled.get(memo)
        row = self.catalog.cached(function_id) if function_id else None
        recent = self._recent_state.get(function_id) if function_id else None
        if row is None or recent is None or time.monotonic() - recent[0] > RECENT_STATE:
            return None
        return self._transpiled_answer(row, recent[1], recent[2], True)

    def _transpiled_answer(
        self, row: FunctionRow, version: int, params: dict[str, Any], cache_hit: bool
    ) -> M.TranspileResponse:
        meta = row.metadata
        return M.TranspileResponse(
            poet_implementation=M.Implementation(code=row.stage_code, language=row.stage_language),
            metadata=M.TranspileMetadata(
                function_id=row.function_id,
                function_name=row.name,
                version=version,
                params=_jsonable(params),
                generator=meta.get("generator"),
                fallback_used=meta.get("fallback_used"),
                cache_hit=cache_hit,
            ),
        )

    def _generate(self, project: str, function_id: str, spec: Any, language: str) -> FunctionRow:
        from dana_poet.poet.codegen import generate_stage_code

        stages = generate_stage_code(spec)
        meta = {k: v for k, v in stages.metadata.items() if k != "cache"}
        row = FunctionRow(
            function_id=function_id,
            project=project,
            name=spec.name,
            language=language,
            source=spec.source,
            config=_jsonable(spec.config),
            stage_code=stages.source,
            stage_language=stages.language,
            metadata=_jsonable(meta),
            created=time.time(),
        )
        return self.catalog.put(row)

    # ------------------------------------------------------------ executions
    def _record(self, function_id: str, e: M.ExecutionIn) -> None:
        self.store.record_execution(
            e.execution_id, function_id, e.version, e.inputs, e.output, e.params, e.timings, e.error
        )

    def record_executions(self, project: str, req: M.ExecutionsRequest) -> int:
        row = self.function(project, req.function_id)
        for e in req.executions:
            self._record(row.function_id, e)
        self.store.flush()  # acknowledged means written
        return len(req.executions)

    # ------------------------------------------------------------ feedback
    def record_inline(self, function_id: str, e: M.ExecutionIn) -> ExecutionRecord:
        """Record an execution sent with its feedback; returns it as the store will read it
        (JSON values come back as they are)."""
        self._record(function_id, e)
        return ExecutionRecord(
            e.execution_id, function_id, e.version, e.inputs, e.output, e.params, e.timings,
            e.error, time.time(),
        )  # fmt: skip

    async def feedback(self, project: str, req: M.FeedbackRequest) -> bytes:
        """File the feedback (group commit, service/ingest.py) and answer as JSON."""
        import json

        from starlette.concurrency import run_in_threadpool

        filed = await self.writer.file(project, req)
        version, params = filed.version, filed.params
        if filed.fit_here:
            version, params = await run_in_threadpool(self._fit_now, filed.row)
        body = {
            "status": "recorded",
            "feedback_id": filed.feedback_id,
            "function_id": filed.row.function_id,
            "signal": filed.signal,
            "version": version,
            "params": params,
            "duplicate": filed.duplicate,
        }
        try:  # plain JSON values as a rule; tagged encoding only when they are not
            return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError):
            body["signal"], body["params"] = _jsonable(filed.signal), _jsonable(params)
            return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()

    def _fit_now(self, row: FunctionRow) -> tuple[int, dict[str, Any]]:
        self.trainer.after_feedback(row)
        self._recent_state.pop(row.function_id, None)
        return current_state(self.store, row.function_id)

    # ------------------------------------------------------------ functions
    def list_functions(self, project: str) -> M.FunctionList:
        return M.FunctionList(
            functions=[
                M.FunctionBrief(
                    function_id=r.function_id,
                    name=r.name,
                    current_version=self.store.current_version(r.function_id),
                )
                for r in self.catalog.in_project(project)
            ]
        )

    def current_version(self, project: str, function_id: str) -> int:
        return int(self.store.current_version(self.function(project, function_id).function_id))

    def detail(self, project: str, function_id: str) -> M.FunctionDetail:
        row = self.function(project, function_id)
        version, params = current_state(self.store, row.function_id)
        versions = [
            M.VersionInfo(
                version=v.version,
                reason=v.reason,
                params=_jsonable(v.params or {}),
                created=float(v.created or 0.0),
            )
            for v in self.store.list_versions(row.function_id)
        ]
        return M.FunctionDetail(
            function_id=row.function_id,
            name=row.name,
            language=row.language,
            current_version=version,
            versions=versions,
            params=_jsonable(params),
        )

    def rollback(self, project: str, function_id: str, version: int) -> M.FunctionDetail:
        row = self.function(project, function_id)
        known = {v.version for v in self.store.list_versions(row.function_id)}
        if version != 0 and version not in known:
            raise ServiceError(404, f"{function_id} has no version {version}")
        self.store.set_current(row.function_id, version)
        self._recent_state.pop(row.function_id, None)
        return self.detail(project, function_id)

    def feedback_summary(self, project: str, function_id: str) -> M.FeedbackSummary:
        row = self.function(project, function_id)
        by_version: dict[str, M.SentimentCounts] = {}
        overall = M.SentimentCounts()
        for fb in self.store.feedback_for(row.function_id):
            version = getattr(fb, "version", None)
            if version is None:
                execution = self.store.get_execution(fb.execution_id)
                version = execution.version if execution is not None else 0
            counts = by_version.setdefault(str(version), M.SentimentCounts())
            kind = _sentiment_class(fb.signal or {})
            for c in (counts, overall):
                setattr(c, kind, getattr(c, kind) + 1)
                c.total += 1
        return M.FeedbackSummary(
            function_id=row.function_id,
            total=overall.total,
            by_version=by_version,
            by_sentiment=overall,
        )

    def executions(self, project: str, function_id: str, limit: int) -> M.ExecutionList:
        row = self.function(project, function_id)
        records = self.store.executions(row.function_id, limit=limit)
        return M.ExecutionList(
            function_id=row.function_id,
            executions=[
                M.ExecutionOut(
                    execution_id=e.execution_id,
                    version=e.version,
                    inputs=_jsonable(e.inputs or {}),
                    output=_jsonable(e.output),
                    params=_jsonable(e.params or {}),
                    error=e.error,
                    created=float(e.created or 0.0),
                )
                for e in records
            ],
        )
