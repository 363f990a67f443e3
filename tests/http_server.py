"""A scripted HTTP server on 127.0.0.1 standing in for a provider or webhook receiver,
over plain HTTP or, given a server TLS context, over HTTPS (recording the SNI names asked)."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    #: the JSON answer (or raw bytes, sent as they are), or a function of the request
    #: that makes it
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    #: the client's TCP port (which process is calling)
    peer_port: int = 0


class ScriptedServer:
    """Answers with the queued replies in order, then with ``default``; records every request."""

    def __init__(self, port: int = 0, *, tls: ssl.SSLContext | None = None) -> None:
        self.replies: deque[Reply] = deque()
        self.default = Reply()
        #: if set, chooses the reply to a request (None: the queued replies, then ``default``),
        #: for tests whose requests arrive concurrently, in no fixed order
        self.route: Callable[[Received], Reply | None] | None = None
        self.received: list[Received] = []
        #: TLS only: the server name (SNI) of every handshake, and the handshakes that failed
        self.server_names: list[str | None] = []
        self.tls_failures: list[str] = []
        self.tls = tls
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                received = Received(
                    self.command,
                    self.path,
                    dict(self.headers.items()),
                    body,
                    peer_port=self.client_address[1],
                )
                server.received.append(received)
                reply = server.route(received) if server.route else None
                if reply is None:
                    reply = server.replies.popleft() if server.replies else server.default
                if reply.delay:
                    time.sleep(reply.delay)
                answer = reply.body(received) if callable(reply.body) else reply.body
                raw = isinstance(answer, bytes)
                payload = answer if raw else json.dumps(answer).encode()
                self.send_response(reply.status)
                if "Content-Type" not in reply.headers:
                    content_type = "application/octet-stream" if raw else "application/json"
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def setup(self) -> None:
                super().setup()
                if isinstance(self.connection, ssl.SSLSocket):
                    try:
                        self.connection.do_handshake()
                    except (ssl.SSLError, OSError) as exc:
                        server.tls_failures.append(str(exc))
                        self.close_connection = True
                        self.handle = lambda: None  # type: ignore[method-assign]

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        if tls is not None:
            tls.sni_callback = lambda _socket, name, _context: self.server_names.append(name)
            # The handshake runs in the request's thread (`setup`), not in `accept`.
            self.httpd.socket = tls.wrap_socket(
                self.httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host!s}:{port}"

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
