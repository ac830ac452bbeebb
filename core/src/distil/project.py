"""A project: one config and one store, and the five stages run against them.

The CLI is a thin layer over this class; so is any script that drives distil from Python::

    from distil.project import Project
    with Project.from_config("distil.cfg") as project:
        report = project.run(output_dir="out")
"""

from __future__ import annotations

import contextlib
import logging
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .config import ProjectConfig, load_config
from .errors import BudgetExceeded, ConfigError, DataError, DistilError, NoStudentError
from .evaluate.report import SourceResult, build_report, write_report
from .evaluate.stage import majority_baseline, student_result, teacher_result
from .execute import PredictResult
from .locking import label_lock
from .plugins import PluginHost, get_host
from .records import Annotation, Example
from .store.corpus import CorpusResult
from .store.jsonl import LineError, iter_jsonl_dicts
from .store.readers import ColumnMapping, file_sha256, file_stat, read_data
from .store.sqlite import Store
from .student import Student
from .teach.dryrun import LabelPlan, plan_label
from .teach.runner import LabelResult, forget_failures
from .train import TrainResult, train_student
from .validate import validate_examples

Progress = Callable[[int], None]
#: A factory the CLI passes in: (description, total) -> a callback advancing a progress bar.
ProgressFactory = Callable[[str, int], Progress]

DATASETS = ("train", "dev", "gold")
_log = logging.getLogger("distil.project")


def log_progress(description: str, total: int) -> Progress:
    """The progress of the Python API when no callback is given: ``distil.progress`` INFO lines.

    One line at each tenth of the work and one at the end (``label train: 250/500``), so a
    notebook or script with ``logging.basicConfig(level=logging.INFO)`` is not silent for minutes.
    """
    logger = logging.getLogger("distil.progress")
    step = max(1, -(-total // 10))
    state = {"done": 0, "shown": 0}

    def advance(n: int) -> None:
        state["done"] += n
        done = state["done"]
        if done - state["shown"] >= step or (done >= total > state["shown"]):
            state["shown"] = done
            logger.info("%s: %d/%d", description, done, total)

    return advance


# What each teacher object was before its tuning, and the tuning key it now carries: a teacher's
# source changes once tuned (it names the tuned parameters), and a second Project over the same
# config object (``distil simulate`` runs on a copy of the store) must neither compute another
# key from the tuned source nor tune again.
_TUNED: weakref.WeakKeyDictionary[Any, tuple[str, str]] = weakref.WeakKeyDictionary()


def _tuning_key(teacher: Any, task: Any, dev: list[Example], source: str) -> str:
    """The cache key of a teacher's dev tuning: what it was tuned as (``source``: its source
    before tuning), and on what."""
    import hashlib
    import json

    kind = f"{type(teacher).__module__}.{type(teacher).__qualname__}"
    rows = []
    for ex in dev:
        ref = task.reference(ex)
        rows.append([ex.id, ex.text, ref.model_dump(mode="json") if ref is not None else None])
    blob = {"teacher": kind, "source": source, "task": task.describe(), "dev": rows}
    digest = hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode("utf-8"))
    return f"tune:{digest.hexdigest()}"


def _check_gold(gold: list[Example], task: Any, path: Path) -> None:
    """Every gold example must carry its answer: scoring one without it is meaningless.

    Checked before the teacher labels gold, so the user hears it before any cost. (Import-time
    validation of the gold file, with line numbers, is :mod:`distil.validate`'s job.)
    """
    missing = [ex.id for ex in gold if task.reference(ex) is None]
    if missing:
        shown = ", ".join(repr(i) for i in missing[:5]) + (" ..." if len(missing) > 5 else "")
        field = task.answer_field
        raise DataError(
            f"{path}: {len(missing)} gold example(s) have no {field}, e.g. id {shown}; "
            f"every gold row needs its answer to be scored: add the {field} or remove the row"
        )


def run_outcome(exc: BaseException) -> tuple[str, str]:
    """The status and error message a run ends with when ``exc`` stops it."""
    if isinstance(exc, BudgetExceeded):
        return "budget", str(exc)
    if not isinstance(exc, Exception):  # KeyboardInterrupt, CancelledError, SystemExit
        return "interrupted", f"interrupted ({type(exc).__name__})"
    if isinstance(exc, DistilError):
        return "failed", str(exc)
    return "failed", f"{type(exc).__name__}: {exc}"


def _no_examples(dataset: str) -> DataError:
    return DataError(f"the store has no '{dataset}' examples: check [data] in the config")


class Project:
    def __init__(self, config: ProjectConfig, host: PluginHost | None = None) -> None:
        self.config = config
        self.host = host or get_host()
        self.store = Store(config.store_path)
        self._tuned = False

    @classmethod
    def from_config(
        cls,
        path: str | Path,
        overrides: dict[str, Any] | None = None,
        host: PluginHost | None = None,
    ) -> Project:
        host = host or get_host()
        return cls(load_config(path, overrides=overrides, host=host), host)

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    # -- data ---------------------------------------------------------------------------------
    @property
    def quarantine_dir(self) -> Path:
        return self.config.store_path.parent / "quarantine"

    def import_data(self, datasets: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Bring the store's train, dev and gold up to date with the configured data files.

        A data set is read again only when its file changed since it was imported (size and
        mtime differ and so does the SHA-256 of its bytes), or the path or the ``[data]`` settings
        that read it did; then it becomes exactly the file's rows, in file order (rows removed
        from the file leave it, new ones join it). Predictions and annotations are keyed by
        example id, so every id that stays keeps them. A re-import is logged on ``distil.data``
        (``data.gold: gold.jsonl changed since import (20 -> 22 rows): re-imported``), as are
        the rows that did not load and where they were quarantined.

        Returns data set → ``path``, ``examples``, ``new``, ``removed``, ``errors`` (lines of
        this import), ``quarantine``, ``status`` (``imported``, ``reimported`` or ``unchanged``)
        and ``message`` (the re-import line, or None).
        """
        files = self._data_files()
        summary: dict[str, dict[str, Any]] = {}
        for name in datasets if datasets is not None else files:
            if name in files:
                summary[name] = self._import_file(name, files[name])
        return summary

    def _data_files(self) -> dict[str, Path]:
        """Data set → the configured file (train, dev, gold; those the config names)."""
        data = self.config.data
        files = {"train": data.train, "dev": data.dev, "gold": data.gold}
        return {name: self.config.resolve_path(value) for name, value in files.items() if value}

    def _read_options(self, dataset: str) -> dict[str, Any]:
        """The settings a data file is read with: a change to any of them re-imports it.

        The task is one of them (as a digest): rows are validated against its labels at import,
        so new labels in the config re-check a gold file whose bytes did not change.
        """
        import hashlib
        import json

        data = self.config.data
        limits = {"train": data.train_limit, "gold": data.gold_limit}
        task = json.dumps(self.config.task.describe(), sort_keys=True, default=str)
        return {
            "format": data.format,
            **self._mapping().to_dict(),
            "limit": limits.get(dataset),
            "task": hashlib.sha256(task.encode("utf-8")).hexdigest()[:16],
        }

    def _mapping(self) -> ColumnMapping:
        data = self.config.data
        return ColumnMapping(
            text_column=data.text_column,
            label_column=data.label_column,
            label_separator=data.label_separator,
            id_column=data.id_column,
        )

    def _import_file(self, name: str, path: Path) -> dict[str, Any]:
        if not path.exists():
            raise DataError(f"data.{name}: file not found: {path}")
        options = self._read_options(name)
        # Stat and hash before reading: a file edited during the read then differs next time.
        size, mtime_ns = file_stat(path)
        record = self.store.data_file(name)
        same = (
            record is not None
            and record["path"] == str(path)
            and record["options"] == options
            and record["n"] == self.store.count_examples(name)
        )
        if record is not None and same and (record["size"], record["mtime_ns"]) == (size, mtime_ns):
            return self._import_summary(name, record, "unchanged")
        digest = file_sha256(path)
        if record is not None and same and record["sha256"] == digest:
            self.store.touch_data_file(name, size, mtime_ns)
            return self._import_summary(name, record, "unchanged")
        qpath = self.quarantine_dir / f"{name}.{path.name}.quarantine.jsonl"
        qpath.unlink(missing_ok=True)  # it holds the bad rows of the file as last imported
        result = read_data(path, self.config.data.format, mapping=self._mapping(), quarantine=qpath)
        examples = result.examples
        if options["limit"] is not None:
            examples = examples[: options["limit"]]
        examples = validate_examples(self.config.task, examples, path=path, dataset=name)
        quarantine = str(result.quarantine_path) if result.quarantine_path else None
        source = {
            "path": str(path),
            "sha256": digest,
            "size": size,
            "mtime_ns": mtime_ns,
            "options": options,
            "n": len(examples),
            "errors": len(result.errors),
            "quarantine": quarantine,
        }
        new, removed = self.store.import_file(name, examples, source)
        log = logging.getLogger("distil.data")
        message = None
        if record is not None:
            if record["path"] != str(path):
                why = f"now read from {path} (was {record['path']})"
            elif record["sha256"] != digest:
                why = f"{path.name} changed since import"
            else:
                why = "its [data] settings or the task changed since import"
            message = f"data.{name}: {why} ({record['n']} -> {len(examples)} rows): re-imported"
            log.info("%s", message)
        if result.errors:
            log.warning(
                "data.%s: %d row(s) of %s did not load (listed above); they are in %s",
                name,
                len(result.errors),
                path,
                quarantine,
            )
        status = "reimported" if record is not None else "imported"
        summary = self._import_summary(name, {**source, "path": str(path)}, status)
        summary.update(
            new=new,
            removed=removed,
            errors=[f"{e.path}:{e.line}: {e.reason}" for e in result.errors],
            message=message,
        )
        return summary

    @staticmethod
    def _import_summary(name: str, record: dict[str, Any], status: str) -> dict[str, Any]:
        return {
            "path": record["path"],
            "examples": record["n"],
            "new": 0,
            "removed": 0,
            "errors": [],
            "quarantine": record["quarantine"],
            "status": status,
            "message": None,
        }

    def _require(self, dataset: str) -> list[Example]:
        """The examples of ``dataset``, its data file re-imported first when it changed.

        Every stage reads its data through here, so each sees the file as it is now. A file
        that is gone leaves the examples imported from it in use (with a warning).
        """
        self._refresh(dataset)
        examples = self.store.examples(dataset)
        if not examples:
            raise _no_examples(dataset)
        return examples

    def _require_count(self, dataset: str) -> int:
        """:meth:`_require` without reading the examples: how many ``dataset`` has (one query),
        for the stages that stream them from the store (the label pass)."""
        self._refresh(dataset)
        count = self.store.count_examples(dataset)
        if not count:
            raise _no_examples(dataset)
        return count

    def _refresh(self, dataset: str) -> None:
        """Re-import ``dataset``'s data file when it changed; a file that is gone leaves the
        examples imported from it in use (with a warning)."""
        path = self._data_files().get(dataset)
        if path is not None and not path.exists() and self.store.count_examples(dataset):
            logging.getLogger("distil.data").warning(
                "data.%s: %s not found; using the examples imported from it before", dataset, path
            )
        elif path is not None:
            self.import_data([dataset])

    # -- label --------------------------------------------------------------------------------
    def prepare_teacher(self) -> None:
        """Tune the teacher on the dev set where it can be tuned (once per process).

        A teacher that also has ``tuned_state() -> dict | None`` and ``load_tuned_state(state)``
        has its tuning kept in the store's cache under ``tune:<sha256>`` of the teacher's class,
        its source before tuning, the task and the dev examples' ids, texts and labels: later
        processes load it instead of tuning again, until the teacher or the dev set changes.
        """
        teacher = self.config.teacher
        tune = getattr(teacher, "tune", None)
        if self._tuned or tune is None or not self.config.data.dev:
            return
        task = self.config.task
        dev = [ex for ex in self._require("dev") if task.reference(ex) is not None]
        if dev:
            try:
                untuned, tuned_for = _TUNED[teacher]
            except (KeyError, TypeError):  # TypeError: an object that cannot be weakly referenced
                untuned, tuned_for = teacher.source(task), None
            key = _tuning_key(teacher, task, dev, untuned)
            if tuned_for == key:  # this very object was tuned on this dev set in this process
                self._tuned = True
                return
            keeps = callable(getattr(teacher, "load_tuned_state", None)) and callable(
                getattr(teacher, "tuned_state", None)
            )
            stored = self.store.cache_get(key) if keeps else None
            if stored is not None and isinstance(stored.get("state"), dict):
                teacher.load_tuned_state(stored["state"])  # type: ignore[attr-defined]
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(stored.get("created_at")))
                _log.info("reused the teacher's dev tuning (from %s)", when)
            else:
                _log.info("tuning the teacher on %d dev examples", len(dev))
                tune(task, dev)
                state = teacher.tuned_state() if keeps else None  # type: ignore[attr-defined]
                if isinstance(state, dict):
                    value = {"state": state, "n_dev": len(dev), "created_at": time.time()}
                    self.store.cache_put(key, value)
            with contextlib.suppress(TypeError):
                _TUNED[teacher] = (untuned, key)
        self._tuned = True

    @property
    def teacher_source(self) -> str:
        self.prepare_teacher()
        return self.config.teacher.source(self.config.task)

    def label(
        self,
        dataset: str = "train",
        progress: ProgressFactory | None = None,
        limit: int | None = None,
        *,
        retry_failed: bool = False,
        wait: bool = True,
        on_wait: Callable[[int | None], None] | None = None,
    ) -> LabelResult:
        """Label the examples of ``dataset`` the teacher has not answered; store every answer.

        Stored failures stay as they are (``result.failed_total`` counts them) unless
        ``retry_failed``, which asks them again without serving their cached answers
        (:func:`~distil.teach.runner.forget_failures`). One label run works on a store at a
        time (:mod:`distil.locking`): while another holds it, ``wait`` calls ``on_wait(pid)``
        and waits, else :class:`~distil.locking.StoreBusy` is raised. The run ends
        ``finished``, ``interrupted``, ``failed`` or ``budget`` (see :meth:`_ending_runs`).
        """
        count = self._require_count(dataset)  # the pass streams the examples: none held here
        progress = progress or log_progress
        self.prepare_teacher()
        source = self.teacher_source
        with label_lock(self.store.path, wait=wait, on_wait=on_wait), self._ending_runs():
            run_id = self.store.start_run(
                "label", {"dataset": dataset, "source": source, "retry_failed": retry_failed}
            )
            retried = 0
            if retry_failed:
                retried = forget_failures(
                    self.store, self.config.task, self.config.teacher, dataset, limit=limit
                )
                self.store.update_run(run_id, {"retried": retried})
            total = count if limit is None else min(limit, count)
            already = self.store.count_answered(source, dataset, limit=limit)
            callback = progress(f"label {dataset}", total)
            if callback is not None and already:
                callback(already)
            settings = self.config.label
            result = self.config.executor.label(
                self.store,
                self.config.task,
                self.config.teacher,
                dataset,
                limit=limit,
                run_id=run_id,
                progress=callback,
                mode=settings.mode,
                batch_size_jobs=settings.batch_size_jobs,
                poll_interval=settings.poll_interval,
            )
            result.retried = retried
            result.failed_total = self.store.count_answered(
                source, dataset, limit=limit
            ) - self.store.count_answered(source, dataset, limit=limit, ok_only=True)
            self.store.finish_run(run_id, "finished", result.to_dict())
        return result

    @contextlib.contextmanager
    def _ending_runs(self) -> Iterator[None]:
        """End the runs started in the block and left running when it raises.

        Ctrl-C, SIGTERM (the CLI turns it into KeyboardInterrupt) and a cancelled task end them
        ``interrupted``; a budget stop ``budget``; any other error ``failed``, with its message.
        A run whose process is killed outright is found by :meth:`Store.runs` instead.
        """
        before = set(self.store.open_runs)
        try:
            yield
        except BaseException as exc:
            status, error = run_outcome(exc)
            for run_id in self.store.open_runs:
                if run_id not in before:
                    # the original error matters more than a failure to record it
                    with contextlib.suppress(Exception):
                        self.store.finish_run(run_id, status, error=error)
            raise

    def plan_label(self, dataset: str = "train", n: int = 3, limit: int | None = None) -> LabelPlan:
        """``label --dry-run``: the first ``n`` prompts, a token and cost estimate; sends nothing.

        It imports the data files into the store when needed, but writes no prediction or run.
        """
        self._require(dataset)
        self.prepare_teacher()
        return plan_label(
            self.store,
            self.config.task,
            self.config.teacher,
            dataset,
            n=n,
            limit=limit,
            mode=self.config.label.mode,
        )

    # -- predict ------------------------------------------------------------------------------
    def predict(
        self,
        dataset: str = "train",
        progress: ProgressFactory | None = None,
        limit: int | None = None,
    ) -> PredictResult:
        """Run the latest trained student over ``dataset`` through the executor; store it all.

        Resumable like ``label``: examples the student's source already answered are skipped.
        """
        count = self._require_count(dataset)  # the pass streams the examples: none held here
        progress = progress or log_progress
        student, source, model_dir = self._trained()
        total = count if limit is None else min(limit, count)
        callback = progress(f"predict {dataset}", total)
        already = self.store.count_answered(source, dataset, limit=limit)
        if callback is not None and already:
            callback(already)
        with self._ending_runs():
            run_id = self.store.start_run("predict", {"dataset": dataset, "source": source})
            result = self.config.executor.predict(
                self.store,
                self.config.task,
                student,
                dataset,
                source=source,
                model_dir=model_dir,
                limit=limit,
                progress=callback,
            )
            self.store.finish_run(run_id, "finished", result.to_dict())
        return result

    def _trained(self) -> tuple[Student, str, str]:
        trained = self.latest_student()
        if trained is None:
            raise NoStudentError(f"no trained student: run distil train {self._config_name}")
        return trained

    # -- a corpus of shards -------------------------------------------------------------------
    def _corpus_total(self, corpus: str | Path, output: str | Path) -> int:
        from .store.corpus import corpus_shards, shard_rows

        return sum(shard_rows(s.path) for s in corpus_shards(corpus, output))

    def label_corpus(
        self,
        corpus: str | Path,
        output: str | Path,
        *,
        dataset: str | None = None,
        progress: ProgressFactory | None = None,
        wait: bool = True,
        on_wait: Callable[[int | None], None] | None = None,
    ) -> CorpusResult:
        """Label a folder of JSONL or Parquet shards where it lies, through the executor.

        The corpus is not imported: each shard's answers go to a result shard of its own in
        ``output`` (:mod:`distil.store.corpus`). With ``dataset``, finished shards are merged
        into the store as that data set too (examples, teacher labels, cache entries), ready for
        ``distil train``. Resumable: finished shards are skipped, a partial one goes on.
        """
        if dataset in DATASETS:
            raise ConfigError(
                f"dataset '{dataset}': the data set of a config file ([data] {dataset}) is "
                "re-imported from its file; merge a corpus into a data set of its own name"
            )
        progress = progress or log_progress
        self.prepare_teacher()
        source = self.teacher_source
        callback = progress(f"label {corpus}", self._corpus_total(corpus, output))
        with label_lock(self.store.path, wait=wait, on_wait=on_wait), self._ending_runs():
            run_id = self.store.start_run(
                "label", {"corpus": str(corpus), "output": str(output), "source": source}
            )
            result = self.config.executor.label_corpus(
                self.store,
                self.config.task,
                self.config.teacher,
                corpus,
                output,
                dataset=dataset,
                run_id=run_id,
                progress=callback,
            )
            self.store.finish_run(run_id, "finished", result.to_dict())
        return result

    def predict_corpus(
        self,
        corpus: str | Path,
        output: str | Path,
        *,
        dataset: str | None = None,
        progress: ProgressFactory | None = None,
    ) -> CorpusResult:
        """Run the latest trained student over a folder of shards, as :meth:`label_corpus`."""
        if dataset in DATASETS:
            raise ConfigError(
                f"dataset '{dataset}': merge a corpus into a data set of its own name, not "
                "one a config file fills"
            )
        progress = progress or log_progress
        student, source, model_dir = self._trained()
        callback = progress(f"predict {corpus}", self._corpus_total(corpus, output))
        with self._ending_runs():
            run_id = self.store.start_run(
                "predict", {"corpus": str(corpus), "output": str(output), "source": source}
            )
            result = self.config.executor.predict_corpus(
                self.store,
                self.config.task,
                student,
                corpus,
                output,
                source=source,
                model_dir=model_dir,
                dataset=dataset,
                progress=callback,
            )
            self.store.finish_run(run_id, "finished", result.to_dict())
        return result

    # -- train --------------------------------------------------------------------------------
    def _student(self) -> Student:
        if self.config.student is None:
            raise ConfigError("the config has no [student] section")
        return self.config.student

    @property
    def model_dir(self) -> Path:
        return self.config.resolve_path(self.config.project.output) / "students"

    def train(self) -> TrainResult:
        """Fit the student on the merged labels; store its train predictions and trust scores.

        ``[train]`` decides the trust step (:mod:`distil.trust`): each of its ``folds`` fits a
        fresh student built from the ``[student]`` block, as :meth:`learning_curve` does.
        """
        self._require("train")
        settings = self.config.train

        def fresh_student() -> Student:
            from .config import resolve_section

            student: Student = resolve_section(self.host, "student", self.config.raw["student"])
            return student

        with self._ending_runs():  # train_student's run ends interrupted or failed on an error
            return train_student(
                self.store,
                self.config.task,
                self._student(),
                teacher_source=self.teacher_source,
                model_dir=self.model_dir,
                dev_dataset="dev" if self.config.data.dev else None,
                host=self.host,
                student_factory=fresh_student,
                trust=settings.trust,
                folds=settings.folds,
                drop_label_issues=settings.drop_label_issues,
                human_weight=settings.human_weight,
                teacher_weight=settings.teacher_weight,
                seed=settings.seed,
            )

    def learning_curve(
        self,
        output_dir: str | Path | None = None,
        fractions: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0),
    ) -> tuple[dict[str, Any], dict[str, Path]]:
        """Train fresh students on growing shares of the merged labels; score each on gold.

        Writes ``learning_curve.md`` and ``learning_curve.json`` and, where matplotlib is
        installed, ``learning_curve.png`` into the output folder; returns the result and paths.
        """
        import json

        from .config import resolve_section
        from .evaluate.learning_curve import (
            learning_curve,
            learning_curve_markdown,
            plot_learning_curve,
        )
        from .train import merge_labels

        self._require("train")
        self._student()
        gold = self._require("gold")
        pairs = merge_labels(self.store, self.config.task, "train", self.teacher_source).pairs
        if not pairs:
            raise DataError("no training data: label the train set or import answers first")

        def fresh_student() -> Student:
            student: Student = resolve_section(self.host, "student", self.config.raw["student"])
            return student

        result = learning_curve(
            self.config.task,
            fresh_student,
            pairs,
            gold,
            fractions=fractions,
            seed=self.config.evaluate.seed,
            n_boot=self.config.evaluate.n_boot,
        )
        out = (
            Path(output_dir) if output_dir else self.config.resolve_path(self.config.project.output)
        )
        out.mkdir(parents=True, exist_ok=True)
        paths = {"md": out / "learning_curve.md", "json": out / "learning_curve.json"}
        paths["md"].write_text(learning_curve_markdown(result), encoding="utf-8")
        paths["json"].write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
        # The plot needs matplotlib (the `plots` extra); the table and the signal do not.
        with contextlib.suppress(ImportError):
            paths["png"] = plot_learning_curve(result, out / "learning_curve.png")
        return result, paths

    def latest_student(self) -> tuple[Student, str, str] | None:
        """The most recently trained student (loaded, its source, its model dir), or None.

        Without one, ``evaluate`` scores the teacher alone: run ``distil train`` to add it.
        """
        for run in self.store.runs("train"):
            if run["status"] == "finished" and run.get("stats", {}).get("model_dir"):
                stats = run["stats"]
                loaded = self._load_student(stats["model_dir"])
                return loaded, stats["source"], stats["model_dir"]
        return None

    @property
    def _config_name(self) -> str:
        return str(self.config.path) if self.config.path else "CONFIG"

    def _load_student(self, model_dir: str) -> Student:
        """The trained student in ``model_dir``; gone or incomplete files are a NoStudentError."""
        student_type = type(self._student())
        retrain = f"run distil train {self._config_name}"
        if not Path(model_dir).is_dir():
            raise NoStudentError(
                f"no trained student: the model folder {model_dir} of the latest train run is "
                f"gone (the output folder was moved or deleted?); {retrain}"
            )
        try:
            return student_type.load(model_dir)
        except FileNotFoundError as exc:
            raise NoStudentError(f"no trained student: {exc}; {retrain}") from None

    def import_answers(self, path: str | Path, annotator: str = "human") -> dict[str, Any]:
        """Import human answers from JSONL: ``{"id", "labels"|"spans", "answer"?, "annotator"?}``.

        For an ``extract`` task a row may carry the corrected ``record`` instead (a JSON object
        of the schema), validated like the teacher's records.

        ``text`` may be left out (the id names a stored example). ``answer`` is ``correct`` (the
        default), ``accept``, ``reject`` or ``ignore``. Rows that do not fit the task, or name an
        id the store does not have, are reported and skipped; the rest are stored.
        """
        from pydantic import ValidationError

        from .annotate.hooks import annotate_hook

        task = self.config.task
        rows = list(iter_jsonl_dicts(path))
        errors = [f"{path}:{n}: {r.reason}" for n, r in rows if isinstance(r, LineError)]
        good = [(n, r) for n, r in rows if isinstance(r, dict)]
        asked = [str(r.get("id")) for _, r in good]
        # Answers train the student: an id that train and gold share names the train example.
        known = {**self.store.get_examples(asked), **self.store.get_examples(asked, "train")}
        unknown: list[str] = []
        invalid: list[str] = []
        annotations = []
        for n, row in good:
            rid = row.get("id")
            if not isinstance(rid, str) or not rid:
                invalid.append(f"{path}:{n}: missing 'id'")
                continue
            if rid not in known:
                unknown.append(rid)
                continue
            answer = row.get("answer", "correct")
            if answer not in ("accept", "reject", "ignore", "correct"):
                invalid.append(f"{path}:{n}: unknown answer {answer!r}")
                continue
            try:
                example = Example.model_validate(
                    {
                        **known[rid].model_dump(),
                        "labels": row.get("labels"),
                        "spans": row.get("spans"),
                        # An extract task's answer is a whole record (its task reads meta.record).
                        "meta": {
                            **{k: v for k, v in known[rid].meta.items() if k != "record"},
                            **({"record": row["record"]} if "record" in row else {}),
                        },
                    }
                )
                output = task.reference(example)
                if output is not None:
                    output = task.validate_output(output)
            except (ValidationError, DistilError) as exc:
                invalid.append(f"{path}:{n}: {exc}")
                continue
            if output is None and answer in ("correct", "accept"):
                invalid.append(f"{path}:{n}: answer '{answer}' needs labels or spans")
                continue
            ann = Annotation(
                example_id=rid,
                annotator=str(row.get("annotator", annotator)),
                answer=answer,
                output=output,
                created_at=time.time(),
            )
            annotations.append(annotate_hook(self.host, task, example, ann))
        stored = self.store.add_annotations(annotations)
        return {"stored": stored, "unknown_ids": unknown, "invalid": invalid, "errors": errors}

    # -- evaluate -----------------------------------------------------------------------------
    def evaluate(
        self, output_dir: str | Path | None = None, progress: ProgressFactory | None = None
    ) -> tuple[dict[str, Any], dict[str, Path]]:
        """Score the teacher and the latest student on gold; write report.md/json/html.

        Costs use the ``[evaluate]`` assumptions ($/CPU-hour, $/annotation hour, seconds per
        annotation); the student's utility gets its break-even volume against the teacher.
        """
        gold = self._require("gold")
        _check_gold(gold, self.config.task, self.config.resolve_path(self.config.data.gold))
        self.label("gold", progress=progress)
        settings = self.config.evaluate
        results: list[SourceResult] = [
            teacher_result(
                self.store,
                self.config.task,
                gold,
                self.teacher_source,
                host=self.host,
                cpu_hour_cost=settings.cpu_hour_cost,
            )
        ]
        comparisons = []
        trained = self.latest_student() if self.config.student is not None else None
        if trained is not None:
            student, source, model_dir = trained
            results.append(
                student_result(
                    self.store,
                    self.config.task,
                    gold,
                    student,
                    source=source,
                    model_dir=model_dir,
                    host=self.host,
                    cpu_hour_cost=settings.cpu_hour_cost,
                )
            )
            trained_on = self._training_provenance(source)
            results[1].extra["trained_on"] = trained_on
            results[1].utility["break_even"] = self._break_even(results[0], results[1], trained_on)
            comparisons.append(self._compare(gold, results[1], results[0]))
        report = build_report(
            self.config.task,
            results,
            gold_name=str(self.config.resolve_path(self.config.data.gold)),
            n_gold=len(gold),
            comparisons=comparisons,
            meta={"config": str(self.config.path) if self.config.path else None},
            assumptions={
                "cpu_hour_cost": settings.cpu_hour_cost,
                "annotation_hour_cost": settings.annotation_hour_cost,
                "seconds_per_annotation": settings.seconds_per_annotation,
            },
            baseline=majority_baseline(self.store, self.config.task, gold, self.teacher_source),
        )
        out = (
            Path(output_dir) if output_dir else self.config.resolve_path(self.config.project.output)
        )
        paths = write_report(report, out)
        return report, paths

    def _break_even(
        self, teacher: SourceResult, student: SourceResult, trained_on: dict[str, Any]
    ) -> dict[str, Any]:
        """The student's fixed cost and break-even volume against ``teacher`` (see utility)."""
        from .evaluate.utility import break_even

        def per_doc(result: SourceResult) -> float | None:
            per_1m = result.utility.get("cost_per_1m_docs")
            return None if per_1m is None else per_1m / 1_000_000

        seconds = 0.0
        for run in self.store.runs("train"):
            stats = run.get("stats") or {}
            if stats.get("source") == student.source:
                seconds = float(stats.get("seconds") or 0.0)
                break
        settings = self.config.evaluate
        # An extraction composite leaves some fields pending: the cascade asks the LLM for them.
        pending = student.scores.get("pending") or {}
        result = break_even(
            teacher_share=float(pending.get("document_share") or 0.0),
            teacher_cost_per_doc=per_doc(teacher),
            student_cost_per_doc=per_doc(student),
            human_annotations=int(trained_on.get("from_humans") or 0),
            training_seconds=seconds,
            seconds_per_annotation=settings.seconds_per_annotation,
            annotation_hour_cost=settings.annotation_hour_cost,
            cpu_hour_cost=settings.cpu_hour_cost,
        )
        if pending:
            result["pending_fields"] = int(pending.get("fields") or 0)
            result["pending_field_share"] = float(pending.get("field_share") or 0.0)
        return {**result, "teacher": teacher.name}

    def _training_provenance(self, source: str) -> dict[str, Any]:
        """Where the student's labels came from: the teacher, and humans by kind of answer."""
        for run in self.store.runs("train"):
            stats = run.get("stats") or {}
            if stats.get("source") == source:
                return {
                    "n": stats.get("n_train"),
                    "from_teacher": stats.get("from_teacher"),
                    "from_humans": stats.get("from_humans"),
                    "human_answers": stats.get("from_answers", {}),
                    "dropped": stats.get("dropped", {}),
                }
        return {}

    def _compare(self, gold: list[Example], a: SourceResult, b: SourceResult) -> dict[str, Any]:
        """Paired bootstrap of source ``a`` against ``b`` on the same gold examples."""
        task = self.config.task
        ids = [ex.id for ex in gold]
        pa = self.store.predictions(a.source, ids, dataset="gold")
        pb = self.store.predictions(b.source, ids, dataset="gold")

        def outs(preds: dict[str, Any]) -> list[Any]:
            return [preds[i].output if i in preds and preds[i].ok else None for i in ids]

        golds = [ref for ex in gold if (ref := task.reference(ex)) is not None]
        # The task compares by its own rules (records for extract, spans span-exact), on the
        # metric the report leads with.
        result = task.paired_bootstrap(
            golds,
            outs(pa),
            outs(pb),
            metric=task.headline_metric,
            n_boot=self.config.evaluate.n_boot,
            seed=self.config.evaluate.seed,
        )
        return {**result, "a": a.name, "b": b.name}

    # -- the whole loop -----------------------------------------------------------------------
    def run(
        self, output_dir: str | Path | None = None, progress: ProgressFactory | None = None
    ) -> dict[str, Any]:
        """Import, label train, train the student, evaluate both on gold, write the report."""
        imported = self.import_data()
        labelled = self.label("train", progress=progress)
        trained = self.train()
        report, paths = self.evaluate(output_dir, progress=progress)
        return {
            "imported": imported,
            "label": labelled.to_dict(),
            "train": trained.to_dict(),
            "report": report,
            "paths": {k: str(v) for k, v in paths.items()},
        }
