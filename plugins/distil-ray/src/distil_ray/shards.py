"""Shards on disk: the input a job reads, the results its workers write, and the merge into the store.

A label job's results are JSONL shards, one line per answered example::

    {"key": "<sha256(source, id, text)[:32]>", "prediction": {...}, "cache": [[key, completion]]}

The key names the answer by who gave it (the teacher's source, which hashes its prompt) and what
it answered (the example's id and text), so a restarted job recognises finished work even when
an id is reused for a new text. ``cache`` carries the teacher's content-addressed cache entries,
which the driver copies into the store's LLM cache at the merge, so a later local run reuses
them. A line cut short by a kill is skipped (its example is asked again: it was never stored).

Nothing here imports Ray; it is plain files, tested without a cluster.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distil import Example, Prediction

if TYPE_CHECKING:
    from distil import Store

logger = logging.getLogger("distil_ray")


def result_key(source: str, example: Example) -> str:
    """The key of ``source``'s answer to ``example``: its id and a hash of its text."""
    blob = "\0".join((source, example.id, example.text)).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:32]


def job_key(source: str) -> str:
    """A folder name for one source's job (short, filesystem-safe, stable across restarts)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def write_input_shards(
    pages: Iterable[Sequence[Example]], folder: Path, rows_per_shard: int
) -> Path:
    """Write the examples of ``pages`` as Parquet shards of ``rows_per_shard`` rows; return the
    folder. Pages are read one at a time (the store's pending pages): memory holds a shard.

    Columns: ``id``, ``text`` and ``example`` (the whole record as JSON, so meta survives).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    chunk: list[Example] = []
    n = 0

    def flush() -> None:
        nonlocal chunk, n
        table = pa.table(
            {
                "id": [ex.id for ex in chunk],
                "text": [ex.text for ex in chunk],
                "example": [ex.model_dump_json() for ex in chunk],
            }
        )
        pq.write_table(table, folder / f"part-{n:05d}.parquet")
        chunk, n = [], n + 1

    for page in pages:
        for ex in page:
            chunk.append(ex)
            if len(chunk) >= rows_per_shard:
                flush()
    if chunk:
        flush()
    return folder


def iter_result_lines(folder: Path) -> Iterator[dict[str, Any]]:
    """Every complete result record in ``folder``'s ``*.jsonl`` shards, in file order."""
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.endswith("\n"):
                    logger.warning(
                        "%s:%d: a result cut short by a kill; it is asked again", path, lineno
                    )
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    logger.warning("%s:%d: not a JSON result line; skipped", path, lineno)


def merge_results(
    folder: Path,
    store: Store,
    source: str,
    run_id: str | None = None,
    chunk: int = 1000,
    *,
    dataset: str | None = None,
) -> int:
    """Copy ``source``'s results on ``dataset`` (and their cache entries) into the store.

    Idempotent: the store keeps one prediction per ``(source, dataset, example_id)``, so merging the same
    shards twice (a driver killed during the merge) stores nothing twice. Returns the number of
    result records merged.
    """
    if not folder.is_dir():
        return 0
    seen: set[str] = set()
    batch: list[Prediction] = []
    merged = 0
    for record in iter_result_lines(folder):
        if record["key"] in seen:
            continue
        seen.add(record["key"])
        pred = Prediction.model_validate(record["prediction"])
        if pred.source != source:
            continue
        for key, value in record.get("cache") or []:
            store.cache_put(key, value)
        if run_id is not None and pred.run_id is None:
            pred = pred.model_copy(update={"run_id": run_id})
        batch.append(pred)
        if len(batch) >= chunk:
            merged += store.add_predictions(batch, dataset)
            batch = []
    if batch:
        merged += store.add_predictions(batch, dataset)
    return merged


def write_parquet_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """One Parquet shard of prediction rows (``key``, ``prediction`` as JSON)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.Table.from_pylist(rows), tmp)
    tmp.replace(path)  # a shard is there whole or not at all


def read_prediction_shards(path: Path) -> Iterator[Prediction]:
    """The predictions in one Parquet shard, or in every shard of a folder (a predict job's)."""
    import pyarrow.parquet as pq

    for shard in sorted(path.glob("*.parquet")) if path.is_dir() else [path]:
        for row in pq.read_table(shard).to_pylist():
            yield Prediction.model_validate_json(row["prediction"])
