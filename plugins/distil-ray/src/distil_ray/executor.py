"""``ray.v1``: the label and predict stages on Ray Data, for corpora that outgrow one machine.

The driver (the process running ``distil``) owns the SQLite store; the workers never touch it. A
job goes like this (docs/scale.md has the picture):

1. merge into the store what a killed earlier job of the same source left in its result shards;
2. write the examples still pending as Parquet shards, and read them with ``ray.data``;
3. label: ``map_batches`` tasks, each running the teacher's own async loop on its batch, with
   the provider's rate limit held by one :class:`~.services.SharedBudget` actor for the whole
   cluster and every answer logged by the :class:`~.services.ResultLog` actor before the next
   request; predict: an actor pool where each actor loads the student once;
4. stream the answers back and commit them to the store as they come, then merge the shards
   (and the teacher's cache entries) and remove them.

Ray is imported when a job starts, never when the plugin loads.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import distil
from distil import ConfigError, DistilError, Prediction, Student, Task, Teacher, Usage

from .services import RemoteLimiter, ResultLog, SharedBudget
from .shards import job_key, merge_results, read_prediction_shards, write_input_shards
from .workers import (
    CorpusPredictor,
    StudentPredictor,
    label_batch,
    label_corpus_shard,
    read_shards,
)

if TYPE_CHECKING:
    from distil import Store

Progress = Callable[[int], None]


def loaded_plugins(teacher: Any = None) -> list[tuple[str, str]]:
    """The driver's loaded plugins as ``(name, module)``, for the workers to load the same."""
    host = getattr(teacher, "host", None) or distil.get_host()
    return [
        (name, info.module)
        for name, info in host.plugins.items()
        if info.status == "loaded" and name != "distil"
    ]


def _distil_cause(exc: BaseException) -> DistilError | None:
    """The distil error (a permanent provider error, say) inside a Ray task failure, if any."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, DistilError):
            return e
        todo += [e.__cause__, e.__context__, getattr(e, "cause", None)]
    return None


def _raise_distil_cause(exc: BaseException) -> None:
    """Raise the distil error inside a Ray task failure in its place (nothing if none)."""
    cause = _distil_cause(exc)
    if cause is not None:
        raise cause from None


class _Tally:
    """A label job's running totals (nothing holds its predictions)."""

    def __init__(self) -> None:
        self.labelled = 0
        self.failures = 0
        self.usage = Usage(attempts=0, cached=True)
        self.ledger: dict[str, Any] = {}

    def add(self, teacher: Teacher, preds: list[Prediction]) -> None:
        self.labelled += len(preds)
        self.failures += sum(1 for p in preds if not p.ok)
        self.usage = sum((p.usage for p in preds), self.usage)
        self.ledger = distil.sum_ledgers(self.ledger, RayExecutor._ledger(teacher, preds))


class RayExecutor(distil.Executor):
    """The ``ray.v1`` executor; see :func:`distil_ray.plugin.make_ray_executor` for the keys."""

    name = "ray"

    def __init__(
        self,
        *,
        address: str | None = None,
        num_cpus: int | None = None,
        object_store_memory: int | None = None,
        label_batch_size: int = 16,
        label_tasks: int = 2,
        label_cpus: float = 0.5,
        predict_batch_size: int = 1024,
        predict_actors: int = 2,
        predict_cpus: float = 1.0,
        max_retries: int | None = None,
        shards_path: str | None = None,
    ) -> None:
        for key, value in (
            ("label_batch_size", label_batch_size),
            ("label_tasks", label_tasks),
            ("predict_batch_size", predict_batch_size),
            ("predict_actors", predict_actors),
        ):
            if value < 1:
                raise ConfigError(f"executor.{key} must be at least 1, got {value}")
        for key, cpus in (("label_cpus", label_cpus), ("predict_cpus", predict_cpus)):
            if cpus <= 0:
                raise ConfigError(f"executor.{key} must be positive, got {cpus}")
        if max_retries is not None and max_retries < 0:
            raise ConfigError(f"executor.max_retries must not be negative, got {max_retries}")
        self.address = address
        self.num_cpus = num_cpus
        self.object_store_memory = object_store_memory
        self.label_batch_size = label_batch_size
        self.label_tasks = label_tasks
        self.label_cpus = label_cpus
        self.predict_batch_size = predict_batch_size
        self.predict_actors = predict_actors
        self.predict_cpus = predict_cpus
        self.max_retries = max_retries
        self.shards_path = shards_path
        #: Test-only fault injection passed to the label workers (see ``workers._maybe_die``).
        self.fault: dict[str, Any] | None = None
        #: What the latest job did beyond its result (batches, actor pids): for tests, benchmarks.
        self.last_job: dict[str, Any] = {}
        self._ledgers: dict[str, Any] = {}
        #: The shared rate limit's counters of the latest label job (granted, waited_s).
        self.budget_stats: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r})"

    # -- plumbing -----------------------------------------------------------------------------
    def ray(self) -> Any:
        """The ``ray`` module, connected: joins ``address``, or starts a local Ray once."""
        import ray

        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"address": self.address, "include_dashboard": False}
            if self.address is None:
                kwargs.update(num_cpus=self.num_cpus, object_store_memory=self.object_store_memory)
            ray.init(**kwargs)
        return ray

    def job_dir(self, store: Store, stage: str, source: str) -> Path:
        """Where one source's shards live; the same folder after a restart, so work resumes."""
        if self.shards_path:
            base = Path(self.shards_path)
        elif store.path is not None:
            base = store.path.parent / "ray-shards"
        else:
            base = Path(tempfile.gettempdir()) / "distil-ray-shards"
        return base / stage / job_key(source)

    @staticmethod
    def _rows_per_shard(n: int, batch_size: int, workers: int) -> int:
        """Rows per input shard: at least a batch, and enough shards to keep every worker busy.

        A shard is read as one block, and a block goes to one task: with fewer shards than
        workers some would sit idle. Capped so no single retried task redoes too much.
        """
        return max(batch_size, min(20_000, -(-n // (workers * 4))))

    def _dataset(self, ray: Any, folder: Path) -> Any:
        """The shards of ``folder`` as a dataset of one block per shard.

        Ray's Parquet reader packs small files into one block, and a block goes to one task, so
        the shards are listed as items and each read by a zero-CPU map: every worker gets work,
        and reading never waits for a CPU held by the label tasks or the predict actors.
        """
        paths = [str(p) for p in sorted(folder.glob("*.parquet"))]
        items = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=len(paths))
        return items.map_batches(read_shards, batch_size=None, num_cpus=0)

    # -- label --------------------------------------------------------------------------------
    def label(
        self,
        store: Store,
        task: Task,
        teacher: Teacher,
        dataset: str,
        *,
        limit: int | None = None,
        run_id: str | None = None,
        progress: Progress | None = None,
        mode: str = "online",
        **options: Any,
    ) -> distil.LabelResult:
        self._check_label(teacher, mode)
        started = time.perf_counter()
        source = teacher.source(task)
        job = self.job_dir(store, "label", source)
        recovered = merge_results(job / "results", store, source, run_id, dataset=dataset)
        total, already = distil.pending_counts(store, dataset, source, limit)
        tally = _Tally()
        if total > already:
            self._run_label(
                job,
                store,
                task,
                teacher,
                source,
                total - already,
                run_id,
                progress,
                dataset,
                tally,
                store.pending_examples(dataset, source, limit=limit),
            )
            merge_results(job / "results", store, source, run_id, dataset=dataset)  # and cache
        shutil.rmtree(job, ignore_errors=True)
        self.last_job = {"stage": "label", "recovered": recovered, "sent": total - already}
        return distil.LabelResult(
            source=source,
            dataset=dataset,
            total=total,
            already_done=already,
            labelled=tally.labelled,
            failures=tally.failures,
            seconds=time.perf_counter() - started,
            usage=tally.usage.model_dump() if tally.labelled else {},
            ledger=(self._ledgers or tally.ledger) if tally.labelled else {},
        )

    @staticmethod
    def _check_label(teacher: Teacher, mode: str) -> None:
        """Refuse the ``[label]`` settings this executor cannot honour, naming them."""
        if mode != "online":
            raise ConfigError(
                f'label.mode = "{mode}": the ray.v1 executor sends online requests only; '
                "use the local executor for provider batch jobs"
            )
        execution = getattr(teacher, "execution", None)
        if execution is not None and execution.budget is not None:
            raise ConfigError(
                "label.budget: a budget is not enforced across Ray workers (each would hold its "
                "own); remove it, or label with the local executor"
            )

    @staticmethod
    def _ledger(teacher: Teacher, preds: list[Prediction]) -> dict[str, Any]:
        """A ledger from the answers' usage, for a teacher whose workers keep none."""
        provider = getattr(teacher, "provider", None)
        priced = [p.usage.cost for p in preds if p.usage.cost]
        return {
            "provider": provider.describe() if provider is not None else type(teacher).__name__,
            "requests": sum(p.usage.attempts for p in preds),
            "retries": 0,
            "reasks": 0,
            "cache_hits": sum(1 for p in preds if p.usage.cached),
            "gave_up": 0,
            "input_tokens": sum(p.usage.input_tokens for p in preds),
            "output_tokens": sum(p.usage.output_tokens for p in preds),
            "cost": sum(priced) if priced else None,
            "batch_jobs": 0,
            "waited_s": 0.0,
        }

    def _add_ledger(self, ledger: dict[str, Any]) -> None:
        """Sum one worker batch's ledger into the run's (counts, tokens, cost, waits)."""
        self._ledgers = distil.sum_ledgers(self._ledgers, ledger)

    def _shippable(self, teacher: Teacher, budget: Any, limits: tuple[bool, bool]) -> bytes:
        """The teacher pickled for the workers: no store cache, the shared limiter, no host."""
        import cloudpickle

        shipped = copy.copy(teacher)
        if hasattr(shipped, "cache"):
            shipped.cache = None
        if hasattr(shipped, "_host"):
            shipped._host = None  # the worker loads the driver's plugins (use_plugins)
        execution = getattr(teacher, "execution", None)
        if execution is not None:
            shipped.execution = copy.copy(execution)  # type: ignore[attr-defined]
            shipped.execution.limiter = RemoteLimiter(  # type: ignore[attr-defined]
                budget, requests=limits[0], tokens=limits[1]
            )
        try:
            blob: bytes = cloudpickle.dumps(shipped)
        except Exception as exc:
            raise DistilError(
                f"the teacher {type(teacher).__name__} cannot be sent to Ray workers ({exc}); "
                "label with a teacher built from the config in a fresh process"
            ) from None
        return blob

    def _budget_actor(self, ray: Any, teacher: Teacher) -> tuple[Any, tuple[bool, bool]]:
        """One SharedBudget actor when the teacher has an RPM or TPM limit, else None."""
        limiter = getattr(getattr(teacher, "execution", None), "limiter", None)
        requests = getattr(limiter, "requests", None)
        tokens = getattr(limiter, "tokens", None)
        if requests is None and tokens is None:
            return None, (False, False)
        rpm = requests.rate * 60 if requests is not None else None
        tpm = tokens.rate * 60 if tokens is not None else None
        actor = ray.remote(SharedBudget).options(num_cpus=0).remote(rpm, tpm)
        return actor, (requests is not None, tokens is not None)

    def _release_budget(self, ray: Any, budget: Any) -> None:
        """Keep the shared budget's figures (``budget_stats``) and stop its actor."""
        if budget is not None:
            self.budget_stats = ray.get(budget.stats.remote())
            ray.kill(budget)

    def _run_label(
        self,
        job: Path,
        store: Store,
        task: Task,
        teacher: Teacher,
        source: str,
        pending: int,
        run_id: str | None,
        progress: Progress | None,
        dataset: str,
        tally: _Tally,
        pages: Iterable[Sequence[distil.Example]],
    ) -> None:
        import cloudpickle

        ray = self.ray()
        shards = write_input_shards(
            pages,
            job / "input",
            self._rows_per_shard(pending, self.label_batch_size, self.label_tasks),
        )
        log = ray.remote(ResultLog).options(num_cpus=0).remote(str(job / "results"))
        budget, limits = self._budget_actor(ray, teacher)
        fn_kwargs = {
            "teacher_blob": self._shippable(teacher, budget, limits),
            "task_blob": cloudpickle.dumps(task),
            "source": source,
            "log": log,
            "plugins": loaded_plugins(teacher),
            "fault": self.fault,
        }
        ds = self._dataset(ray, shards).map_batches(
            label_batch,
            batch_size=self.label_batch_size,
            concurrency=self.label_tasks,
            num_cpus=self.label_cpus,
            fn_kwargs=fn_kwargs,
            # A task whose worker died is run again (what it had answered is in the log): Ray
            # Data retries without limit by default; a limit needs its (deprecated) remote args.
            **({} if self.max_retries is None else {"max_retries": self.max_retries}),
        )
        self._ledgers = {}
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                for text in batch["ledger"]:
                    if text:
                        self._add_ledger(json.loads(text))
                preds = [Prediction.model_validate_json(s) for s in batch["prediction"]]
                if run_id is not None:
                    preds = [p.model_copy(update={"run_id": run_id}) for p in preds]
                store.add_predictions(preds, dataset)  # committed before progress is reported
                tally.add(teacher, preds)
                if progress is not None:
                    progress(len(preds))
        except Exception as exc:
            _raise_distil_cause(exc)
            raise
        finally:
            self._release_budget(ray, budget)
            ray.get(log.close.remote())
            ray.kill(log)

    # -- predict ------------------------------------------------------------------------------
    def predict(
        self,
        store: Store,
        task: Task,
        student: Student,
        dataset: str,
        *,
        source: str,
        model_dir: str | Path | None = None,
        limit: int | None = None,
        progress: Progress | None = None,
    ) -> distil.PredictResult:
        started = time.perf_counter()
        job = self.job_dir(store, "predict", source)
        out_dir = job / "out"
        recovered = (
            store.add_predictions(read_prediction_shards(out_dir), dataset)
            if out_dir.is_dir()
            else 0
        )
        total, already = distil.pending_counts(store, dataset, source, limit)
        pids: set[int] = set()
        loads: dict[int, int] = {}
        batches = 0
        if total > already:
            import cloudpickle

            ray = self.ray()
            shards = write_input_shards(
                store.pending_examples(dataset, source, limit=limit),
                job / "input",
                self._rows_per_shard(total - already, self.predict_batch_size, self.predict_actors),
            )
            blob = cloudpickle.dumps(type(student) if model_dir is not None else student)
            ds = self._dataset(ray, shards).map_batches(
                StudentPredictor,
                fn_constructor_kwargs={
                    "student_blob": blob,
                    "model_dir": str(model_dir) if model_dir is not None else None,
                    "source": source,
                    "out_dir": str(out_dir),
                    "plugins": loaded_plugins(),
                },
                batch_size=self.predict_batch_size,
                concurrency=self.predict_actors,
                num_cpus=self.predict_cpus,
            )
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                for shard, n in zip(batch["shard"], batch["n"], strict=True):
                    store.add_predictions(read_prediction_shards(Path(shard)), dataset)
                    if progress is not None:
                        progress(int(n))
                pids.update(int(p) for p in batch["pid"])
                loads.update(
                    (int(p), int(n)) for p, n in zip(batch["pid"], batch["loads"], strict=True)
                )
                batches += len(batch["shard"])
        shutil.rmtree(job, ignore_errors=True)
        self.last_job = {
            "stage": "predict",
            "recovered": recovered,
            "batches": batches,
            "actor_pids": sorted(pids),
            "loads_per_actor": loads,
        }
        return distil.PredictResult(
            source=source,
            dataset=dataset,
            total=total,
            already_done=already,
            predicted=total - already,
            seconds=time.perf_counter() - started,
        )

    # -- a corpus of the user's shards ------------------------------------------------------
    def _corpus_dataset(self, ray: Any, todo: list[distil.CorpusShard]) -> Any:
        """The shards to do as a dataset of one item (one block) each: one call per shard."""
        items = [{"path": str(s.path), "output": str(s.output)} for s in todo]
        return ray.data.from_items(items, override_num_blocks=max(1, len(items)))

    def label_corpus(
        self,
        store: Store,
        task: Task,
        teacher: Teacher,
        corpus: str | Path,
        output: str | Path,
        *,
        dataset: str | None = None,
        run_id: str | None = None,
        progress: Progress | None = None,
    ) -> distil.CorpusResult:
        """Label a folder of shards on the cluster: each label task reads an input shard where
        it lies and writes its result shard itself (``output`` must be reachable by every node);
        the driver only reads the finished shards' counts, and merges them with ``dataset``."""
        import cloudpickle

        self._check_label(teacher, "online")
        started = time.perf_counter()
        source = teacher.source(task)
        result, todo = distil.start_corpus("label", source, corpus, output, store, dataset, run_id)
        self._ledgers = {}
        if todo:
            ray = self.ray()
            budget, limits = self._budget_actor(ray, teacher)
            fn_kwargs = {
                "teacher_blob": self._shippable(teacher, budget, limits),
                "task_blob": cloudpickle.dumps(task),
                "source": source,
                "plugins": loaded_plugins(teacher),
                "batch_size": self.label_batch_size,
                "fault": self.fault,
            }
            ds = self._corpus_dataset(ray, todo).map_batches(
                label_corpus_shard,
                batch_size=1,
                concurrency=self.label_tasks,
                num_cpus=self.label_cpus,
                fn_kwargs=fn_kwargs,
                **({} if self.max_retries is None else {"max_retries": self.max_retries}),
            )
            try:
                self._collect_corpus(ds, todo, store, result, dataset, run_id, progress)
            except Exception as exc:
                _raise_distil_cause(exc)
                raise
            finally:
                self._release_budget(ray, budget)
        result.ledger = self._ledgers or None
        result.seconds = time.perf_counter() - started
        self.last_job = {"stage": "label", "corpus": str(corpus), "sent_shards": len(todo)}
        return result

    def _collect_corpus(
        self,
        ds: Any,
        todo: list[distil.CorpusShard],
        store: Store,
        result: distil.CorpusResult,
        dataset: str | None,
        run_id: str | None,
        progress: Progress | None,
    ) -> set[int]:
        """Take the finished shards as Ray reports them: count, merge, report progress."""
        pids: set[int] = set()
        by_output = {str(shard.output): shard for shard in todo}
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for i, output in enumerate(batch["output"]):
                counts = json.loads(batch["counts"][i])
                result.answered += counts["answered"]
                result.failures += counts["failures"]
                result.rejected += counts["rejected"]
                if "ledger" in batch and batch["ledger"][i]:
                    self._add_ledger(json.loads(batch["ledger"][i]))
                if "pid" in batch:
                    pids.add(int(batch["pid"][i]))
                if dataset is not None:
                    shard = by_output[str(output)]
                    result.merged += distil.merge_shard(shard, store, dataset, run_id)
                if progress is not None:
                    progress(counts["answered"] + counts["rejected"])
        return pids

    def predict_corpus(
        self,
        store: Store,
        task: Task,
        student: Student,
        corpus: str | Path,
        output: str | Path,
        *,
        source: str,
        model_dir: str | Path | None = None,
        dataset: str | None = None,
        progress: Progress | None = None,
    ) -> distil.CorpusResult:
        """Predict a folder of shards on an actor pool; each actor loads the student once and
        writes the result shard of each input shard it is given."""
        import cloudpickle

        started = time.perf_counter()
        result, todo = distil.start_corpus("predict", source, corpus, output, store, dataset)
        pids: set[int] = set()
        if todo:
            ray = self.ray()
            ds = self._corpus_dataset(ray, todo).map_batches(
                CorpusPredictor,
                fn_constructor_kwargs={
                    "student_blob": cloudpickle.dumps(
                        type(student) if model_dir is not None else student
                    ),
                    "model_dir": str(model_dir) if model_dir is not None else None,
                    "source": source,
                    "plugins": loaded_plugins(),
                    "batch_size": self.predict_batch_size,
                },
                batch_size=1,
                concurrency=self.predict_actors,
                num_cpus=self.predict_cpus,
            )
            pids = self._collect_corpus(ds, todo, store, result, dataset, None, progress)
        result.seconds = time.perf_counter() - started
        self.last_job = {"stage": "predict", "corpus": str(corpus), "actor_pids": sorted(pids)}
        return result
