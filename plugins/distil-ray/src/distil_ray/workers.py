"""What runs on the Ray workers: the teacher's batch function and the student's actor.

Both get their inputs as rows of the job's Parquet shards (``id``, ``text``, ``example``) and are
imported by the workers, so they import Ray and cloudpickle lazily like the rest of the plugin.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from distil import Example, PluginHost, Prediction, set_host, student_predictions

from .shards import result_key, write_parquet_rows

#: Results this worker process has logged per fault marker, for the tests' fault injection.
_LOGGED: dict[str, int] = {}


class CollectingCache:
    """A teacher cache that only collects what is put, for the driver to copy into the store.

    Workers cannot read the project's SQLite store (it lives on the driver's disk); finished work
    is recognised by the :class:`~.services.ResultLog` instead, so ``cache_get`` finds nothing.
    """

    def __init__(self) -> None:
        self.entries: list[list[Any]] = []

    def cache_get(self, key: str) -> dict[str, Any] | None:
        return None

    def cache_put(self, key: str, value: dict[str, Any]) -> None:
        self.entries.append([key, value])

    def take(self) -> list[list[Any]]:
        entries, self.entries = self.entries, []
        return entries


_HOST_KEY: tuple[tuple[str, str], ...] | None = None
#: How many times this process loaded a student (each predict actor must load it once).
LOADS = 0


def use_plugins(plugins: list[tuple[str, str]]) -> None:
    """Load the driver's plugins (and only those) in this worker, once per process.

    Prompts and parsing go through plugin hooks: a worker with other plugins installed or
    enabled than the driver would ask other prompts, so it loads exactly the driver's list.
    """
    global _HOST_KEY
    key = tuple((name, module) for name, module in plugins)
    if key == _HOST_KEY:
        return
    set_host(PluginHost(entry_points=False, modules=list(key)))
    _HOST_KEY = key


def _maybe_die(fault: dict[str, Any] | None) -> None:
    """Test-only fault injection: kill this worker once ``exit_after`` results are logged.

    ``marker`` is a file made just before the kill, so the retried task runs normally.
    """
    if not fault or _LOGGED.get(fault["marker"], 0) < int(fault["exit_after"]):
        return
    marker = Path(fault["marker"])
    if marker.exists():
        return
    marker.write_text(str(os.getpid()))
    os._exit(1)


def read_shards(batch: dict[str, Any]) -> dict[str, Any]:
    """The rows of the Parquet shards named in ``batch["path"]`` (input of the stage maps)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(str(path)) for path in batch["path"]]
    return pa.concat_tables(tables).to_pydict() if tables else {"id": [], "text": [], "example": []}


def label_batch(
    batch: dict[str, Any],
    *,
    teacher_blob: bytes,
    task_blob: bytes,
    source: str,
    log: Any,
    plugins: list[tuple[str, str]],
    fault: dict[str, Any] | None = None,
) -> dict[str, list[str]]:
    """Label one batch: skip what the log has, ask the teacher the rest, log each answer at once."""
    import cloudpickle
    import ray

    examples = [Example.model_validate_json(s) for s in batch["example"]]
    keys = [result_key(source, ex) for ex in examples]
    found: dict[str, dict[str, Any]] = ray.get(log.lookup.remote(keys))
    todo = [ex for ex, key in zip(examples, keys, strict=True) if key not in found]
    answers: dict[str, str] = {
        key: Prediction.model_validate(r["prediction"]).model_dump_json()
        for key, r in found.items()
    }
    # The teacher's ledger of this batch rides on its first row (the driver sums them).
    ledgers = [""] * len(keys)
    if todo:
        use_plugins(plugins)
        teacher = cloudpickle.loads(teacher_blob)
        task = cloudpickle.loads(task_blob)
        cache = CollectingCache()
        teacher.cache = cache
        # The result log is this job's durable store: each answer goes to it as it arrives (the
        # local runner batches SQLite writes; here a killed worker must lose no answer).
        teacher.write_rows = 1
        key_of = {ex.id: key for ex, key in zip(examples, keys, strict=True)}

        async def write(preds: list[Prediction]) -> None:
            records: list[dict[str, Any]] = [
                {"key": key_of[p.example_id], "prediction": p.model_dump(mode="json"), "cache": []}
                for p in preds
            ]
            if records:
                records[0]["cache"] = cache.take()
            # Logged before this chunk's next request goes out; awaited, so the other requests
            # of the batch go on meanwhile.
            await log.add.remote(records)
            for p in preds:
                answers[key_of[p.example_id]] = p.model_dump_json()
            if fault:
                _LOGGED[fault["marker"]] = _LOGGED.get(fault["marker"], 0) + len(preds)
                _maybe_die(fault)

        asyncio.run(teacher.alabel(task, todo, on_results=write))
        ledger = getattr(teacher, "ledger", None)
        if ledger is not None:
            ledgers[0] = json.dumps(ledger.to_dict())
    return {"key": keys, "prediction": [answers[k] for k in keys], "ledger": ledgers}


def _load_student(blob: bytes, model_dir: str | None, plugins: list[tuple[str, str]]) -> Any:
    """The student a predict actor runs, loaded once per actor (counted in ``LOADS``).

    ``blob`` is the student's class when the model is on disk (loaded here from ``model_dir``),
    else the fitted student itself (shipped through the object store)."""
    import cloudpickle

    global LOADS
    use_plugins(plugins)
    LOADS += 1
    loaded = cloudpickle.loads(blob)
    return loaded.load(model_dir) if model_dir is not None else loaded


class StudentPredictor:
    """One actor of the predict pool: loads the student once, then predicts batch after batch.

    Each batch's predictions are written as one Parquet shard (whole or not at all) and only its
    path and size travel back to the driver, which merges the shard into the store.
    """

    def __init__(
        self,
        *,
        student_blob: bytes,
        model_dir: str | None,
        source: str,
        out_dir: str,
        plugins: list[tuple[str, str]],
    ) -> None:
        self.student = _load_student(student_blob, model_dir, plugins)
        self.source = source
        self.out_dir = Path(out_dir)
        self.pid = os.getpid()
        self.batches = 0

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        examples = [Example.model_validate_json(s) for s in batch["example"]]
        preds = student_predictions(self.student, examples, self.source)
        keys = [result_key(self.source, ex) for ex in examples]
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:16]
        shard = self.out_dir / f"part-{name}.parquet"
        write_parquet_rows(
            [
                {"key": k, "prediction": p.model_dump_json()}
                for k, p in zip(keys, preds, strict=True)
            ],
            shard,
        )
        self.batches += 1
        return {
            "shard": [str(shard)],
            "n": [len(preds)],
            "pid": [self.pid],
            "loads": [LOADS],
            "batch_of_actor": [self.batches],
        }


# -- a corpus of the user's shards (distil.store.corpus) ---------------------------------------
#
# One input shard per call, and one worker writes its result shard: no actor takes the answers.
# A retried call (its worker died) reopens the partial result shard and goes on from there.


def _shard_counts(counts: Any) -> str:
    return json.dumps(
        {"answered": counts.answered, "failures": counts.failures, "rejected": counts.rejected}
    )


def label_corpus_shard(
    batch: dict[str, Any],
    *,
    teacher_blob: bytes,
    task_blob: bytes,
    source: str,
    plugins: list[tuple[str, str]],
    batch_size: int,
    fault: dict[str, Any] | None = None,
) -> dict[str, list[Any]]:
    """Label the input shards named in ``batch`` (one, as the executor sends them)."""
    import cloudpickle

    from distil import CorpusShard, ResultShard, ShardRows, count_results, shard_done

    out: dict[str, list[Any]] = {"output": [], "counts": [], "ledger": []}
    for path, output in zip(batch["path"], batch["output"], strict=True):
        shard = CorpusShard(Path(path), Path(output))
        ledger = ""
        if shard_done(shard, "label", source):
            counts = count_results(shard.output)
        else:
            use_plugins(plugins)
            teacher = cloudpickle.loads(teacher_blob)
            task = cloudpickle.loads(task_blob)
            cache = CollectingCache()
            teacher.cache = cache
            # the result shard is this job's durable record: each answer is written (and
            # flushed) as it arrives, so a killed worker loses none it received
            teacher.write_rows = 1
            result = ResultShard(shard, "label", source)
            rows = ShardRows(shard, result, batch_size)

            def write(
                preds: list[Prediction], rows: ShardRows = rows, cache: CollectingCache = cache
            ) -> None:
                rows.write(preds, cache.take())
                if fault:
                    _LOGGED[fault["marker"]] = _LOGGED.get(fault["marker"], 0) + len(preds)
                    _maybe_die(fault)

            try:
                asyncio.run(teacher.astream(task, rows.pages(), on_results=write))
                result.finish()
            finally:
                result.close()
            counts = result.counts
            ledger = json.dumps(teacher.ledger.to_dict())
        out["output"].append(str(shard.output))
        out["counts"].append(_shard_counts(counts))
        out["ledger"].append(ledger)
    return out


class CorpusPredictor:
    """One actor of the corpus predict pool: loads the student once, then predicts shard after
    shard, each into its own result shard (resumable like the label shards)."""

    def __init__(
        self,
        *,
        student_blob: bytes,
        model_dir: str | None,
        source: str,
        plugins: list[tuple[str, str]],
        batch_size: int,
    ) -> None:
        self.student = _load_student(student_blob, model_dir, plugins)
        self.source = source
        self.batch_size = batch_size
        self.pid = os.getpid()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        from distil import CorpusShard, ResultShard, ShardRows, count_results, shard_done

        out: dict[str, list[Any]] = {"output": [], "counts": [], "pid": [], "loads": []}
        for path, output in zip(batch["path"], batch["output"], strict=True):
            shard = CorpusShard(Path(path), Path(output))
            if shard_done(shard, "predict", self.source):
                counts = count_results(shard.output)
            else:
                result = ResultShard(shard, "predict", self.source)
                rows = ShardRows(shard, result, self.batch_size)
                try:
                    for page in rows.pages():
                        rows.write(student_predictions(self.student, page, self.source))
                    result.finish()
                finally:
                    result.close()
                counts = result.counts
            out["output"].append(str(shard.output))
            out["counts"].append(_shard_counts(counts))
            out["pid"].append(self.pid)
            out["loads"].append(LOADS)
        return out
