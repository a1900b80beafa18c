"""Webhook receivers for tests: real HTTP servers on loopback, in threads of the test process."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with ``respond(request number, request)`` → (status, headers)."""

    respond: Callable[[int, Received], tuple[int, dict[str, str]]]
    received: list[Received] = field(default_factory=list)
    host: str = "127.0.0.1"  # another loopback address (127.0.0.2) for the SSRF guard's tests
    port: int = 0

    def __post_init__(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                request = Received({k.lower(): v for k, v in self.headers.items()}, body)
                receiver.received.append(request)
                status, headers = receiver.respond(len(receiver.received), request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{self.host}:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
