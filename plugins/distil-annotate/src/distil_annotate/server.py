"""The HTTP layer: a FastAPI app over a :class:`distil.annotate.Workspace`, plus its static UI.

API (JSON; every ``/api`` call needs the token when one is set, as ``X-Distil-Token: T`` or
``Authorization: Bearer T``):

* ``GET /api/state?session=NAME&pass=P&example=ID``: the pass, its next card, progress per pass,
  and ``queue``: the strategy (``[annotate] queue``) and whether it is stale (retrain to refresh).
* ``POST /api/answer`` ``{session, pass, example_id, answer, output?}``: stores the answer
  (committed before the reply) and replies with the next state.
* ``POST /api/undo`` ``{session, pass?}``: stores an undo event for the session's latest answer
  and replies with the state showing that card again.
* ``GET /api/summary``: progress per annotator, agreement per pass (Cohen's kappa), conflicts.

This module imports FastAPI at the top: only ``distil annotate`` imports it (the plugin module does
not), so plugin discovery stays cheap. The page itself (``/``) holds no data. Every response carries a Content-Security-Policy that allows
only the app's own script, and the UI writes every text with ``textContent``.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any

from fastapi import Body, Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse

from distil.annotate import AnswerError, Workspace
from distil.annotate.subtasks import ExtractWorkspace

STATIC = Path(__file__).parent / "static"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def open_workspace(config: Path, dataset: str = "train", source: str | None = None) -> Any:
    """The project of ``config`` and a workspace over its store (the caller closes the project)."""
    from distil.project import Project

    project = Project.from_config(config)
    try:
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
            )
        else:
            # The queue strategy comes from the config's [annotate] section.
            settings = project.config.annotate
            workspace = Workspace(
                project.store,
                project.config.task,
                dataset=dataset,
                teacher_source=source,
                host=project.host,
                queue=settings.queue,
                seed=settings.seed,
            )
    except BaseException:
        project.close()
        raise
    return workspace, project


def create_app(workspace: Workspace, token: str | None = None, session: str = "default") -> Any:
    app = FastAPI(title="distil annotate", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    def check_token(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("x-distil-token") or ""
        auth = request.headers.get("authorization") or ""
        if auth.lower().startswith("bearer "):
            given = given or auth[7:].strip()
        if not given or not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "a valid token is required (X-Distil-Token header)")

    def name(value: str | None) -> str:
        value = (value or session).strip()
        if not value or len(value) > 64:
            raise HTTPException(400, "session names are 1 to 64 characters")
        return value

    def guarded(fn: Any) -> Any:
        try:
            return fn()
        except AnswerError as exc:
            raise HTTPException(400, str(exc)) from exc

    auth = [Depends(check_token)]

    @app.get("/", include_in_schema=False)
    def index() -> Any:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{filename}", include_in_schema=False)
    def static(filename: str) -> Any:
        path = STATIC / filename
        if filename not in {"app.js", "app.css"} or not path.is_file():
            raise HTTPException(404)
        kind = "text/javascript" if filename.endswith(".js") else "text/css"
        return FileResponse(path, media_type=kind)

    @app.get("/api/state", dependencies=auth)
    def get_state(request: Request) -> Any:
        q = request.query_params
        return guarded(
            lambda: workspace.state(name(q.get("session")), q.get("pass") or None, q.get("example"))
        )

    @app.post("/api/answer", dependencies=auth)
    def answer(body: dict[str, Any] = Body(...)) -> Any:
        who = name(body.get("session"))
        pass_name = str(body.get("pass") or "")
        example_id = str(body.get("example_id") or "")
        stored = guarded(
            lambda: workspace.answer(
                who, pass_name, example_id, str(body.get("answer")), body.get("output")
            )
        )
        # The answer is committed: only now may the UI show the next card.
        state = workspace.state(who, pass_name)
        return {"stored": stored.model_dump(), **state}

    @app.post("/api/undo", dependencies=auth)
    def undo(body: dict[str, Any] = Body(default={})) -> Any:
        who = name(body.get("session"))
        undone = workspace.undo(who)
        if undone is None:
            return {"undone": None, **workspace.state(who, body.get("pass") or None)}
        return {
            "undone": undone,
            **workspace.state(who, undone["pass"] or None, undone["example_id"]),
        }

    @app.get("/api/summary", dependencies=auth)
    def summary() -> Any:
        return JSONResponse(workspace.summary())

    return app


def serve(
    workspace: Workspace,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    session: str = "default",
) -> None:
    """Run the app with uvicorn until interrupted. Off loopback a token is always required."""
    import uvicorn

    if token is None and host not in LOOPBACK:
        token = secrets.token_urlsafe(16)
    app = create_app(workspace, token=token, session=session)
    shown = host if ":" not in host else f"[{host}]"
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    print(f"distil annotate: {workspace.teacher_source} on '{workspace.dataset}'", flush=True)
    print(f"open {url}", flush=True)
    if token:
        print(f"token: {token} (send it as X-Distil-Token on API calls)", flush=True)
    queue = getattr(workspace, "queue", None)  # after the lines above, which scripts read
    if queue is not None:
        print(f"queue: {queue}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    sys.stdout.flush()
