"""Test helpers: a real ``llama_cpp.server`` subprocess and a fault-injecting HTTP proxy.

``LlamaServer`` starts ``python -m llama_cpp.server`` on a free local port and waits until
``/v1/models`` answers. ``FaultProxy`` forwards HTTP requests to an upstream server, but first
answers 503 (or drops the connection) for chosen requests, and can rewrite JSON responses; it
counts what it saw so tests can check that clients retried.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def free_port() -> int:
    """A TCP port nobody listens on right now (bound once by the OS, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` serving one GGUF on 127.0.0.1 (use as a context manager)."""

    def __init__(
        self,
        model_path: str | Path,
        n_ctx: int = 2048,
        n_threads: int = 1,
        log_path: str | Path | None = None,
        startup_timeout_s: float = 120.0,
        port: int | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.port = port or free_port()  # a restarted server keeps its port (and its URL)
        self.log_path = Path(log_path) if log_path else None
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def start(self) -> LlamaServer:
        cmd = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads),
        ]  # fmt: skip
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        while time.monotonic() - start < self.startup_timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited with code {self.proc.returncode} during startup"
                    f" (log: {self.log_path or 'not kept'})"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as r:
                    if r.status == 200:
                        self.startup_s = time.monotonic() - start
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"llama_cpp.server not ready after {self.startup_timeout_s} s")

    def kill(self) -> None:
        """SIGKILL, as a crashed or pre-empted server dies: no graceful shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class FaultProxy:
    """HTTP proxy to ``upstream`` that fails chosen requests before forwarding the others.

    A request fails if it is among the first ``fail_first`` seen, or if ``fail_when(body)`` is
    true. ``mode="503"`` answers 503 (with ``retry-after-ms`` so clients back off briefly);
    ``mode="drop"`` closes the connection without an answer. ``rewrite(json_body)`` may change
    forwarded JSON responses (to imitate other servers' fields). ``routes`` answers the POSTs
    to these paths here (``route(json_body) -> json``, None: 404), endpoints another server
    has (e.g. llama.cpp's ``/apply-template``); ``responses`` keeps every forwarded JSON response.
    """

    def __init__(
        self,
        upstream: str,
        fail_first: int = 0,
        fail_when: Callable[[bytes], bool] | None = None,
        mode: str = "503",
        retry_after_ms: int | None = 20,
        rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        routes: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] | None = None,
    ) -> None:
        if mode not in ("503", "drop"):
            raise ValueError(f"mode must be '503' or 'drop', found {mode!r}")
        up = urlsplit(upstream)
        self.upstream_host, self.upstream_port = up.hostname or "127.0.0.1", up.port or 80
        self.fail_first = fail_first
        self.fail_when = fail_when
        self.mode = mode
        self.retry_after_ms = retry_after_ms
        self.rewrite = rewrite
        self.routes = dict(routes or {})
        self.responses: list[dict[str, Any]] = []
        self.requests_seen = 0
        self.failures_injected = 0
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _decide(self, body: bytes) -> bool:
        with self._lock:
            n = self.requests_seen
            self.requests_seen += 1
            self.bodies.append(body)
            fail = n < self.fail_first or bool(self.fail_when and self.fail_when(body))
            if fail:
                self.failures_injected += 1
            return fail

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes):
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=300)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            out_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_HEADERS]
            return resp.status, out_headers, data
        finally:
            conn.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.command == "POST" and proxy._decide(body):
                    if proxy.mode == "drop":
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    payload = json.dumps({"error": {"message": "injected 503", "code": 503}})
                    self.send_response(503)
                    self.send_header("Content-Type", "application/json")
                    if proxy.retry_after_ms is not None:
                        self.send_header("retry-after-ms", str(proxy.retry_after_ms))
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload.encode())
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                route = proxy.routes.get(self.path)
                if route is not None:
                    answer = route(json.loads(body))  # None: the endpoint does not exist
                    status = 404 if answer is None else 200
                    data = json.dumps(answer or {"error": "not found"}).encode()
                    out_headers = [("Content-Type", "application/json")]
                else:
                    status, out_headers, data = proxy._forward(
                        self.command, self.path, headers, body
                    )
                if proxy.rewrite is not None and status == 200:
                    data = json.dumps(proxy.rewrite(json.loads(data))).encode()
                if status == 200 and route is None and data.startswith(b"{"):
                    proxy.responses.append(json.loads(data))
                self.send_response(status)
                for k, v in out_headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _handle
            do_POST = _handle

        return Handler

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
