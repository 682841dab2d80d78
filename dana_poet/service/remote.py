"""The runtime's store when a POET service is configured: local first, the service behind it.

Everything is recorded in the project's local store as embedded; on top of that:

- executions of trainable functions go to `POST /poet/executions` in batches from a
  background thread (bounded queue; flushed at exit within EXIT_FLUSH seconds);
- feedback goes to `POST /poet/feedback` at once (with its execution inline) and the
  version the service answers with becomes the function's version;
- new versions trained from other processes are picked up by ETag polling
  (`GET /poet/functions/{id}`, at most every POLL_INTERVAL seconds);
- while the service is unavailable, training is local and request bodies are spooled to
  `.dana/poet/outbox/`, delivered (oldest first) once the service answers again.

A function is bound to its service id when it is enhanced (`bind_function`): Dana
functions get it from the service's transpile answer, Python functions by sending
their source.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import os
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dana_poet.poet.store.base import VersionRecord
from dana_poet.poet.store.encoding import to_jsonable
from dana_poet.service.client import ServiceClient, ServiceRefused, ServiceUnavailable
from dana_poet.service.outbox import Outbox, draining

POLL_INTERVAL = float(os.environ.get("DANA_POET_POLL_INTERVAL", "3"))
EXIT_FLUSH = 3.0
BATCH = 500
QUEUE_SIZE = 20_000


@dataclass
class Binding:
    remote_id: str
    record: Any
    version: int = 0
    params: dict[str, Any] | None = None
    etag: str | None = None


def _execution_body(execution: Any) -> dict[str, Any]:
    return {
        "execution_id": execution.execution_id,
        "inputs": to_jsonable(execution.inputs or {}),
        "output": to_jsonable(execution.output),
        "version": max(int(execution.version or 0), 0),
        "params": to_jsonable(execution.params or {}),
        "timings": to_jsonable(execution.timings or {}),
        "error": execution.error,
    }


class RemoteStore:
    """The Store interface: a local store plus the service (see the module docstring)."""

    def __init__(self, local: Any, client: ServiceClient, project_root: Path) -> None:
        self.local = local
        self.client = client
        self.outbox = Outbox(Path(project_root) / ".dana" / "poet" / "outbox")
        self._bindings: dict[str, Binding] = {}
        self._queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue(QUEUE_SIZE)
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dana-poet-service", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # ------------------------------------------------------------ binding
    @property
    def trains_locally(self) -> bool:
        """The service trains while it answers; the local path trains while it does not."""
        return not self.client.online

    def bind_function(self, record: Any) -> None:
        remote_id = (record.stage_meta or {}).get("service_function_id")
        known = self.client.known.get(remote_id) if remote_id else None
        if remote_id is None:
            remote_id, known = self._transpile_python(record)
        if remote_id is None:
            return
        binding = Binding(remote_id, record)
        if known is not None:
            binding.version, binding.params = known
        else:
            self._poll(binding)
        self._bindings[record.function_id] = binding

    def _transpile_python(self, record: Any) -> tuple[str | None, Any]:
        try:
            source = inspect.getsource(record.original)
        except (OSError, TypeError):
            return None, None
        import textwrap

        body = {"function_code": textwrap.dedent(source), "language": "python"}
        try:
            meta = self.client.request("POST", "/poet/transpile", body).json()["metadata"]
        except (ServiceUnavailable, ServiceRefused, ValueError, KeyError):
            return None, None
        return str(meta["function_id"]), (int(meta["version"]), dict(meta["params"]))

    def _apply(self, binding: Binding, version: int, params: dict[str, Any]) -> None:
        if version == binding.version and params == binding.params:
            return
        binding.version, binding.params = version, params
        record = binding.record
        if record.learnable:
            from dana_poet.poet.decorator import load_current_params

            load_current_params(record)
        else:
            record.version = version

    def _poll(self, binding: Binding) -> None:
        headers = {"If-None-Match": binding.etag} if binding.etag else None
        try:
            response = self.client.request(
                "GET", f"/poet/functions/{binding.remote_id}", headers=headers
            )
        except (ServiceUnavailable, ServiceRefused):
            return
        if response.status_code == 304:
            return
        data = response.json()
        binding.etag = response.headers.get("etag")
        self._apply(binding, int(data["current_version"]), dict(data["params"]))

    def _online_binding(self, function: str) -> Binding | None:
        binding = self._bindings.get(function)
        return binding if binding is not None and self.client.online else None

    # ------------------------------------------------------------ executions
    def new_execution_id(self) -> str:
        return str(self.local.new_execution_id())

    def record_execution(
        self,
        execution_id: str,
        function: str,
        version: int,
        inputs: dict[str, Any],
        output: Any,
        params: dict[str, Any],
        timings: dict[str, Any],
        error: str | None = None,
        *,
        persist: bool = True,
    ) -> None:
        self.local.record_execution(
            execution_id, function, version, inputs, output, params, timings, error,
            persist=persist,
        )  # fmt: skip
        binding = self._bindings.get(function) if persist else None
        if binding is None:
            return
        body = {
            "execution_id": execution_id,
            "inputs": to_jsonable(inputs),
            "output": to_jsonable(output),
            "version": max(int(version), 0),
            "params": to_jsonable(params),
            "timings": to_jsonable(timings),
            "error": error,
        }
        try:
            self._queue.put_nowait((binding.remote_id, body))
        except queue.Full:
            self.outbox.put(
                "/poet/executions", {"function_id": binding.remote_id, "executions": [body]}
            )

    def flush(self) -> None:
        self.local.flush()

    def get_execution(self, execution_id: str) -> Any:
        return self.local.get_execution(execution_id)

    def executions(self, function: str, **kwargs: Any) -> Any:
        return self.local.executions(function, **kwargs)

    # ------------------------------------------------------------ feedback
    def record_feedback(self, execution_id: str, payload: Any, signal: dict[str, Any]) -> str:
        feedback_id = str(self.local.record_feedback(execution_id, payload, signal))
        execution = self.local.get_execution(execution_id)
        binding = self._bindings.get(execution.function) if execution is not None else None
        if binding is None:
            return feedback_id
        body = {
            "execution_id": execution_id,
            "function_id": binding.remote_id,
            "feedback_payload": to_jsonable(payload),
            "execution": _execution_body(execution),
            # one key per feedback record, kept when spooled: a resend after a lost answer
            # is recognised by the service and not recorded twice
            "idempotency_key": f"fk-{secrets.token_hex(16)}",
        }
        try:
            answer = self.client.request("POST", "/poet/feedback", body).json()
        except ServiceUnavailable:
            self.outbox.put("/poet/feedback", body)
            return feedback_id
        except ServiceRefused as exc:
            import sys

            sys.stderr.write(f"dana-poet: warning: the POET service refused feedback: {exc}\n")
            return feedback_id
        self._apply(binding, int(answer["version"]), dict(answer["params"]))
        return feedback_id

    def feedback_for(self, function: str, **kwargs: Any) -> Any:
        return self.local.feedback_for(function, **kwargs)

    def feedback_summary(self, function: str) -> Any:
        return self.local.feedback_summary(function)

    # ------------------------------------------------------------ versions
    def current_version(self, function: str) -> int:
        binding = self._online_binding(function)
        if binding is not None:
            return binding.version
        return int(self.local.current_version(function))

    def read_version(self, function: str, version: int) -> Any:
        binding = self._online_binding(function)
        if binding is not None and version == binding.version:
            return VersionRecord(
                version, dict(binding.params or {}), "from the POET service", {}, {}, None, 0.0
            )
        return self.local.read_version(function, version)

    def publish_if_changed(self, function: str, **kwargs: Any) -> int:
        binding = self._online_binding(function)
        if binding is not None:
            return binding.version  # the service's versions are the function's versions
        return int(self.local.publish_if_changed(function, **kwargs))

    def __getattr__(self, name: str) -> Any:
        # set_current, list_versions, write_version, functions, status, ... : the local store
        return getattr(self.local, name)

    # ------------------------------------------------------------ background sending
    def _run(self) -> None:
        if self.outbox.pending():
            self.deliver_outbox()
        next_poll = time.monotonic() + POLL_INTERVAL
        while not self._stop.is_set():
            batch = self._take(timeout=max(0.05, min(0.5, next_poll - time.monotonic())))
            if batch:
                self._send(batch)
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + POLL_INTERVAL
                for binding in list(self._bindings.values()):
                    self._poll(binding)
                if self.client.online:
                    self.deliver_outbox()
            if self._queue.empty():
                self._idle.set()

    def _take(self, timeout: float) -> list[tuple[str, dict[str, Any]]]:
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            return []
        self._idle.clear()
        batch = [first]
        while len(batch) < BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _send(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        groups: dict[str, list[dict[str, Any]]] = {}
        for remote_id, body in batch:
            groups.setdefault(remote_id, []).append(body)
        for remote_id, executions in groups.items():
            body = {"function_id": remote_id, "executions": executions}
            try:
                self.client.request("POST", "/poet/executions", body)
            except ServiceUnavailable:
                self.outbox.put("/poet/executions", body)
            except ServiceRefused:
                pass  # e.g. the function is unknown to this key's project: nothing to retry

    def deliver_outbox(self) -> int:
        """Send what earlier runs (or this one) spooled; returns how many were acknowledged."""
        sent = 0
        with draining(self.outbox.folder) as mine:
            if not mine:
                return 0
            for path in self.outbox.pending():
                item = self.outbox.read(path)
                if item is None:
                    continue
                route, body = item
                try:
                    self.client.request("POST", route, body)
                except ServiceUnavailable:
                    return sent
                except ServiceRefused:
                    pass  # refused for good: keeping it would block the rest
                self.outbox.done(path)
                sent += 1
        return sent

    def close(self) -> None:
        """Stop the sender: send what is queued within EXIT_FLUSH seconds, spool the rest."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(EXIT_FLUSH)
        deadline = time.monotonic() + EXIT_FLUSH
        leftovers: list[tuple[str, dict[str, Any]]] = []
        while True:
            batch = self._take(timeout=0)
            if not batch:
                break
            if self.client.online and time.monotonic() < deadline:
                self._send(batch)
            else:
                leftovers.extend(batch)
        if leftovers:
            groups: dict[str, list[dict[str, Any]]] = {}
            for remote_id, body in leftovers:
                groups.setdefault(remote_id, []).append(body)
            for remote_id, executions in groups.items():
                self.outbox.put(
                    "/poet/executions", {"function_id": remote_id, "executions": executions}
                )
        if self.client.online and time.monotonic() < deadline and self.outbox.pending():
            self.deliver_outbox()
        with contextlib.suppress(Exception):
            self.local.close()


def remote_store(local: Any, project_root: Path) -> Any:
    """The store for `project_root`: remote when AITOMATIC_API_URL names a service."""
    from dana_poet.service.client import client_from_env

    client = client_from_env()
    if client is None:
        return local
    return RemoteStore(local, client, project_root)
