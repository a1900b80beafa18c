"""A fault-injecting HTTP proxy for the S3 API: written for the chaos tests.

Listens on 127.0.0.1 and forwards to moto's server; on a share of requests it
answers 500 or 503, resets the connection, or stalls past the client's timeout.
Every decision is counted, so a run can report what it injected.

Two more faults break a GET's answer after its headers, and are drawn only by a proxy
that names them (``faults=BODY_FAULTS``): "midbody_reset" sends the status, headers with
the true content-length and part of the body, then resets the connection;
"truncated" sends the same and closes cleanly, so only the length shows the loss.
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
BODY_FAULTS = ("midbody_reset", "truncated")  # GET answers only; opt-in


def forward(
    handler: BaseHTTPRequestHandler, body: bytes, *, host: str | None, port: int | None, cut: str | None = None
) -> None:
    """Send the request ``handler`` is serving on to host:port, and its answer back (the two
    as a parsed URL gives them: a URL without a port means HTTP's own). ``cut`` names a
    body fault: the answer's headers go out whole, its body only half (an empty body, having
    no half, goes out whole)."""
    assert host, "the upstream URL names no host"
    upstream = http.client.HTTPConnection(host, port, timeout=30)
    headers = {k: v for k, v in handler.headers.items() if k.lower() != "connection"}
    upstream.request(handler.command, handler.path, body=body, headers=headers)
    response = upstream.getresponse()
    data = response.read()
    upstream.close()
    handler.send_response(response.status)
    for name, value in response.getheaders():
        if name.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
            handler.send_header(name, value)
    handler.send_header("content-length", str(len(data)))  # the true length, cut or not
    if cut:
        handler.send_header("connection", "close")  # only a closed connection can end a short body
    handler.end_headers()
    if handler.command == "HEAD":
        return
    if not cut:
        handler.wfile.write(data)
        return
    handler.wfile.write(data[: len(data) // 2])
    handler.close_connection = True
    if cut == "midbody_reset":
        reset(handler)


def reset(handler: BaseHTTPRequestHandler) -> None:
    """Close the connection with an RST, as a dying load balancer would (SO_LINGER 0)."""
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True
    handler.connection.close()


class FaultyProxy:
    """``faults`` names what a faulty request may meet (FAULTS by default; BODY_FAULTS
    apply to GETs only, so a request of another method drawn for one passes untouched)."""

    def __init__(
        self,
        upstream: str,
        *,
        rate: float,
        stall_seconds: float,
        seed: int = 7,
        faults: tuple[str, ...] = FAULTS,
    ):
        unknown = set(faults) - set(FAULTS + BODY_FAULTS)
        assert not unknown, f"unknown faults {sorted(unknown)}"
        self.upstream = urlparse(upstream)
        self.rate = rate
        self.stall_seconds = stall_seconds
        self.faults = faults
        self.random = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.forced: list[str] = []  # the next requests' faults, whatever the rate (see force)
        self.lock = threading.Lock()
        self.enabled = True
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy.choose(self.command)
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
                    reset(self)
                    return
                if fault == "stall":
                    time.sleep(proxy.stall_seconds)  # past the client's read timeout, bounded
                    self.close_connection = True
                    return
                cut = fault if fault in BODY_FAULTS else None
                forward(self, body, host=proxy.upstream.hostname, port=proxy.upstream.port, cut=cut)

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

    def choose(self, method: str) -> str:
        # Body faults only where there is a body to break; with the default faults every
        # request may meet any of them, and the draws are the same as they always were.
        possible = [f for f in self.faults if method == "GET" or f not in BODY_FAULTS]
        with self.lock:
            if self.enabled and self.forced and self.forced[0] in possible:
                fault = self.forced.pop(0)
            elif self.enabled and possible and self.random.random() < self.rate:
                fault = self.random.choice(possible)
            else:
                fault = "ok"
            self.counts[fault] += 1
            return fault

    def force(self, *faults: str) -> None:
        """The next requests that may meet a fault meet these, in order, whatever the rate."""
        with self.lock:
            self.forced += faults

    def start(self) -> FaultyProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
