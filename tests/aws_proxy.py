"""A real HTTP proxy on 127.0.0.1 in front of the moto server: latency and expiring credentials.

boto3 (in the test or in a ``vault`` subprocess) talks to it through ``AWS_ENDPOINT_URL``.
It adds ``latency`` seconds to every request, forwards it to moto, and records what went
by. With ``expire_after_alias_moves=N`` it answers every request after the N-th alias
change (CreateAlias or UpdateAlias that moto carried out) the way AWS answers a session
whose token expired. Used by the cancellation and partial-failure tests and by
``bench/cancel_bench.py``.
"""

from __future__ import annotations

import http.client
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
ALIAS_MOVE = re.compile(r"^/2015-03-31/functions/([^/]+)/aliases(/[^/?]+)?$")
SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")


@dataclass(frozen=True)
class Seen:
    """One request that went through the proxy."""

    at: float  # time.monotonic()
    method: str
    path: str
    status: int


class AwsProxy:
    """A threaded HTTP proxy; use as a context manager (``url`` is its endpoint)."""

    def __init__(self, upstream: str, latency: float = 0.0,
                 expire_after_alias_moves: int | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.latency = latency
        self.expire_after_alias_moves = expire_after_alias_moves
        self.seen: list[Seen] = []
        self.moved: list[str] = []  # functions whose alias moto changed, in order
        self.started = 0  # alias moves let through to moto
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> AwsProxy:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def expired(self) -> bool:
        """True once the N-th alias move has been let through (credentials expired)."""
        limit = self.expire_after_alias_moves
        return limit is not None and self.started >= limit

    def wait_for_moves(self, count: int, alive: subprocess.Popen[str], timeout: float = 60.0,
                       ) -> float:
        """Block until ``count`` aliases were moved (while ``alive`` runs); the time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive.poll() is None:
            with self.lock:
                if len(self.moved) >= count:
                    return time.monotonic()
            time.sleep(0.005)
        alive.kill()
        out, err = alive.communicate()
        raise AssertionError(f"only {len(self.moved)} alias moves; the process said:\n{out}{err}")

    def _forward(self, method: str, path: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _expired_answer(self, authorization: str) -> tuple[int, list[tuple[str, str]], bytes]:
        service = match.group(1) if (match := SERVICE.search(authorization)) else ""
        if service == "s3":
            body = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code>"
                    b"<Message>The provided token has expired.</Message></Error>")
            return 400, [("Content-Type", "application/xml")], body
        if service in ("sts", "iam"):
            body = (b"<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code>"
                    b"<Message>The security token included in the request is expired"
                    b"</Message></Error></ErrorResponse>")
            return 400, [("Content-Type", "text/xml")], body
        body = b'{"message": "The security token included in the request is expired"}'
        return 403, [("Content-Type", "application/json"),
                     ("x-amzn-ErrorType", "ExpiredTokenException")], body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.latency:
                    time.sleep(proxy.latency)
                headers = dict(self.headers.items())
                move = ALIAS_MOVE.match(self.path.split("?", 1)[0])
                moving = bool(move) and self.command in ("POST", "PUT")
                with proxy.lock:  # decided on arrival: exactly N alias moves get through
                    expired = proxy.expired
                    proxy.started += moving and not expired
                if expired:
                    status, out, data = proxy._expired_answer(self.headers.get("Authorization", ""))
                else:
                    status, out, data = proxy._forward(self.command, self.path, headers, body)
                with proxy.lock:
                    proxy.seen.append(Seen(time.monotonic(), self.command, self.path, status))
                    if move and moving and status < 300:
                        proxy.moved.append(move.group(1))
                self.send_response(status)
                for name, value in out:
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                upstream_length = {k.lower(): v for k, v in out}.get("content-length")
                head = self.command == "HEAD" and upstream_length is not None
                self.send_header("Content-Length",
                                 str(upstream_length) if head else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _any

        return Handler
