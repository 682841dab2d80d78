"""The HTTP side of the POET client: one connection pool per service, one warning per run.

`AITOMATIC_API_URL=http://host:port` (and `AITOMATIC_API_KEY`) turn the client on;
unset or `local`, nothing here is imported. A transport error, a timeout or a 5xx
marks the service unavailable: the caller takes the local path, the user sees one
warning line, and the service is tried again (GET /health) at most every few seconds.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

RETRY_AFTER = 5.0
TIMEOUT = float(os.environ.get("DANA_POET_SERVICE_TIMEOUT", "5"))


class ServiceUnavailable(Exception):
    """Unreachable, timed out, or a 5xx: use the local path."""


class ServiceRefused(Exception):
    """A 4xx: the service understood and said no; retrying the same request cannot help."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


def service_url() -> str | None:
    url = os.environ.get("AITOMATIC_API_URL", "").strip()
    if url.startswith(("http://", "https://")):
        return url.rstrip("/")
    return None


class ServiceClient:
    def __init__(self, url: str, key: str | None, *, timeout: float = TIMEOUT) -> None:
        import httpx

        self.url = url
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(
            base_url=url, headers=headers, timeout=httpx.Timeout(timeout, connect=min(2.0, timeout))
        )
        self._httpx = httpx
        self.online = True
        self.known: dict[str, tuple[int, dict[str, Any]]] = {}  # service id -> (version, params)
        self._down_since = 0.0
        self._warned = False
        self._lock = threading.Lock()

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        """The response (2xx or 304). Raises ServiceUnavailable or ServiceRefused."""
        if not self.online and not self._retry_due():
            raise ServiceUnavailable(f"{self.url} is unavailable")
        try:
            response = self._http.request(method, path, json=body, headers=headers)
        except self._httpx.HTTPError as exc:
            self.mark_down(f"{type(exc).__name__}: {exc}")
            raise ServiceUnavailable(str(exc)) from None
        if response.status_code >= 500:
            self.mark_down(f"HTTP {response.status_code}")
            raise ServiceUnavailable(f"HTTP {response.status_code}")
        self.online = True
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text[:200]
            raise ServiceRefused(response.status_code, detail)
        return response

    def _retry_due(self) -> bool:
        """While down, one request every RETRY_AFTER seconds probes the service."""
        with self._lock:
            now = time.monotonic()
            if now - self._down_since < RETRY_AFTER:
                return False
            self._down_since = now
            return True

    def mark_down(self, reason: str) -> None:
        with self._lock:
            self.online = False
            self._down_since = time.monotonic()
            if self._warned:
                return
            self._warned = True
        sys.stderr.write(
            f"dana-poet: warning: POET service {self.url} unavailable ({reason}); "
            "running locally, unsent records go to .dana/poet/outbox/\n"
        )
        sys.stderr.flush()

    def close(self) -> None:
        self._http.close()


_CLIENTS: dict[tuple[str, str], ServiceClient] = {}
_CLIENTS_LOCK = threading.Lock()


def client_from_env() -> ServiceClient | None:
    """The client for AITOMATIC_API_URL/AITOMATIC_API_KEY, shared by the process; None when local."""
    url = service_url()
    if url is None:
        return None
    key = os.environ.get("AITOMATIC_API_KEY", "").strip()
    with _CLIENTS_LOCK:
        client = _CLIENTS.get((url, key))
        if client is None:
            client = _CLIENTS[(url, key)] = ServiceClient(url, key or None)
        return client
