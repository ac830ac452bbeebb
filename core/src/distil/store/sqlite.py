"""The project store: one SQLite file with examples, predictions, annotations, LLM cache and runs.

What callers may rely on:

* Every write method has committed before it returns, so a process killed right after (even with
  SIGKILL) loses nothing it was told was stored; the teacher loop and the annotation app resume
  from here. The database is in WAL mode, so other processes can read while one writes.
* Records go in and come out as the pydantic records of :mod:`distil.records`, equal to what was
  stored (labels, spans, scores, usage and meta round-trip exactly through JSON).
* A :class:`Store` may be created in one thread and used from another, one thread at a time; a
  lock serialises its operations. Several processes may open the same file (SQLite locks it).
* Example ids are unique within a data set; predictions are keyed by ``(source, data set,
  example id)``, so a gold row and a train row with the same id never share an answer (see the
  comment above :meth:`Store.add_predictions` for calls that do not name the data set).
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

from ..errors import DataError, StoreError
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
    #: The data set whose label run submitted it (None: a job stored before schema version 3).
    dataset: str | None = None

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
    [
        # Predictions keyed by (source, dataset, example_id): a train row and a gold row with
        # the same id never share an answer. An old row goes to the one data set that holds its
        # id (train when none does); a row whose id several data sets hold is dropped, since it
        # cannot be told which text it answered: it is asked again (the LLM cache, keyed by the
        # prompt, answers a re-ask for free), so a cached answer may be lost, a score never wrong.
        """CREATE TABLE predictions_v3 (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL,
            dataset TEXT NOT NULL,
            example_id TEXT NOT NULL,
            output TEXT,
            confidence REAL,
            usage TEXT NOT NULL,
            error TEXT,
            raw TEXT,
            run_id TEXT,
            created_at REAL NOT NULL,
            UNIQUE (source, dataset, example_id)
        )""",
        """INSERT INTO predictions_v3 (seq, source, dataset, example_id, output, confidence,
            usage, error, raw, run_id, created_at)
        SELECT p.seq, p.source,
            COALESCE((SELECT MIN(e.dataset) FROM examples e WHERE e.id = p.example_id), 'train'),
            p.example_id, p.output, p.confidence, p.usage, p.error, p.raw, p.run_id, p.created_at
        FROM predictions p
        WHERE (SELECT COUNT(DISTINCT e.dataset) FROM examples e WHERE e.id = p.example_id) <= 1""",
        "DROP TABLE predictions",
        "ALTER TABLE predictions_v3 RENAME TO predictions",
        "CREATE INDEX predictions_example ON predictions (example_id)",
        # A batch job belongs to the label run of one data set (NULL: submitted before v3).
        "ALTER TABLE batch_jobs ADD COLUMN dataset TEXT",
    ],
    [
        # Who runs a run (pid, host, process start token) so that a run whose process was
        # killed is shown as interrupted, not running forever; and why a failed run failed.
        "ALTER TABLE runs ADD COLUMN pid INTEGER",
        "ALTER TABLE runs ADD COLUMN host TEXT",
        "ALTER TABLE runs ADD COLUMN process TEXT",
        "ALTER TABLE runs ADD COLUMN error TEXT",
    ],
    [
        # The data file each data set was last imported from (Project.import_data): its content
        # hash, with size and mtime as a fast path, and the read options, so a changed file or
        # changed [data] settings re-import the data set.
        """CREATE TABLE data_files (
            dataset TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            options TEXT NOT NULL,
            n INTEGER NOT NULL,
            errors INTEGER NOT NULL,
            quarantine TEXT,
            imported_at REAL NOT NULL
        )""",
    ],
    [
        # The label pass reads a data set's pending examples in pages of insertion order.
        "CREATE INDEX examples_dataset_seq ON examples (dataset, seq)",
    ],
    [
        # What each label run spent per teacher model (the budget key, ``provider/model``),
        # written with the run's answer batches: ``[label] budget`` caps the sum over runs.
        """CREATE TABLE spend (
            run_id TEXT NOT NULL,
            teacher TEXT NOT NULL,
            cost REAL NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (run_id, teacher)
        )""",
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
        if self.path is not None and self.path.is_dir():
            raise StoreError(
                f"{self.path}: is a folder, not a distil store; set [project] store to a file "
                "path such as distil.db"
            )
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        target = str(self.path) if self.path is not None else ":memory:"
        self._lock = threading.RLock()
        #: Runs this Store started and has not finished (see :attr:`open_runs`).
        self._open_runs: list[str] = []
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
            raise StoreError(f"{target}: not a usable distil store ({exc})") from exc

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
            except BaseException as exc:
                conn.execute("ROLLBACK")
                if type(exc) is sqlite3.DatabaseError:
                    raise self._damaged(exc) from exc
                raise
            conn.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                if type(exc) is sqlite3.DatabaseError:
                    raise self._damaged(exc) from exc
                raise

    def _damaged(self, exc: sqlite3.DatabaseError) -> StoreError:
        """SQLite's bare DatabaseError is a corrupted file ("database disk image is malformed")."""
        return StoreError(
            f"{self.path}: the distil store is damaged ({exc}); restore it from a backup, or "
            "move it away to start a new store"
        )

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
    #
    # A prediction is keyed by (source, dataset, example id): ids are unique within a data set
    # only, and a gold file numbering its rows 1..N like the train file must never get the
    # teacher's train answers. The data set is the caller's to name (it knows which examples it
    # labelled); the Prediction record does not carry it, because a teacher or a student answers
    # a text and never knows which file it came from, and plugins keep working unchanged.
    # Without ``dataset`` a write files each prediction under the one data set of the store that
    # holds its id (train when none does) and refuses an id several data sets hold; a read gives
    # every data set and refuses an id answered in several. Both refusals are DataErrors: a
    # caller that does not say which data set it means is told so instead of getting a guess.

    def _datasets_of(self, ids: Sequence[str]) -> dict[str, list[str]]:
        """example id → the data sets holding it (ids no data set holds are absent)."""
        found: dict[str, list[str]] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT id, dataset FROM examples WHERE id IN ({marks}) ORDER BY seq"
            for id_, dataset in self._read(sql, list(chunk)):
                found.setdefault(id_, []).append(dataset)
        return found

    def _infer_datasets(self, preds: Sequence[Prediction]) -> list[str]:
        """The data set of each prediction written without one (see the comment above)."""
        holders = self._datasets_of([p.example_id for p in preds])
        ambiguous = sorted({p.example_id for p in preds if len(holders.get(p.example_id, [])) > 1})
        if ambiguous:
            first = ambiguous[0]
            raise DataError(
                f"prediction for example id '{first}' is ambiguous: data sets "
                f"{', '.join(repr(d) for d in holders[first])} all hold that id "
                f"({len(ambiguous)} such id(s)); pass add_predictions(..., dataset=NAME)"
            )
        return [holders.get(p.example_id, ["train"])[0] for p in preds]

    def add_predictions(
        self,
        preds: Iterable[Prediction],
        dataset: str | None = None,
        *,
        cache: Sequence[tuple[str, dict[str, Any]]] = (),
        run_id: str | None = None,
        spend: tuple[str, dict[str, float]] | None = None,
    ) -> int:
        """Store predictions of ``dataset`` in one transaction; return how many were given.

        A prediction replaces any earlier one of the same ``(source, dataset, example_id)``;
        ``created_at`` records when it was stored. Without ``dataset`` each is filed under the
        data set holding its id (an id several data sets hold is a :class:`DataError`).
        ``cache`` entries (``(key, value)``, as :meth:`cache_put` takes them) are written in the
        same transaction: the label pass stores a batch of answers with one commit. ``run_id``,
        when given, is stored on every prediction instead of its own. ``spend``, ``(account,
        {teacher: dollars})``, records in the same transaction what a run has spent so far
        (see :meth:`record_spend`).
        """
        items = list(preds)
        names = [dataset] * len(items) if dataset is not None else self._infer_datasets(items)
        now = time.time()
        rows = [
            (
                p.source,
                name,
                p.example_id,
                p.output.model_dump_json() if p.output is not None else None,
                p.confidence,
                p.usage.model_dump_json(),
                p.error,
                p.raw,
                run_id if run_id is not None else p.run_id,
                now,
            )
            for p, name in zip(items, names, strict=True)
        ]
        with self._write() as conn:
            if cache:
                self._put_cache(conn, cache)
            if spend is not None:
                self._put_spend(conn, *spend)
            conn.executemany(
                "INSERT INTO predictions (source, dataset, example_id, output, confidence, usage,"
                " error, raw, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (source, dataset, example_id) DO UPDATE SET output = excluded.output,"
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

    @staticmethod
    def _scope(source: str, dataset: str | None) -> tuple[str, list[Any]]:
        if dataset is None:
            return "source = ?", [source]
        return "source = ? AND dataset = ?", [source, dataset]

    def predictions(
        self,
        source: str,
        example_ids: Sequence[str] | None = None,
        *,
        dataset: str | None = None,
    ) -> dict[str, Prediction]:
        """example id → the stored prediction of ``source`` on ``dataset`` (ids that have one).

        Without ``dataset``: every data set's, and an id answered in several is a
        :class:`DataError` (which of its texts was meant cannot be told).
        """
        where, params = self._scope(source, dataset)
        sql = f"SELECT * FROM predictions WHERE {where}"
        if example_ids is None:
            rows = self._read(sql + " ORDER BY seq", params)
        else:
            rows = []
            for chunk in _chunks(list(dict.fromkeys(example_ids))):
                marks = ",".join("?" * len(chunk))
                rows += self._read(sql + f" AND example_id IN ({marks})", [*params, *chunk])
            rows.sort(key=lambda row: row["seq"])
        found: dict[str, Prediction] = {}
        for row in rows:
            if row["example_id"] in found:
                raise DataError(
                    f"'{source}' has predictions for example id '{row['example_id']}' in more "
                    "than one data set; pass predictions(..., dataset=NAME)"
                )
            found[row["example_id"]] = self._prediction(row)
        return found

    def answered_ids(
        self, source: str, *, dataset: str | None = None, ok_only: bool = False
    ) -> set[str]:
        """Ids of the examples of ``dataset`` (any data set when None) ``source`` answered.

        Failed predictions (``error`` set or no output) count unless ``ok_only`` is true, which a
        resumed run uses to re-ask only what failed.
        """
        where, params = self._scope(source, dataset)
        sql = f"SELECT example_id FROM predictions WHERE {where}"
        if ok_only:
            sql += " AND error IS NULL AND output IS NOT NULL"
        return {row[0] for row in self._read(sql, params)}

    def _limit_seq(self, dataset: str, limit: int | None) -> int | None:
        """The ``seq`` of the data set's ``limit``-th example (None: no limit, or fewer rows)."""
        if limit is None:
            return None
        if limit <= 0:
            return -1
        sql = "SELECT seq FROM examples WHERE dataset = ? ORDER BY seq LIMIT 1 OFFSET ?"
        rows = self._read(sql, (dataset, limit - 1))
        return int(rows[0][0]) if rows else None

    def pending_examples(
        self,
        dataset: str,
        source: str,
        *,
        limit: int | None = None,
        page_size: int = 1000,
        failed_only: bool = False,
    ) -> Iterator[list[Example]]:
        """Pages of the examples of ``dataset`` (the first ``limit``) ``source`` has not answered.

        In insertion order, read by an anti-join page by page (never the whole data set); each
        page is read when the previous one has been consumed, so answers stored meanwhile do not
        disturb the paging. ``failed_only``: the examples whose stored answer failed instead.
        """
        bound = self._limit_seq(dataset, limit)
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        join = "JOIN" if failed_only else "LEFT JOIN"
        where = "(p.error IS NOT NULL OR p.output IS NULL)" if failed_only else "p.seq IS NULL"
        sql = (
            f"SELECT e.seq, e.data FROM examples e {join} predictions p"
            " ON p.source = ? AND p.dataset = e.dataset AND p.example_id = e.id"
            f" WHERE e.dataset = ? AND e.seq > ?{' AND e.seq <= ?' if bound is not None else ''}"
            f" AND {where} ORDER BY e.seq LIMIT ?"
        )
        last = -1
        while True:
            params: list[Any] = [source, dataset, last]
            if bound is not None:
                params.append(bound)
            rows = self._read_tuples(sql, [*params, page_size])
            if not rows:
                return
            last = int(rows[-1][0])
            yield [Example.model_validate_json(row[1]) for row in rows]
            if len(rows) < page_size:
                return

    def count_answered(
        self, source: str, dataset: str, *, limit: int | None = None, ok_only: bool = False
    ) -> int:
        """How many of the first ``limit`` examples of ``dataset`` ``source`` answered (one query;
        failures count unless ``ok_only``)."""
        bound = self._limit_seq(dataset, limit)
        sql = (
            "SELECT COUNT(*) FROM examples e JOIN predictions p ON p.source = ?"
            " AND p.dataset = e.dataset AND p.example_id = e.id WHERE e.dataset = ?"
        )
        params: list[Any] = [source, dataset]
        if bound is not None:
            sql += " AND e.seq <= ?"
            params.append(bound)
        if ok_only:
            sql += " AND p.error IS NULL AND p.output IS NOT NULL"
        return int(self._read(sql, params)[0][0])

    def sources(self) -> list[str]:
        """Every source with at least one stored prediction, sorted."""
        return [row[0] for row in self._read("SELECT DISTINCT source FROM predictions ORDER BY 1")]

    def delete_predictions(self, source: str, dataset: str | None = None) -> int:
        """Delete the predictions of ``source`` (on ``dataset`` only, when given); return how many."""
        where, params = self._scope(source, dataset)
        with self._write() as conn:
            cursor = conn.execute(f"DELETE FROM predictions WHERE {where}", params)
            return cursor.rowcount

    def delete_failed_predictions(
        self, source: str, dataset: str, example_ids: Sequence[str]
    ) -> int:
        """Delete the failed predictions (``error`` set or no output) of ``source`` on these
        examples of ``dataset``; answers that succeeded are never touched. Return how many."""
        deleted = 0
        with self._write() as conn:
            for chunk in _chunks(list(dict.fromkeys(example_ids))):
                marks = ",".join("?" * len(chunk))
                deleted += conn.execute(
                    "DELETE FROM predictions WHERE source = ? AND dataset = ?"
                    f" AND example_id IN ({marks}) AND (error IS NOT NULL OR output IS NULL)",
                    [source, dataset, *chunk],
                ).rowcount
        return deleted

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

    def cache_get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """key → cached value for the keys that have one (one query per 500 keys)."""
        return {key: json.loads(value) for key, value in self.cache_get_many_json(keys).items()}

    def cache_get_many_json(self, keys: Sequence[str]) -> dict[str, str]:
        """key → cached value as the stored JSON text (parsed by the caller, once)."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(keys)):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT key, value FROM cache WHERE key IN ({marks})"
            found.update(self._read_tuples(sql, list(chunk)))
        return found

    def _read_tuples(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Like :meth:`_read`, with plain tuples (cheaper than rows for bulk reads)."""
        with self._lock:
            cursor = self._conn.cursor()
            cursor.row_factory = None
            try:
                return cursor.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                if type(exc) is sqlite3.DatabaseError:
                    raise self._damaged(exc) from exc
                raise

    def cache_put(self, key: str, value: dict[str, Any]) -> None:
        """Store (or overwrite) a JSON-able value under ``key``."""
        self.cache_put_many([(key, value)])

    def cache_put_many(self, entries: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Store (or overwrite) several ``(key, value)`` entries in one transaction."""
        if not entries:
            return
        with self._write() as conn:
            self._put_cache(conn, entries)

    @staticmethod
    def _put_cache(conn: sqlite3.Connection, entries: Sequence[tuple[str, dict[str, Any]]]) -> None:
        now = time.time()
        conn.executemany(
            "INSERT OR REPLACE INTO cache (key, value, created_at) VALUES (?, ?, ?)",
            [(key, _dumps(value), now) for key, value in entries],
        )

    def cache_stats(self) -> dict[str, Any]:
        """``{"entries": n, "bytes": total size of the stored values}``."""
        row = self._read("SELECT COUNT(*), COALESCE(SUM(LENGTH(value)), 0) FROM cache")[0]
        return {"entries": int(row[0]), "bytes": int(row[1])}

    def cache_clear(self) -> int:
        """Delete every cache entry; return how many there were."""
        with self._write() as conn:
            return conn.execute("DELETE FROM cache").rowcount

    def cache_delete(self, keys: Iterable[str]) -> int:
        """Delete the entries of these keys (missing ones are ignored); return how many were."""
        with self._write() as conn:
            return sum(
                conn.execute("DELETE FROM cache WHERE key = ?", (key,)).rowcount for key in keys
            )

    # -- spend (budgets across runs) ------------------------------------------------------------

    @staticmethod
    def _put_spend(conn: sqlite3.Connection, account: str, spent: dict[str, float]) -> None:
        conn.executemany(
            "INSERT INTO spend (run_id, teacher, cost, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (run_id, teacher) DO UPDATE SET cost = excluded.cost,"
            " updated_at = excluded.updated_at",
            [(account, teacher, float(cost), time.time()) for teacher, cost in spent.items()],
        )

    def record_spend(self, account: str, spent: dict[str, float]) -> None:
        """Set what the run ``account`` has spent so far on each teacher (``provider/model``):
        a run's total, replaced at each write, so a killed run keeps its last written spend."""
        if spent:
            with self._write() as conn:
                self._put_spend(conn, account, spent)

    def spent(self, teacher: str, *, exclude: str | None = None) -> float:
        """Dollars every run of this store has spent on ``teacher`` (``provider/model``),
        leaving out the run ``exclude``."""
        rows = self._read(
            "SELECT COALESCE(SUM(cost), 0) FROM spend WHERE teacher = ? AND run_id IS NOT ?",
            (teacher, exclude),
        )
        return float(rows[0][0])

    # -- runs ----------------------------------------------------------------------------------

    #: The statuses a run ends with: ``finished``; ``interrupted`` (Ctrl-C, SIGTERM, or its
    #: process vanished); ``failed`` (an error, whose message is the run's ``error``); ``budget``
    #: (stopped before exceeding the label budget).
    RUN_STATUSES = ("running", "finished", "interrupted", "failed", "budget")

    def start_run(self, kind: str, config: dict[str, Any] | None = None) -> str:
        """Record a new run with status ``"running"`` and return its id (12 hex characters).

        The run records this process (pid, host, start token): if the process dies without
        finishing it, listing the runs shows it ``interrupted`` (see :meth:`runs`).
        """
        from ..locking import this_process

        run_id = uuid.uuid4().hex[:12]
        pid, host, process = this_process()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO runs (id, kind, status, config, stats, started_at, pid, host, process)"
                " VALUES (?, ?, 'running', ?, '{}', ?, ?, ?, ?)",
                (run_id, kind, _dumps(config or {}), time.time(), pid, host, process),
            )
        self._open_runs.append(run_id)
        return run_id

    @property
    def open_runs(self) -> list[str]:
        """Ids of the runs this Store started and has not finished yet, oldest first."""
        return list(self._open_runs)

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
        self,
        run_id: str,
        status: str = "finished",
        stats: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Set the run's final status and ``finished_at``, merging ``stats`` like update_run.

        ``error`` says why a run failed or stopped (shown by ``distil runs``).
        """
        with self._write() as conn:
            merged = self._merge_stats(conn, run_id, stats)
            conn.execute(
                "UPDATE runs SET status = ?, stats = ?, finished_at = ?, error = ? WHERE id = ?",
                (status, merged, time.time(), error, run_id),
            )
        if run_id in self._open_runs:
            self._open_runs.remove(run_id)

    def _end_vanished_runs(self) -> None:
        """Mark ``interrupted`` the running runs whose process has ended (killed, crashed).

        They end when their last prediction was stored (when they started, if none was).
        """
        from ..locking import process_gone

        rows = self._read("SELECT id, pid, host, process FROM runs WHERE status = 'running'")
        gone = [
            row["id"]
            for row in rows
            if row["id"] not in self._open_runs
            and process_gone(row["pid"], row["host"], row["process"])
        ]
        for run_id in gone:
            with self._write() as conn:
                conn.execute(
                    "UPDATE runs SET status = 'interrupted', error = ?, finished_at = COALESCE("
                    "(SELECT MAX(created_at) FROM predictions WHERE run_id = runs.id), started_at)"
                    " WHERE id = ? AND status = 'running'",
                    ("its process ended before the run finished (killed?)", run_id),
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
            "pid": row["pid"],
            "host": row["host"],
            "error": row["error"],
        }

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run as a dict (id, kind, status, config, stats, started_at, finished_at, pid,
        host, error), or None. A ``running`` run whose process has ended reads ``interrupted``.
        """
        self._end_vanished_runs()
        rows = self._read("SELECT * FROM runs WHERE id = ?", (run_id,))
        return self._run(rows[0]) if rows else None

    def runs(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every run (of ``kind`` when given), newest first, as :meth:`get_run` gives them."""
        self._end_vanished_runs()
        if kind is None:
            rows = self._read("SELECT * FROM runs ORDER BY seq DESC")
        else:
            rows = self._read("SELECT * FROM runs WHERE kind = ? ORDER BY seq DESC", (kind,))
        return [self._run(row) for row in rows]

    def predictions_by_run(self) -> dict[str, tuple[int, int]]:
        """run id → ``(predictions stored, of which failures)``: what a run wrote, even one
        killed before it could write its stats."""
        sql = (
            "SELECT run_id, COUNT(*), SUM(error IS NOT NULL OR output IS NULL) FROM predictions"
            " WHERE run_id IS NOT NULL GROUP BY run_id"
        )
        return {row[0]: (int(row[1]), int(row[2] or 0)) for row in self._read(sql)}

    # -- provider batch jobs -------------------------------------------------------------------

    def add_batch_job(
        self,
        provider: str,
        job_id: str,
        source: str,
        requests: dict[str, str],
        run_id: str | None = None,
        dataset: str | None = None,
    ) -> BatchJob:
        """Record a submitted job (status ``"submitted"``) with its custom id → example id map.

        ``dataset`` names the data set whose examples the requests ask about.
        """
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO batch_jobs (provider, job_id, source, status, requests, run_id,"
                " created_at, dataset) VALUES (?, ?, ?, 'submitted', ?, ?, ?, ?)",
                (provider, job_id, source, _dumps(requests), run_id, now, dataset),
            )
        return BatchJob(
            provider, job_id, source, "submitted", dict(requests), run_id, now, dataset=dataset
        )

    def finish_batch_job(self, provider: str, job_id: str, status: str) -> None:
        """Set a job's final status (``done``, ``failed``, ``expired``, ``cancelled``)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE batch_jobs SET status = ?, finished_at = ? WHERE provider = ? AND job_id = ?",
                (status, time.time(), provider, job_id),
            )

    def batch_jobs(
        self, source: str | None = None, *, unfinished: bool = False, dataset: str | None = None
    ) -> list[BatchJob]:
        """Stored jobs (of ``source`` when given; only ``"submitted"`` ones if ``unfinished``).

        With ``dataset``: that data set's jobs, and jobs stored before schema version 3 (they do
        not say; their answers are matched to the data set's examples by id).
        """
        sql = "SELECT * FROM batch_jobs"
        clauses, params = [], []
        if source is not None:
            clauses.append("source = ?")
            params.append(source)
        if dataset is not None:
            clauses.append("(dataset = ? OR dataset IS NULL)")
            params.append(dataset)
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
                dataset=row["dataset"],
            )
            for row in self._read(sql + " ORDER BY seq", params)
        ]

    # -- data files ----------------------------------------------------------------------------

    def data_file(self, dataset: str) -> dict[str, Any] | None:
        """What ``dataset`` was last imported from (:meth:`import_file`), as a dict, or None."""
        rows = self._read("SELECT * FROM data_files WHERE dataset = ?", (dataset,))
        if not rows:
            return None
        record = dict(rows[0])
        record["options"] = json.loads(record["options"])
        return record

    def import_file(
        self, dataset: str, examples: Sequence[Example], source: dict[str, Any]
    ) -> tuple[int, int]:
        """Make ``dataset`` exactly ``examples`` (in this order) and record where they came from.

        ``source`` holds the :meth:`data_file` fields but ``dataset`` and ``imported_at``. One
        transaction: a reader sees the old data set or the new one. Predictions and annotations
        are keyed by example id and are not touched, so an id that stays keeps them. Returns
        ``(added, removed)``: ids new to the data set, and ids no longer in it.
        """
        new_ids = {ex.id for ex in examples}
        rows = [(dataset, ex.id, ex.model_dump_json()) for ex in examples]
        with self._write() as conn:
            old = conn.execute("SELECT id FROM examples WHERE dataset = ?", (dataset,))
            old_ids = {row[0] for row in old.fetchall()}
            conn.execute("DELETE FROM examples WHERE dataset = ?", (dataset,))
            conn.executemany("INSERT INTO examples (dataset, id, data) VALUES (?, ?, ?)", rows)
            conn.execute(
                "INSERT OR REPLACE INTO data_files (dataset, path, sha256, size, mtime_ns,"
                " options, n, errors, quarantine, imported_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    dataset,
                    source["path"],
                    source["sha256"],
                    source["size"],
                    source["mtime_ns"],
                    _dumps(source["options"]),
                    source["n"],
                    source["errors"],
                    source.get("quarantine"),
                    time.time(),
                ),
            )
        return len(new_ids - old_ids), len(old_ids - new_ids)

    def touch_data_file(self, dataset: str, size: int, mtime_ns: int) -> None:
        """Record a new size/mtime for a data file whose content hash did not change."""
        with self._write() as conn:
            conn.execute(
                "UPDATE data_files SET size = ?, mtime_ns = ? WHERE dataset = ?",
                (size, mtime_ns, dataset),
            )
