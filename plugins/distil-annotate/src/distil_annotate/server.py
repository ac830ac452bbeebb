"""The HTTP layer: a FastAPI app over a :class:`distil.annotate.Workspace`, plus its static UI.

API (JSON; every ``/api`` call needs the token when one is set, as ``X-Distil-Token: T`` or
``Authorization: Bearer T``; every error is a 4xx with ``{"detail": "a sentence"}``):

* ``GET /api/state?session=NAME&pass=P&example=ID``: the pass, its next card, progress per pass,
  ``leased_elsewhere`` (cards other tabs of this session hold) and ``queue``: the strategy
  (``[annotate] queue``) and whether it is stale (retrain to refresh).
* ``POST /api/answer`` ``{session, pass, example_id, answer, output?}``: stores the answer
  (committed before the reply) and replies with the next state. A multi-label card (mode
  ``multi``, pass ``labels``) is answered with its final label set: ``{"answer": "correct",
  "output": {"labels": [...]}}`` (an empty list means no label applies; the teacher's own set is
  stored as ``accept``), or ``accept`` with no output (keep the teacher's set), ``reject`` or
  ``ignore``. A ``review`` answer from a session that may not review that example gets 403.
* ``POST /api/undo`` ``{session, pass?}``: stores an undo event for the session's latest answer
  and replies with the state showing that card again.
* ``GET /api/summary``: progress per annotator, agreement per pass (Cohen's kappa), conflicts.

**Several tabs, one session.** A client sends its own id (``X-Distil-Client`` header, or a
``client`` query or body field; the UI makes one per tab): the card it is shown is leased to it
(``[annotate] lease_seconds``), so the session's other tabs get other cards until it is
answered or the lease expires. Calls without an id share the id ``anonymous``.

**Safety.** Session names are 1-64 characters without control characters (400 otherwise). On a
loopback bind the ``Host`` header must name this server (``127.0.0.1:PORT``, ``localhost:PORT``
or ``[::1]:PORT``), else 403: a page on another site that rebinds its DNS name to 127.0.0.1 can
not read the texts. Request bodies over ``[annotate] max_body_bytes`` (1 MB) get 413 before they
are read in full. Off loopback a token is always required.

This module imports FastAPI at the top: only ``distil annotate`` imports it (the plugin module does
not), so plugin discovery stays cheap. The page itself (``/``) holds no data. Every response
carries a Content-Security-Policy that allows only the app's own script, and the UI writes every
text with ``textContent``.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse

from distil import (
    AnswerError,
    ConfigError,
    ExtractWorkspace,
    Leases,
    ReviewRefused,
    Workspace,
    check_annotator,
)

STATIC = Path(__file__).parent / "static"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
DEFAULT_MAX_BODY = 1_000_000
#: The longest id, pass name or answer the API reads (longer ones are refused, not looked up).
MAX_FIELD = 4096
#: Error messages are cut here, so a huge id sent back in a message stays a sentence.
MAX_MESSAGE = 400

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def open_workspace(
    config: Path,
    dataset: str = "train",
    source: str | None = None,
    reviewers: Sequence[str] = (),
) -> Any:
    """The project of ``config`` and a workspace over its store (the caller closes the project).

    The ``[annotate]`` section sets the queue, the multi-label plan, the lease length and the
    reviewers; ``reviewers`` (``--reviewer``) adds to the configured ones.
    """
    from distil import Project

    project = Project.from_config(config)
    try:
        settings = project.config.annotate
        names = reviewer_names([*settings.reviewers, *reviewers])
        leases = Leases(settings.lease_seconds)
        if not project.store.examples(dataset, limit=1):
            project.import_data()
        # An extract task is annotated one subtask at a time: one workspace per subtask, each
        # answer stored for its subtask alone (distil.annotate.subtasks).
        if project.config.task.kind == "extract":
            workspace: Any = ExtractWorkspace(
                project.store,
                project.config.task,
                dataset=dataset,
                teacher_source=source,
                host=project.host,
                queue=settings.queue,
                seed=settings.seed,
            )
            for sub in workspace.subs.values():  # each subtask's review pass has the same rule
                sub.reviewers = frozenset(names)
        else:
            workspace = Workspace(
                project.store,
                project.config.task,
                dataset=dataset,
                teacher_source=source,
                host=project.host,
                queue=settings.queue,
                seed=settings.seed,
                multilabel=settings.multilabel,
                reviewers=names,
                leases=leases,
            )
    except BaseException:
        project.close()
        raise
    return workspace, project


def reviewer_names(names: Sequence[str]) -> list[str]:
    """``names`` checked as session names, without repeats; ConfigError names the bad one."""
    out: list[str] = []
    for raw in names:
        try:
            name = check_annotator(raw)
        except ValueError as exc:
            raise ConfigError(f"reviewer {raw!r}: {exc}") from None
        if name not in out:
            out.append(name)
    return out


def allowed_hosts(host: str, port: int) -> set[str] | None:
    """The ``Host`` header values a loopback bind accepts (None: no check off loopback, where
    the token guards the API instead)."""
    if host not in LOOPBACK:
        return None
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
    if port == 80:  # a browser leaves the default port out of the Host header
        hosts |= {"127.0.0.1", "localhost", "[::1]"}
    return hosts


def short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


async def _refuse(send: Any, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
    headers += [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware in front of the whole app: the Host check, then the body limit.

    The body is read here, up to ``limit`` bytes, and handed on whole: a declared length over
    the limit is refused before a byte of the body is read, a chunked body as soon as it passes
    the limit, so a 50 MB upload never sits in memory.
    """

    def __init__(
        self, app: ASGIApp, hosts: set[str] | None, limit: int, home: str = "http://127.0.0.1/"
    ) -> None:
        self.app, self.hosts, self.limit, self.home = app, hosts, limit, home

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.hosts is not None:
            given = headers.get("host", "").strip().lower()
            if given not in self.hosts:
                await _refuse(
                    send,
                    403,
                    short(
                        f"refused: the Host header {given!r} is not this server's address "
                        f"(protection against DNS rebinding); open {self.home}"
                    ),
                )
                return
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _refuse(send, 400, "the Content-Length header is not a number")
                return
            if int(declared) > self.limit:
                await _refuse(send, 413, self._too_large())
                return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.limit:
                await _refuse(send, 413, self._too_large())
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return dict(await receive())
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return (
            f"the request body is larger than {self.limit} bytes "
            "(raise [annotate] max_body_bytes if a real answer needs more)"
        )


def text_field(data: dict[str, Any], key: str, required: bool = True) -> str:
    """A string field of a request, or 400 saying which field is missing or of the wrong type."""
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise HTTPException(400, f"the field {key!r} is required")
        return ""
    if not isinstance(value, str):
        raise HTTPException(400, f"the field {key!r} must be a string, not {type(value).__name__}")
    if len(value) > MAX_FIELD:
        raise HTTPException(400, f"the field {key!r} is longer than {MAX_FIELD} characters")
    return value


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}``), or 400 saying why not."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise HTTPException(400, short(f"the request body is not valid JSON: {exc}")) from None
    if not isinstance(data, dict):
        raise HTTPException(
            400, f"the request body must be a JSON object, not {type(data).__name__}"
        )
    return data


def create_app(
    workspace: Workspace,
    token: str | None = None,
    session: str = "default",
    *,
    bind: tuple[str, int] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
) -> Any:
    """The app over ``workspace``. ``bind`` (host, port) turns on the Host check when the host
    is a loopback address (``serve`` always passes it); ``max_body_bytes`` limits bodies."""
    try:
        default_session = check_annotator(session)
    except ValueError as exc:
        raise ConfigError(f"the default session {session!r}: {exc} (see --session)") from None
    leasing = isinstance(workspace, Workspace)  # an extract workspace does not lease cards
    app = FastAPI(title="distil annotate", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Any:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"bad request: {where}: {first.get('msg', 'invalid')}"
        return JSONResponse({"detail": short(message)}, status_code=400)

    def check_token(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("x-distil-token") or ""
        auth = request.headers.get("authorization") or ""
        if auth.lower().startswith("bearer "):
            given = given or auth[7:].strip()
        if not given or not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "a valid token is required (X-Distil-Token header)")

    def name(value: Any) -> str:
        if value is None or value == "":
            return default_session
        try:
            return check_annotator(value)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None

    def client_of(request: Request, data: dict[str, Any]) -> str | None:
        if not leasing:
            return None
        given = request.headers.get("x-distil-client") or data.get("client") or "anonymous"
        if not isinstance(given, str) or not 1 <= len(given) <= 128 or not given.isprintable():
            raise HTTPException(400, "a client id is 1 to 128 printable characters")
        return given

    def guarded(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ReviewRefused as exc:
            raise HTTPException(403, short(str(exc))) from exc
        except AnswerError as exc:
            raise HTTPException(400, short(str(exc))) from exc

    def state(who: str, pass_name: str | None, prefer: str | None, client: str | None) -> Any:
        extra = {"client": client} if client is not None else {}
        return guarded(lambda: workspace.state(who, pass_name or None, prefer or None, **extra))

    auth = [Depends(check_token)]

    @app.get("/", include_in_schema=False)
    def index() -> Any:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{filename}", include_in_schema=False)
    def static(filename: str) -> Any:
        path = STATIC / filename
        if filename not in {"app.js", "app.css"} or not path.is_file():
            raise HTTPException(404, "not found")
        kind = "text/javascript" if filename.endswith(".js") else "text/css"
        return FileResponse(path, media_type=kind)

    @app.get("/api/state", dependencies=auth)
    def get_state(request: Request) -> Any:
        q = dict(request.query_params)
        who = name(q.get("session"))
        pass_name = text_field(q, "pass", required=False)
        prefer = text_field(q, "example", required=False)
        return state(who, pass_name, prefer, client_of(request, q))

    @app.post("/api/answer", dependencies=auth)
    def answer(request: Request, body: dict[str, Any] = Depends(json_object)) -> Any:
        who = name(body.get("session"))
        pass_name = text_field(body, "pass")
        example_id = text_field(body, "example_id")
        verdict = text_field(body, "answer")
        output = body.get("output")
        if output is not None and not isinstance(output, dict):
            raise HTTPException(
                400, "the field 'output' must be an object such as {\"labels\": []}"
            )
        client = client_of(request, body)
        stored = guarded(lambda: workspace.answer(who, pass_name, example_id, verdict, output))
        # The answer is committed: only now may the UI show the next card.
        return {"stored": stored.model_dump(), **state(who, pass_name, None, client)}

    @app.post("/api/undo", dependencies=auth)
    def undo(request: Request, body: dict[str, Any] = Depends(json_object)) -> Any:
        who = name(body.get("session"))
        pass_name = text_field(body, "pass", required=False)
        client = client_of(request, body)
        undone = workspace.undo(who)
        if undone is None:
            return {"undone": None, **state(who, pass_name, None, client)}
        return {
            "undone": undone,
            **state(who, undone["pass"], undone["example_id"], client),
        }

    @app.get("/api/summary", dependencies=auth)
    def summary() -> Any:
        return JSONResponse(workspace.summary())

    # Outermost (added last): refusals happen before any route or body parsing runs.
    app.add_middleware(
        Guard,
        hosts=allowed_hosts(*bind) if bind is not None else None,
        limit=max_body_bytes,
        home=f"http://127.0.0.1:{bind[1]}/" if bind is not None else "http://127.0.0.1/",
    )
    return app


def serve(
    workspace: Workspace,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    session: str = "default",
    max_body_bytes: int = DEFAULT_MAX_BODY,
) -> None:
    """Run the app with uvicorn until interrupted. Off loopback a token is always required."""
    import uvicorn

    if token is None and host not in LOOPBACK:
        token = secrets.token_urlsafe(16)
    app = create_app(
        workspace, token=token, session=session, bind=(host, port), max_body_bytes=max_body_bytes
    )
    shown = host if ":" not in host else f"[{host}]"
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    print(f"distil annotate: {workspace.teacher_source} on '{workspace.dataset}'", flush=True)
    print(f"open {url}", flush=True)
    if token:
        print(f"token: {token} (send it as X-Distil-Token on API calls)", flush=True)
    queue = getattr(workspace, "queue", None)  # after the lines above, which scripts read
    if queue is not None:
        print(f"queue: {queue}", flush=True)
    reviewers = sorted(getattr(workspace, "reviewers", ()) or ())
    if reviewers:
        print(f"reviewers: {', '.join(reviewers)}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    sys.stdout.flush()
