"""How the web tier serves: static assets under gunicorn, and slow clients held by the proxy."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time

import httpx
import pytest

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def test_every_asset_of_the_api_docs_is_served_by_gunicorn(stack: Stack) -> None:
    page = httpx.get(f"{stack.base_url}/api/docs/", timeout=10)
    assert page.status_code == 200
    assets = sorted(set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)))
    assert len(assets) >= 3, page.text  # Swagger UI's script, styles and favicon at least
    for asset in assets:
        answer = httpx.get(f"{stack.base_url}{asset}", timeout=10)
        assert answer.status_code == 200, asset
        assert answer.content, asset


# ------------------------------------------------------------------ slow clients


class Slowloris:
    """Connections that send their request headers one line at a time, never finishing."""

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.sockets: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)

    def __enter__(self) -> Slowloris:
        for _ in range(self.count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: engium\r\n")
            self.sockets.append(sock)
        self.thread.start()
        time.sleep(1)  # let every connection reach the server's workers
        return self

    def _trickle(self) -> None:
        while not self.stop.wait(0.5):
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X-Slow: 1\r\n")

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        for sock in self.sockets:
            sock.close()


def test_slow_header_clients_do_not_block_others_behind_the_proxy(stack: Stack, proxy: str) -> None:
    # given: many more slow clients than gunicorn has threads (2 workers × 4 threads)
    port = int(proxy.rsplit(":", 1)[1])
    with Slowloris(port, count=64):
        # when: another client asks, through the same front
        answer = httpx.get(f"{proxy}/healthz", timeout=10)

        # then: it is served while the slow ones are still trickling
        assert answer.status_code == 200
        assert answer.json() == {"status": "ok"}
