"""A fault-injecting HTTP proxy for the S3 API: written for the chaos tests.

Listens on 127.0.0.1 and forwards to moto's server; on a share of requests it
answers 500 or 503, resets the connection, or stalls past the client's timeout.
Every decision is counted, so a run can report what it injected.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

FAULTS = ("500", "503", "reset", "stall")


def forward(handler: BaseHTTPRequestHandler, body: bytes, *, host: str | None, port: int | None) -> None:
    """Send the request ``handler`` is serving on to host:port, and its answer back (the two
    as a parsed URL gives them: a URL without a port means HTTP's own)."""
    assert host, "the upstream URL names no host"
    upstream = http.client.HTTPConnection(host, port, timeout=30)
    headers = {k: v for k, v in handler.headers.items() if k.lower() != "connection"}
    upstream.request(handler.command, handler.path, body=body, headers=headers)
    response = upstream.getresponse()
    data = response.read()
    handler.send_response(response.status)
    for name, value in response.getheaders():
        if name.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
            handler.send_header(name, value)
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(data)
    upstream.close()


class FaultyProxy:
    def __init__(self, upstream: str, *, rate: float, stall_seconds: float, seed: int = 7):
        self.upstream = urlparse(upstream)
        self.rate = rate
        self.stall_seconds = stall_seconds
        self.random = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.enabled = True
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy.choose()
                if fault in ("500", "503"):
                    payload = (
                        f"<Error><Code>{'InternalError' if fault == '500' else 'SlowDown'}</Code></Error>".encode()
                    )
                    self.send_response(int(fault))
                    self.send_header("content-length", str(len(payload)))
                    self.send_header("content-type", "application/xml")
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault == "reset":
                    # SO_LINGER 0: close() sends RST, as a dying load balancer would.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault == "stall":
                    time.sleep(proxy.stall_seconds)  # past the client's read timeout, bounded
                    self.close_connection = True
                    return
                forward(self, body, host=proxy.upstream.hostname, port=proxy.upstream.port)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # clients that give up mid-request (timeouts, resets) are the point here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def choose(self) -> str:
        with self.lock:
            fault = self.random.choice(FAULTS) if self.enabled and self.random.random() < self.rate else "ok"
            self.counts[fault] += 1
            return fault

    def start(self) -> FaultyProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
