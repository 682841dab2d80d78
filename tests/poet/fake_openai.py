"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol with scripted replies."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer. `drip` sends the body `chunk` bytes at a time, `drip` seconds apart;
    `body` replaces the whole response body; `declare_length=False` omits Content-Length."""

    content: str = ""
    status: int = 200
    delay: float = 0.0
    drip: float = 0.0
    chunk: int = 8
    body: bytes | None = None
    declare_length: bool = True


class FakeOpenAI:
    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, "body": body})
                reply = server.replies.pop(0) if server.replies else Reply(status=500)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    payload = {
                        "error": {"message": f"scripted {reply.status}", "type": "server_error"}
                    }
                else:
                    payload = {
                        "id": "chatcmpl-test",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "test"),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": reply.content},
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                data = reply.body if reply.body is not None else json.dumps(payload).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    if reply.declare_length:
                        self.send_header("Content-Length", str(len(data)))
                    else:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    if not reply.drip:
                        self.wfile.write(data)
                        return
                    for start in range(0, len(data), reply.chunk):
                        self.wfile.write(data[start : start + reply.chunk])
                        self.wfile.flush()
                        time.sleep(reply.drip)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass
                finally:
                    if not reply.declare_length:
                        self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def stage_json(code: str) -> str:
    return json.dumps({"stage_code": code, "notes": "scripted"})
