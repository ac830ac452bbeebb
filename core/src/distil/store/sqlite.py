"""The project store: one SQLite file with examples, predictions, annotations, LLM cache and runs.

What callers may rely on:

* Every write method has committed before it returns, so a process killed right after (even with
  SIGKILL) loses nothing it was told was stored; the teacher loop and the annotation app resume
  from here. The database is in WAL mode, so other processes can read while one writes.
* Records go in and come out as the pydantic records of :mod:`distil.records`, equal to what was
  stored (labels, spans, scores, usage and meta round-trip exactly through JSON).
* A :class:`Store` may be created in one thread and used from another, one thread at a time; a
  lock serialises its operations. Several processes may open the same file (SQLite locks it).
* The schema version is ``PRAGMA user_version``; opening an older file migrates it, opening a file
  written by a newer distil is a :class:`~distil.errors.DataError`.

Nothing here takes or logs credentials: the store never sees API keys.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import DataError
from ..records import Annotation, Example, Prediction

__all__ = ["SCHEMA_VERSION", "BatchJob", "Store"]


@dataclass(frozen=True)
class BatchJob:
    """A provider batch job: its id, whose requests it holds (custom id → example id), status.

    ``status`` is ``"submitted"`` until the job's results are stored (``"done"``) or the provider
    reports a final failure (``"failed"``, ``"expired"``, ``"cancelled"``).
    """

    provider: str
    job_id: str
    source: str
    status: str
    requests: dict[str, str]
    run_id: str | None = None
    created_at: float = 0.0
    finished_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.status != "submitted"


# Each entry migrates the schema from version ``index`` to ``index + 1``.
_MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE examples (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            dataset TEXT NOT NULL,
            id TEXT NOT NULL,
            data TEXT NOT NULL,
            UNIQUE (dataset, id)
        )""",
        "CREATE INDEX examples_id ON examples (id)",
        """CREATE TABLE predictions (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL,
            example_id TEXT NOT NULL,
            output TEXT,
            confidence REAL,
            usage TEXT NOT NULL,
            error TEXT,
            raw TEXT,
            run_id TEXT,
            created_at REAL NOT NULL,
            UNIQUE (source, example_id)
        )""",
        """CREATE TABLE annotations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            example_id TEXT NOT NULL,
            annotator TEXT NOT NULL,
            answer TEXT NOT NULL,
            output TEXT,
            pass_name TEXT,
            suggestion_source TEXT,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX annotations_example ON annotations (example_id)",
        "CREATE INDEX annotations_annotator ON annotations (annotator, example_id)",
        """CREATE TABLE cache (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE runs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            config TEXT NOT NULL,
            stats TEXT NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL
        )""",
    ],
    [
        # Provider batch jobs (batch mode): stored as soon as submitted, so a restarted run
        # collects them instead of paying for the same requests again.
        """CREATE TABLE batch_jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            provider TEXT NOT NULL,
            job_id TEXT NOT NULL,
            source TEXT NOT NULL,
            status TEXT NOT NULL,
            requests TEXT NOT NULL,
            run_id TEXT,
            created_at REAL NOT NULL,
            finished_at REAL,
            UNIQUE (provider, job_id)
        )""",
        "CREATE INDEX batch_jobs_source ON batch_jobs (source, status)",
    ],
]
SCHEMA_VERSION = len(_MIGRATIONS)
# SQLite limits the number of bound parameters per statement; id lists are queried in chunks.
_CHUNK = 500


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class Store:
    """One SQLite database per project. Use as a context manager, or call :meth:`close`.

    ``Store(path)`` creates the file and its parent folders when missing (``":memory:"`` gives a
    throw-away store, without WAL).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        target = str(self.path) if self.path is not None else ":memory:"
        self._lock = threading.RLock()
        # isolation_level=None: no implicit transactions; each write opens and commits its own.
        self._conn = sqlite3.connect(
            target, timeout=30.0, check_same_thread=False, isolation_level=None
        )
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise DataError(f"{target}: not a usable distil store ({exc})") from exc

    # -- plumbing ------------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise DataError(
                    f"{self.path}: store schema version {version} is newer than this distil "
                    f"supports ({SCHEMA_VERSION}); upgrade distil to open it"
                )
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step]:
                    conn.execute(statement)
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed when the block ends (rolled back on error)."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    @property
    def schema_version(self) -> int:
        return int(self._read("PRAGMA user_version")[0][0])

    def close(self) -> None:
        """Close the connection (idempotent). Everything written is already committed."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path) if self.path else ':memory:'!r})"

    # -- examples ------------------------------------------------------------------------------

    def add_examples(self, examples: Iterable[Example], dataset: str) -> int:
        """Insert or replace examples of ``dataset`` (keyed by id); return how many were new.

        A replaced example keeps its place in the insertion order.
        """
        rows = [(dataset, ex.id, ex.model_dump_json()) for ex in examples]
        with self._write() as conn:
            before = self._count(conn, dataset)
            conn.executemany(
                "INSERT INTO examples (dataset, id, data) VALUES (?, ?, ?) "
                "ON CONFLICT (dataset, id) DO UPDATE SET data = excluded.data",
                rows,
            )
            return self._count(conn, dataset) - before

    @staticmethod
    def _count(conn: sqlite3.Connection, dataset: str) -> int:
        sql = "SELECT COUNT(*) FROM examples WHERE dataset = ?"
        return int(conn.execute(sql, (dataset,)).fetchone()[0])

    def examples(self, dataset: str, limit: int | None = None) -> list[Example]:
        """The examples of ``dataset`` in insertion order (the first ``limit`` of them)."""
        sql = "SELECT data FROM examples WHERE dataset = ? ORDER BY seq"
        params: list[Any] = [dataset]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [Example.model_validate_json(row[0]) for row in self._read(sql, params)]

    def get_examples(self, ids: Sequence[str], dataset: str | None = None) -> dict[str, Example]:
        """The examples with these ids that exist (missing ids are absent from the result).

        Without ``dataset``, an id stored in several data sets gives the most recently added one.
        """
        found: dict[str, tuple[int, Example]] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT seq, id, data FROM examples WHERE id IN ({marks})"
            params: list[Any] = list(chunk)
            if dataset is not None:
                sql += " AND dataset = ?"
                params.append(dataset)
            for seq, id_, data in self._read(sql, params):
                if id_ not in found or seq > found[id_][0]:
                    found[id_] = (seq, Example.model_validate_json(data))
        return {id_: found[id_][1] for id_ in ids if id_ in found}

    def datasets(self) -> dict[str, int]:
        """Data set name → number of examples, in the order the data sets were first added."""
        sql = "SELECT dataset, COUNT(*) FROM examples GROUP BY dataset ORDER BY MIN(seq)"
        return {row[0]: int(row[1]) for row in self._read(sql)}

    def count_examples(self, dataset: str) -> int:
        with self._lock:
            return self._count(self._conn, dataset)

    # -- predictions ---------------------------------------------------------------------------

    def add_predictions(self, preds: Iterable[Prediction]) -> int:
        """Store predictions in one transaction; return how many were given.

        A prediction replaces any earlier one of the same ``(source, example_id)``; ``created_at``
        records when it was stored.
        """
        now = time.time()
        rows = [
            (
                p.source,
                p.example_id,
                p.output.model_dump_json() if p.output is not None else None,
                p.confidence,
                p.usage.model_dump_json(),
                p.error,
                p.raw,
                p.run_id,
                now,
            )
            for p in preds
        ]
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO predictions (source, example_id, output, confidence, usage, error,"
                " raw, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (source, example_id) DO UPDATE SET output = excluded.output,"
                " confidence = excluded.confidence, usage = excluded.usage,"
                " error = excluded.error, raw = excluded.raw, run_id = excluded.run_id,"
                " created_at = excluded.created_at",
                rows,
            )
        return len(rows)

    @staticmethod
    def _prediction(row: sqlite3.Row) -> Prediction:
        return Prediction.model_validate(
            {
                "example_id": row["example_id"],
                "source": row["source"],
                "output": json.loads(row["output"]) if row["output"] is not None else None,
                "confidence": row["confidence"],
                "usage": json.loads(row["usage"]),
                "error": row["error"],
                "raw": row["raw"],
                "run_id": row["run_id"],
            }
        )

    def predictions(
        self, source: str, example_ids: Sequence[str] | None = None
    ) -> dict[str, Prediction]:
        """example id → the stored prediction of ``source`` (only ids that have one)."""
        sql = "SELECT * FROM predictions WHERE source = ?"
        if example_ids is None:
            rows = self._read(sql + " ORDER BY seq", (source,))
        else:
            rows = []
            for chunk in _chunks(list(dict.fromkeys(example_ids))):
                marks = ",".join("?" * len(chunk))
                rows += self._read(sql + f" AND example_id IN ({marks})", [source, *chunk])
            rows.sort(key=lambda row: row["seq"])
        return {row["example_id"]: self._prediction(row) for row in rows}

    def answered_ids(self, source: str, *, ok_only: bool = False) -> set[str]:
        """Ids of the examples ``source`` has a stored prediction for.

        Failed predictions (``error`` set or no output) count unless ``ok_only`` is true, which a
        resumed run uses to re-ask only what failed.
        """
        sql = "SELECT example_id FROM predictions WHERE source = ?"
        if ok_only:
            sql += " AND error IS NULL AND output IS NOT NULL"
        return {row[0] for row in self._read(sql, (source,))}

    def sources(self) -> list[str]:
        """Every source with at least one stored prediction, sorted."""
        return [row[0] for row in self._read("SELECT DISTINCT source FROM predictions ORDER BY 1")]

    def delete_predictions(self, source: str) -> int:
        """Delete every prediction of ``source``; return how many there were."""
        with self._write() as conn:
            cursor = conn.execute("DELETE FROM predictions WHERE source = ?", (source,))
            return cursor.rowcount

    # -- annotations ---------------------------------------------------------------------------

    def _insert_annotation(self, conn: sqlite3.Connection, a: Annotation) -> int:
        cursor = conn.execute(
            "INSERT INTO annotations (example_id, annotator, answer, output, pass_name,"
            " suggestion_source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                a.example_id,
                a.annotator,
                a.answer,
                a.output.model_dump_json() if a.output is not None else None,
                a.pass_name,
                a.suggestion_source,
                a.created_at if a.created_at is not None else time.time(),
            ),
        )
        return int(cursor.lastrowid or 0)

    def add_annotation(self, a: Annotation) -> int:
        """Append one answer event and return its id (ids grow with event order).

        ``created_at`` is set to now when the annotation has none. Events are never updated or
        deleted: an undo or a correction is a later event.
        """
        with self._write() as conn:
            return self._insert_annotation(conn, a)

    def add_annotations(self, items: Iterable[Annotation]) -> int:
        """Append several events in one transaction; return how many."""
        count = 0
        with self._write() as conn:
            for a in items:
                self._insert_annotation(conn, a)
                count += 1
        return count

    @staticmethod
    def _annotation(row: sqlite3.Row) -> Annotation:
        return Annotation.model_validate(
            {
                "example_id": row["example_id"],
                "annotator": row["annotator"],
                "answer": row["answer"],
                "output": json.loads(row["output"]) if row["output"] is not None else None,
                "pass_name": row["pass_name"],
                "suggestion_source": row["suggestion_source"],
                "created_at": row["created_at"],
            }
        )

    def annotations(
        self, example_ids: Sequence[str] | None = None, annotator: str | None = None
    ) -> list[Annotation]:
        """Answer events in the order they were added; filtered by examples / annotator if given."""
        where = " WHERE annotator = ?" if annotator is not None else ""
        base: list[Any] = [annotator] if annotator is not None else []
        sql = "SELECT * FROM annotations" + where
        if example_ids is None:
            rows = self._read(sql + " ORDER BY id", base)
        else:
            rows = []
            join = " AND " if where else " WHERE "
            for chunk in _chunks(list(dict.fromkeys(example_ids))):
                marks = ",".join("?" * len(chunk))
                rows += self._read(sql + f"{join}example_id IN ({marks})", [*base, *chunk])
            rows.sort(key=lambda row: row["id"])
        return [self._annotation(row) for row in rows]

    def annotations_since(self, after_id: int = 0) -> list[tuple[int, Annotation]]:
        """``(event id, answer)`` for every event with an id above ``after_id``, in event order.

        A reader that remembers the last id it saw catches up with other writers cheaply (the
        annotation app does this before every card).
        """
        rows = self._read("SELECT * FROM annotations WHERE id > ? ORDER BY id", (after_id,))
        return [(int(row["id"]), self._annotation(row)) for row in rows]

    def latest_annotations(self, annotator: str | None = None) -> dict[str, Annotation]:
        """example id → its latest answer event (of ``annotator`` when given), in event order."""
        where = " WHERE annotator = ?" if annotator is not None else ""
        sql = (
            "SELECT * FROM annotations WHERE id IN"
            f" (SELECT MAX(id) FROM annotations{where} GROUP BY example_id) ORDER BY id"
        )
        rows = self._read(sql, [annotator] if annotator is not None else [])
        return {row["example_id"]: self._annotation(row) for row in rows}

    # -- LLM cache -----------------------------------------------------------------------------

    def cache_get(self, key: str) -> dict[str, Any] | None:
        """The cached value for ``key``, or None."""
        rows = self._read("SELECT value FROM cache WHERE key = ?", (key,))
        if not rows:
            return None
        value: dict[str, Any] = json.loads(rows[0][0])
        return value

    def cache_put(self, key: str, value: dict[str, Any]) -> None:
        """Store (or overwrite) a JSON-able value under ``key``."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO cache (key, value, created_at) VALUES (?, ?, ?)",
                (key, _dumps(value), time.time()),
            )

    def cache_stats(self) -> dict[str, Any]:
        """``{"entries": n, "bytes": total size of the stored values}``."""
        row = self._read("SELECT COUNT(*), COALESCE(SUM(LENGTH(value)), 0) FROM cache")[0]
        return {"entries": int(row[0]), "bytes": int(row[1])}

    def cache_clear(self) -> int:
        """Delete every cache entry; return how many there were."""
        with self._write() as conn:
            return conn.execute("DELETE FROM cache").rowcount

    # -- runs ----------------------------------------------------------------------------------

    def start_run(self, kind: str, config: dict[str, Any] | None = None) -> str:
        """Record a new run with status ``"running"`` and return its id (12 hex characters)."""
        run_id = uuid.uuid4().hex[:12]
        with self._write() as conn:
            conn.execute(
                "INSERT INTO runs (id, kind, status, config, stats, started_at)"
                " VALUES (?, ?, 'running', ?, '{}', ?)",
                (run_id, kind, _dumps(config or {}), time.time()),
            )
        return run_id

    def _merge_stats(
        self, conn: sqlite3.Connection, run_id: str, stats: dict[str, Any] | None
    ) -> str:
        row = conn.execute("SELECT stats FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run with id {run_id!r} in {self!r}")
        merged = {**json.loads(row[0]), **(stats or {})}
        return _dumps(merged)

    def update_run(self, run_id: str, stats: dict[str, Any]) -> None:
        """Merge ``stats`` into the run's stats (top-level keys; later values win)."""
        with self._write() as conn:
            merged = self._merge_stats(conn, run_id, stats)
            conn.execute("UPDATE runs SET stats = ? WHERE id = ?", (merged, run_id))

    def finish_run(
        self, run_id: str, status: str = "finished", stats: dict[str, Any] | None = None
    ) -> None:
        """Set the run's final status and ``finished_at``, merging ``stats`` like update_run."""
        with self._write() as conn:
            merged = self._merge_stats(conn, run_id, stats)
            conn.execute(
                "UPDATE runs SET status = ?, stats = ?, finished_at = ? WHERE id = ?",
                (status, merged, time.time(), run_id),
            )

    @staticmethod
    def _run(row: sqlite3.Row) -> dict[str, Any]:
        return {
            "id": row["id"],
            "kind": row["kind"],
            "status": row["status"],
            "config": json.loads(row["config"]),
            "stats": json.loads(row["stats"]),
            "started_at": row["started_at"],
            "finished_at": row["finished_at"],
        }

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run as a dict (id, kind, status, config, stats, started_at, finished_at), or None."""
        rows = self._read("SELECT * FROM runs WHERE id = ?", (run_id,))
        return self._run(rows[0]) if rows else None

    def runs(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every run (of ``kind`` when given), newest first, as :meth:`get_run` gives them."""
        if kind is None:
            rows = self._read("SELECT * FROM runs ORDER BY seq DESC")
        else:
            rows = self._read("SELECT * FROM runs WHERE kind = ? ORDER BY seq DESC", (kind,))
        return [self._run(row) for row in rows]

    # -- provider batch jobs -------------------------------------------------------------------

    def add_batch_job(
        self,
        provider: str,
        job_id: str,
        source: str,
        requests: dict[str, str],
        run_id: str | None = None,
    ) -> BatchJob:
        """Record a submitted job (status ``"submitted"``) with its custom id → example id map."""
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO batch_jobs (provider, job_id, source, status, requests, run_id,"
                " created_at) VALUES (?, ?, ?, 'submitted', ?, ?, ?)",
                (provider, job_id, source, _dumps(requests), run_id, now),
            )
        return BatchJob(provider, job_id, source, "submitted", dict(requests), run_id, now)

    def finish_batch_job(self, provider: str, job_id: str, status: str) -> None:
        """Set a job's final status (``done``, ``failed``, ``expired``, ``cancelled``)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE batch_jobs SET status = ?, finished_at = ? WHERE provider = ? AND job_id = ?",
                (status, time.time(), provider, job_id),
            )

    def batch_jobs(self, source: str | None = None, *, unfinished: bool = False) -> list[BatchJob]:
        """Stored jobs (of ``source`` when given; only ``"submitted"`` ones if ``unfinished``)."""
        sql = "SELECT * FROM batch_jobs"
        clauses, params = [], []
        if source is not None:
            clauses.append("source = ?")
            params.append(source)
        if unfinished:
            clauses.append("status = 'submitted'")
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return [
            BatchJob(
                provider=row["provider"],
                job_id=row["job_id"],
                source=row["source"],
                status=row["status"],
                requests=json.loads(row["requests"]),
                run_id=row["run_id"],
                created_at=row["created_at"],
                finished_at=row["finished_at"],
            )
            for row in self._read(sql + " ORDER BY seq", params)
        ]
