"""A loopback LLM server for tests: a real HTTP server on 127.0.0.1 that speaks provider wire formats.

The vendor SDKs run on their own HTTP transport, so mocking libraries do not see their traffic; the
honest test is the real SDK against a real server. This module is the server core: threads, routing,
fault injection, answer generation and a record of every request and of the tokens it billed. The
wire formats plug in as route sets (:mod:`distil.testing.loopback_openai`,
:mod:`distil.testing.loopback_anthropic`).

Usage::

    with LoopbackLLM(answer=lambda req: '{"labels": ["spam"]}') as server:
        install_openai(server)
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="test")
        ...
        server.fail_next(429, headers={"retry-after": "0.1"})   # inject faults
        assert server.billed["input_tokens"] == ...

The server binds 127.0.0.1 only and stops with the context manager. A simulated LLM teacher
that answers from gold labels at a chosen accuracy (:class:`SimulatedTeacher`,
:func:`simulated_llm`) lives in :mod:`distil.testing.simulated` and is re-exported here.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: A route handler: (server, request) -> Response.
Handler = Callable[["LoopbackLLM", "Request"], "Response"]


@dataclass
class Request:
    """One request as the server saw it (headers lower-cased)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class Response:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode("utf-8"), "application/json"
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), self.headers.get("content-type", "text/plain")
        return self.body, self.headers.get("content-type", "application/octet-stream")


@dataclass
class Fault:
    """A planned failure: answered instead of the real route, for requests matching ``path``.

    ``kind``: ``"status"`` (send ``status`` with ``body``/``headers``), ``"timeout"`` (hold the
    connection for ``delay`` seconds, then close it unanswered and unbilled: clients with a shorter
    timeout give up first), ``"malformed"`` (a 200 whose body is not valid JSON), ``"disconnect"`` (close the
    connection without an answer).
    """

    kind: str = "status"
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    path: str | None = None


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) drops the SYNs of a burst of new connections (a client at
    # concurrency 8 or 64), and each dropped one costs a 1 s retransmit.
    request_queue_size = 1024
    daemon_threads = True


def count_tokens(text: str) -> int:
    """The loopback server's tokenizer: whitespace-separated words (deterministic and cheap)."""
    return len(text.split())


class LoopbackLLM:
    """A threaded HTTP server on 127.0.0.1 with pluggable routes and injected faults."""

    def __init__(
        self,
        answer: Callable[[dict[str, Any]], str] | None = None,
        *,
        latency: float = 0.0,
        host: str = "127.0.0.1",
    ) -> None:
        #: Produces the model's answer text from a normalised request:
        #: ``{"system": str, "messages": [{"role", "content"}], "schema": dict|None, "model": str}``.
        self.answer = answer or (lambda request: '{"labels": []}')
        self.latency = latency
        self.routes: dict[tuple[str, str], Handler] = {}
        self.prefix_routes: list[tuple[str, str, Handler]] = []
        self.faults: deque[Fault] = deque()
        self.requests: list[Request] = []
        #: ``input_tokens`` include the prompt-cache reads and writes counted apart.
        self.billed = {
            "input_tokens": 0,
            "output_tokens": 0,
            "requests": 0,
            "cached_input_tokens": 0,
            "cache_write_tokens": 0,
        }
        #: State the wire modules keep (uploaded files, batches, ...), by module.
        self.state: dict[str, Any] = {}
        self.lock = threading.Lock()
        self._host = host
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- routes and faults --------------------------------------------------------------------
    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method.upper(), path)] = handler

    def route_prefix(self, method: str, prefix: str, handler: Handler) -> None:
        self.prefix_routes.append((method.upper(), prefix, handler))

    def fail_next(
        self, status: int = 500, *, times: int = 1, path: str | None = None, **kw: Any
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (see :class:`Fault`)."""
        for _ in range(times):
            self.faults.append(Fault(kind="status", status=status, path=path, **kw))

    def inject(self, fault: Fault) -> None:
        self.faults.append(fault)

    def bill(
        self,
        input_tokens: int,
        output_tokens: int,
        *,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> None:
        """Count one answered request; ``input_tokens`` is every input token, of which
        ``cached_input_tokens`` were read from and ``cache_write_tokens`` written to the cache."""
        with self.lock:
            self.billed["input_tokens"] += input_tokens
            self.billed["output_tokens"] += output_tokens
            self.billed["requests"] += 1
            self.billed["cached_input_tokens"] += cached_input_tokens
            self.billed["cache_write_tokens"] += cache_write_tokens

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for i, fault in enumerate(self.faults):
                if fault.path is None or path.startswith(fault.path):
                    del self.faults[i]
                    return fault
        return None

    def _handler_for(self, method: str, path: str) -> Handler | None:
        handler = self.routes.get((method, path))
        if handler is not None:
            return handler
        for m, prefix, h in self.prefix_routes:
            if m == method and path.startswith(prefix):
                return h
        return None

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the loopback server is not started")
        port = self._server.server_address[1]
        return f"http://{self._host}:{port}"

    def start(self) -> LoopbackLLM:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle's algorithm on, the client's
            # delayed ACK stalls every keep-alive answer by ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                return

            def _serve(self) -> None:
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    method=self.command,
                    path=path,
                    query=query,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with server.lock:
                    server.requests.append(request)
                fault = server._take_fault(path)
                if fault is not None and fault.kind == "disconnect":
                    self.close_connection = True
                    return
                if fault is not None and fault.kind == "timeout":
                    # Hold the connection past the client's timeout, then drop it unanswered:
                    # nothing is generated or billed for a request the client gave up on.
                    time.sleep(fault.delay)
                    self.close_connection = True
                    return
                if fault is not None and fault.kind == "malformed":
                    self._send(
                        Response(
                            200,
                            b'{"id": "broken", "choices": [',
                            {"content-type": "application/json"},
                        )
                    )
                    return
                if fault is not None:
                    self._send(
                        Response(
                            fault.status,
                            fault.body
                            if fault.body is not None
                            else {
                                "error": {
                                    "message": f"injected {fault.status}",
                                    "type": "server_error",
                                }
                            },
                            fault.headers,
                        )
                    )
                    return
                handler = server._handler_for(self.command, path)
                if handler is None:
                    self._send(
                        Response(
                            404,
                            {
                                "error": {
                                    "message": f"no route {self.command} {path}",
                                    "type": "not_found_error",
                                }
                            },
                        )
                    )
                    return
                try:
                    response = handler(server, request)
                except Exception as exc:  # a bug in a route: answer 500 and say what
                    response = Response(
                        500,
                        {
                            "error": {
                                "message": f"{type(exc).__name__}: {exc}",
                                "type": "server_error",
                            }
                        },
                    )
                if server.latency:
                    time.sleep(server.latency)
                if response.delay:
                    time.sleep(response.delay)
                self._send(response)

            def _send(self, response: Response) -> None:
                payload, ctype = response.encoded()
                self.send_response(response.status)
                headers = {"content-type": ctype, **response.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve
            do_POST = _serve
            do_DELETE = _serve

        self._server = _Server((self._host, 0), _Handler)
        self._server.daemon_threads = True
        # a short poll interval: stop() waits for one poll, 0.5 s by default
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
