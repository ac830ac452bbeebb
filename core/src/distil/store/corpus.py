"""A corpus: a folder of the user's JSONL or Parquet shards, labelled or predicted shard by shard.

A corpus is read where it lies, never imported into the store first: each shard is read in
batches (memory holds a batch, not the corpus) and its results are written to a shard of its own
in an output folder that mirrors the input (``corpus/2024/part-7.parquet`` gives
``out/2024/part-7.jsonl``). Input rows are the shared schema (``id``, ``text``, and optionally
``labels``, ``spans``, ``meta``; other keys go into ``meta``, as :func:`~.jsonl.read_jsonl`
does), in JSONL or in Parquet columns of those names.

A result shard is JSONL. Its first line says whose answers it holds; then one line per input row::

    {"distil": "corpus-results", "version": 1, "stage": "label", "source": "...", "input": "..."}
    {"key": "<sha256(id, text)[:32]>", "example": {...}, "prediction": {...}, "cache": [[k, v]]}
    {"key": "line:17", "rejected": {"path": "...", "line": 17, "reason": "...", "raw": "..."}}

``cache`` carries the teacher's content-addressed LLM cache entries (on the first line of each
batch), so a merge into a store fills its cache as a local run would. A row that does not load is
kept as a ``rejected`` line naming its file and line (its row number in Parquet), and the job
goes on.

One worker writes a shard, so no single process takes every answer. It writes to
``NAME.jsonl.partial``, appending and flushing each batch, and renames it to ``NAME.jsonl``
when the shard is done. A worker that dies leaves the partial file; the next attempt reads the
keys it holds, cuts off a line the kill left half-written, and goes on from there. So a shard
is resumable line by line, and a finished shard is skipped whole.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import ConfigError, DataError
from ..records import Example, Prediction
from .jsonl import LineError, _example_from_row, _validation_reason, iter_jsonl_dicts

if TYPE_CHECKING:
    from .sqlite import Store

#: The input shard formats a corpus may hold.
CORPUS_SUFFIXES = (".jsonl", ".parquet")
HEADER = "corpus-results"
VERSION = 1


@dataclass(frozen=True)
class CorpusShard:
    """One input shard and where its results go."""

    path: Path
    output: Path

    @property
    def partial(self) -> Path:
        return self.output.with_name(self.output.name + ".partial")


def corpus_shards(corpus: str | Path, output: str | Path) -> list[CorpusShard]:
    """The ``*.jsonl`` and ``*.parquet`` files under ``corpus`` (sorted), each with its output.

    Raises :class:`~distil.errors.DataError` when ``corpus`` is not a folder or holds no shard,
    and :class:`~distil.errors.ConfigError` when the output folder is inside the corpus (its
    results would be read as input by the next run).
    """
    corpus, output = Path(corpus), Path(output)
    if not corpus.is_dir():
        raise DataError(f"{corpus}: not a folder (a corpus is a folder of JSONL or Parquet shards)")
    out = output.resolve()
    if out == corpus.resolve() or corpus.resolve() in out.parents:
        raise ConfigError(
            f"{output}: the output folder is inside the corpus {corpus}; choose one outside it"
        )
    paths = sorted(
        p
        for p in corpus.rglob("*")
        if p.is_file() and p.suffix in CORPUS_SUFFIXES and not p.name.startswith(".")
    )
    if not paths:
        raise DataError(f"{corpus}: no *.jsonl or *.parquet shard in this folder")
    return [CorpusShard(p, output / p.relative_to(corpus).with_suffix(".jsonl")) for p in paths]


def shard_rows(path: Path) -> int:
    """About how many rows a shard has, cheaply, for a progress total: Parquet's metadata, or a
    JSONL file's non-blank lines."""
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception:
            return 0
    rows = 0
    with path.open("rb") as fh:
        for line in fh:
            rows += bool(line.strip())
    return rows


def example_key(example: Example) -> str:
    """A result's key: the example's id and a hash of its text (a reused id with a new text
    is another example)."""
    blob = "\0".join((example.id, example.text)).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:32]


def _row(path: Path, line: int, row: dict[str, Any], raw: Any) -> Example | LineError:
    try:
        return _example_from_row(row)
    except ValidationError as exc:
        reason = _validation_reason(exc)
    except ValueError as exc:
        reason = str(exc)
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)
    return LineError(path, line, reason, text)


Row = tuple[int, Example | LineError]


def read_shard(path: str | Path, batch_size: int = 1000) -> Iterator[list[Row]]:
    """The rows of one shard, ``batch_size`` at a time, as ``(line, row)``: the row an Example,
    or a LineError naming the file and the line of a row that does not load. In Parquet the
    line is the 1-based row number."""
    path = Path(path)
    batch: list[Row] = []
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError(
                f"{path}: reading Parquet needs pyarrow (pip install pyarrow)"
            ) from None
        try:
            parquet = pq.ParquetFile(path)
        except Exception as exc:
            raise DataError(f"{path}: not a Parquet file ({exc})") from None
        line = 0
        for record_batch in parquet.iter_batches(batch_size=batch_size):
            rows = [
                {k: v for k, v in row.items() if v is not None} for row in record_batch.to_pylist()
            ]
            for row in rows:
                line += 1
                batch.append((line, _row(path, line, row, row)))
            yield batch
            batch = []
        return
    for line_no, item in iter_jsonl_dicts(path):
        batch.append(
            (line_no, item if isinstance(item, LineError) else _row(path, line_no, item, item))
        )
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def iter_results(path: str | Path) -> Iterator[dict[str, Any]]:
    """The result records of a result shard (partial or done): not the header, not a line cut
    short by a kill."""
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                return
            record = json.loads(line)
            if record.get("distil") != HEADER:
                yield record


def read_header(path: Path) -> dict[str, Any] | None:
    """A result shard's header line, or None for a file that has none (yet)."""
    try:
        with path.open(encoding="utf-8") as fh:
            first = fh.readline()
    except FileNotFoundError:
        return None
    if not first.endswith("\n"):
        return None
    try:
        header = json.loads(first)
    except json.JSONDecodeError:
        return None
    return header if isinstance(header, dict) and header.get("distil") == HEADER else None


def check_owner(path: Path, stage: str, source: str) -> None:
    """Refuse a result shard holding another stage's or another source's answers."""
    header = read_header(path)
    if header is None:
        return
    if (header.get("stage"), header.get("source")) != (stage, source):
        raise ConfigError(
            f"{path} holds the {header.get('stage')} results of {header.get('source')}, not of "
            f"{source}: write to another output folder, or remove it to start again"
        )


def shard_done(shard: CorpusShard, stage: str, source: str) -> bool:
    """Whether this shard's results are complete (and really this source's)."""
    if not shard.output.exists():
        return False
    check_owner(shard.output, stage, source)
    return True


class ResultShard:
    """The results of one input shard while they are written (see the module docstring).

    Opening it reads what an earlier attempt left in the partial file (``done`` holds those
    keys) and cuts off a half-written last line, so appends go on from a clean end.
    """

    def __init__(self, shard: CorpusShard, stage: str, source: str) -> None:
        self.shard = shard
        self.path = shard.partial
        check_owner(self.path, stage, source)
        self.done: set[str] = set()
        #: What the shard holds so far, an earlier attempt's lines included.
        self.counts = ShardCounts()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._repair()
            for record in iter_results(self.path):
                self.done.add(record["key"])
                self.counts.count(record)
        fresh = read_header(self.path) is None
        self._fh: IO[str] = self.path.open("a" if not fresh else "w", encoding="utf-8")
        if fresh:
            header = {
                "distil": HEADER,
                "version": VERSION,
                "stage": stage,
                "source": source,
                "input": str(shard.path),
            }
            self._fh.write(json.dumps(header, ensure_ascii=False) + "\n")
            self._fh.flush()

    def _repair(self) -> None:
        """Cut the file back to its last complete line (a kill can leave half a line)."""
        with self.path.open("rb+") as fh:
            data = fh.read()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                fh.truncate(end)

    def append(self, records: Iterable[dict[str, Any]]) -> int:
        """Append the records not written yet; flushed to the OS before this returns."""
        return self.append_lines(
            (r["key"], json.dumps(r, ensure_ascii=False, separators=(",", ":")), _outcome(r))
            for r in records
        )

    def append_lines(self, lines: Iterable[tuple[str, str, str]]) -> int:
        """:meth:`append` for lines already serialised: ``(key, JSON line, outcome)``, the outcome
        ``answered``, ``failed`` or ``rejected``."""
        n = 0
        for key, line, outcome in lines:
            if key in self.done:
                continue
            self._fh.write(line + "\n")
            self.done.add(key)
            self.counts.add(outcome)
            n += 1
        if n:
            self._fh.flush()
        return n

    def finish(self) -> Path:
        """Make the shard durable and mark it done (rename to its final name)."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self.path.replace(self.shard.output)
        return self.shard.output

    def close(self) -> None:
        """Stop writing without marking the shard done (an interrupted job)."""
        if not self._fh.closed:
            self._fh.flush()
            self._fh.close()


def rejected_record(error: LineError) -> dict[str, Any]:
    return {
        "key": f"line:{error.line}",
        "rejected": {
            "path": str(error.path),
            "line": error.line,
            "reason": error.reason,
            "raw": error.raw,
        },
    }


def result_lines(
    examples: dict[str, tuple[Example, str]],
    predictions: Iterable[Prediction],
    cache: list[Any] | None = None,
) -> list[tuple[str, str, str]]:
    """Result lines of ``predictions`` as :meth:`ResultShard.append_lines` takes them;
    ``examples`` maps an example id to the example and its key; ``cache`` goes on the first.

    Each line is put together from pydantic's own JSON (no dict in between): this is the hot
    path of a corpus job.
    """
    lines: list[tuple[str, str, str]] = []
    entries = json.dumps([list(e) for e in cache], ensure_ascii=False) if cache else "[]"
    for pred in predictions:
        ex, key = examples[pred.example_id]
        line = (
            f'{{"key":"{key}","example":{ex.model_dump_json(exclude_none=True)},'
            f'"prediction":{pred.model_dump_json()},"cache":{entries}}}'
        )
        lines.append((key, line, "answered" if pred.ok else "failed"))
        entries = "[]"
    return lines


def _outcome(record: dict[str, Any]) -> str:
    if "rejected" in record:
        return "rejected"
    pred = record.get("prediction") or {}
    return "failed" if pred.get("error") is not None or pred.get("output") is None else "answered"


@dataclass
class ShardCounts:
    """What one result shard holds: answers (failed ones among them), rejected rows."""

    answered: int = 0
    failures: int = 0
    rejected: int = 0

    def add(self, outcome: str) -> None:
        if outcome == "rejected":
            self.rejected += 1
            return
        self.answered += 1
        self.failures += outcome == "failed"

    def count(self, record: dict[str, Any]) -> None:
        self.add(_outcome(record))


def count_results(path: Path) -> ShardCounts:
    """Count a finished result shard's lines (for one a worker did not write in this run)."""
    counts = ShardCounts()
    for record in iter_results(path):
        counts.count(record)
    return counts


def merge_corpus_results(
    path: Path, store: Store, dataset: str, *, run_id: str | None = None, chunk: int = 1000
) -> int:
    """Copy a result shard into ``store``: its examples into ``dataset``, their predictions and
    the LLM cache entries. Idempotent (examples and predictions are keyed by id). Returns how
    many predictions it merged."""
    examples: list[Example] = []
    preds: list[Prediction] = []
    cache: list[tuple[str, dict[str, Any]]] = []
    merged = 0

    def flush() -> int:
        if examples:
            store.add_examples(examples, dataset)
        n = store.add_predictions(preds, dataset, cache=cache) if preds else 0
        examples.clear()
        preds.clear()
        cache.clear()
        return int(n)

    for record in iter_results(path):
        if "rejected" in record:
            continue
        examples.append(Example.model_validate(record["example"]))
        pred = Prediction.model_validate(record["prediction"])
        if run_id is not None and pred.run_id is None:
            pred = pred.model_copy(update={"run_id": run_id})
        preds.append(pred)
        cache += [(k, v) for k, v in record.get("cache") or []]
        if len(preds) >= chunk:
            merged += flush()
    merged += flush()
    return merged


@dataclass
class CorpusResult:
    """What one run over a corpus (a folder of shards) did; see :mod:`distil.store.corpus`.

    ``shards_done_before`` were complete from an earlier run and skipped whole; ``answered``,
    ``failures`` (answers that failed) and ``rejected`` (rows that did not load) count this
    run's lines; ``merged`` is how many predictions went into the store's ``dataset``.
    """

    stage: str
    source: str
    corpus: str
    output: str
    shards: int
    shards_done_before: int = 0
    answered: int = 0
    failures: int = 0
    rejected: int = 0
    dataset: str | None = None
    merged: int = 0
    seconds: float = 0.0
    ledger: dict[str, Any] | None = None

    @property
    def docs_per_s(self) -> float:
        return self.answered / self.seconds if self.seconds > 0 else 0.0

    def add(self, counts: ShardCounts) -> None:
        """Count a shard this run finished into the run's figures."""
        self.answered += counts.answered
        self.failures += counts.failures
        self.rejected += counts.rejected

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "docs_per_s": self.docs_per_s}


class ShardRows:
    """The rows of one input shard still to do, for a stage loop to pull page by page.

    Rows that do not load, and a second row with an id this shard already had, are written to
    the result shard as ``rejected`` lines at once; rows an earlier attempt answered are
    skipped. ``live`` holds the examples handed out and not yet answered, by id.
    """

    def __init__(self, shard: CorpusShard, out: ResultShard, batch_size: int) -> None:
        self.shard, self.out, self.batch_size = shard, out, batch_size
        self.live: dict[str, tuple[Example, str]] = {}
        self.first_line: dict[str, int] = {}

    def pages(self) -> Iterator[list[Example]]:
        for batch in read_shard(self.shard.path, self.batch_size):
            page: list[Example] = []
            rejected: list[LineError] = []
            for line, row in batch:
                if isinstance(row, LineError):
                    rejected.append(row)
                    continue
                first = self.first_line.setdefault(row.id, line)
                if first != line:
                    reason = f"duplicate id {row.id!r} in this shard (first seen on row {first})"
                    rejected.append(LineError(self.shard.path, line, reason, row.text))
                else:
                    key = example_key(row)
                    if key not in self.out.done:
                        page.append(row)
                        self.live[row.id] = (row, key)
            self.out.append(rejected_record(e) for e in rejected)
            if page:
                yield page

    def write(self, preds: list[Prediction], cache: list[Any] | None = None) -> None:
        examples = {p.example_id: self.live.pop(p.example_id) for p in preds}
        self.out.append_lines(result_lines(examples, preds, cache))


def _merged_marker(shard: CorpusShard, store: Store, dataset: str) -> Path:
    where = f"{store.path.resolve() if store.path is not None else ':memory:'}\0{dataset}"
    digest = hashlib.sha256(where.encode("utf-8")).hexdigest()[:12]
    return shard.output.with_name(f"{shard.output.name}.merged-{digest}")


def merge_shard(shard: CorpusShard, store: Store, dataset: str, run_id: str | None = None) -> int:
    """Merge a finished result shard into the store's ``dataset``, once.

    A marker file beside the shard (named for the store and the data set) records the merge; it
    is written after the merge, so a kill in between merges the shard again, which stores
    nothing twice. A marker whose store lost the shard's examples (a store made again) does not
    count. Returns how many predictions were merged.
    """
    marker = _merged_marker(shard, store, dataset)
    if marker.exists():
        first = next((r for r in iter_results(shard.output) if "example" in r), None)
        if first is None or store.get_examples([first["example"]["id"]], dataset=dataset):
            return 0
    merged = merge_corpus_results(shard.output, store, dataset, run_id=run_id)
    marker.write_text(f"merged into '{dataset}' of {store.path}\n", encoding="utf-8")
    return merged


def finish_shard(
    out: ResultShard, store: Store, dataset: str | None, run_id: str | None, result: CorpusResult
) -> None:
    """Mark a shard done, count it, and merge it into the store's ``dataset`` when given."""
    out.finish()
    result.add(out.counts)
    if dataset is not None:
        result.merged += merge_shard(out.shard, store, dataset, run_id)


def start_corpus(
    stage: str,
    source: str,
    corpus: str | Path,
    output: str | Path,
    store: Store,
    dataset: str | None = None,
    run_id: str | None = None,
) -> tuple[CorpusResult, list[CorpusShard]]:
    """The start of a corpus job, for any executor: its result so far, and the shards left.

    A shard whose result is complete (and ``source``'s, else :class:`ConfigError`) is counted
    in ``shards_done_before`` and not done again; with ``dataset`` it is merged now, for a run
    killed before its merge (:func:`merge_shard` does each shard once)."""
    shards = corpus_shards(corpus, output)
    result = CorpusResult(stage, source, str(corpus), str(output), len(shards))
    result.dataset = dataset
    todo = []
    for shard in shards:
        if shard_done(shard, stage, source):
            result.shards_done_before += 1
            if dataset is not None:
                result.merged += merge_shard(shard, store, dataset, run_id)
        else:
            todo.append(shard)
    return result, todo
