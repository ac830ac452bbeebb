"""A project: one config and one store, and the five stages run against them.

The CLI is a thin layer over this class; so is any script that drives distil from Python::

    from distil.project import Project
    with Project.from_config("distil.cfg") as project:
        report = project.run(output_dir="out")
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import ProjectConfig, load_config
from .errors import BudgetExceeded, ConfigError, DataError, DistilError
from .evaluate.report import SourceResult, build_report, write_report
from .evaluate.stage import student_result, teacher_result
from .execute import PredictResult
from .plugins import PluginHost, get_host
from .records import Annotation, Example
from .store.jsonl import LineError, iter_jsonl_dicts, read_jsonl
from .store.sqlite import Store
from .student import Student
from .teach.dryrun import LabelPlan, plan_label
from .teach.runner import LabelResult
from .train import TrainResult, train_student

Progress = Callable[[int], None]
#: A factory the CLI passes in: (description, total) -> a callback advancing a progress bar.
ProgressFactory = Callable[[str, int], Progress]

DATASETS = ("train", "dev", "gold")


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

    def import_data(self) -> dict[str, dict[str, Any]]:
        """Load the configured JSONL files into the store (train, dev, gold); idempotent."""
        data = self.config.data
        files = {"train": data.train, "dev": data.dev, "gold": data.gold}
        limits = {"train": data.train_limit, "gold": data.gold_limit}
        summary: dict[str, dict[str, Any]] = {}
        for name, value in files.items():
            if not value:
                continue
            path = self.config.resolve_path(value)
            if not path.is_file():
                raise DataError(f"data.{name}: file not found: {path}")
            qpath = self.quarantine_dir / f"{name}.{path.name}.quarantine.jsonl"
            result = read_jsonl(path, quarantine=qpath)
            examples = result.examples
            if limits.get(name) is not None:
                examples = examples[: limits[name]]
            new = self.store.add_examples(examples, name)
            summary[name] = {
                "path": str(path),
                "examples": len(examples),
                "new": new,
                "errors": [f"{e.path}:{e.line}: {e.reason}" for e in result.errors],
                "quarantine": str(result.quarantine_path) if result.errors else None,
            }
        return summary

    def _require(self, dataset: str) -> list[Example]:
        examples = self.store.examples(dataset)
        if not examples:
            self.import_data()
            examples = self.store.examples(dataset)
        if not examples:
            raise DataError(f"the store has no '{dataset}' examples: check [data] in the config")
        return examples

    # -- label --------------------------------------------------------------------------------
    def prepare_teacher(self) -> None:
        """Tune the teacher on the dev set where it can be tuned (once per process)."""
        teacher = self.config.teacher
        tune = getattr(teacher, "tune", None)
        if self._tuned or tune is None or not self.config.data.dev:
            return
        dev = [ex for ex in self._require("dev") if self.config.task.reference(ex) is not None]
        if dev:
            tune(self.config.task, dev)
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
    ) -> LabelResult:
        examples = self._require(dataset)
        self.prepare_teacher()
        run_id = self.store.start_run("label", {"dataset": dataset, "source": self.teacher_source})
        total = len(examples if limit is None else examples[:limit])
        already = len(
            self.store.answered_ids(self.teacher_source) & {e.id for e in examples[:total]}
        )
        callback = progress(f"label {dataset}", total) if progress else None
        if callback is not None and already:
            callback(already)
        settings = self.config.label
        try:
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
        except BudgetExceeded:
            self.store.finish_run(run_id, "budget", {})
            raise
        except DistilError:
            self.store.finish_run(run_id, "failed", {})
            raise
        except BaseException:
            self.store.finish_run(run_id, "interrupted", {})
            raise
        self.store.finish_run(run_id, "finished", result.to_dict())
        return result

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
        examples = self._require(dataset)
        trained = self.latest_student()
        if trained is None:
            raise DataError("no trained student: run `distil train` first")
        student, source, model_dir = trained
        total = len(examples if limit is None else examples[:limit])
        callback = progress(f"predict {dataset}", total) if progress else None
        run_id = self.store.start_run("predict", {"dataset": dataset, "source": source})
        try:
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
        except BaseException:
            self.store.finish_run(run_id, "interrupted", {})
            raise
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
                loaded = type(self._student()).load(stats["model_dir"])
                return loaded, stats["source"], stats["model_dir"]
        return None

    def import_answers(self, path: str | Path, annotator: str = "human") -> dict[str, Any]:
        """Import human answers from JSONL: ``{"id", "labels"|"spans", "answer"?, "annotator"?}``.

        For an ``extract`` task a row may carry the corrected ``record`` instead (a JSON object
        of the schema), validated like the teacher's records.

        ``text`` may be left out (the id names a stored example). ``answer`` is ``correct`` (the
        default), ``accept``, ``reject`` or ``ignore``. Rows that do not fit the task, or name an
        id the store does not have, are reported and skipped; the rest are stored.
        """
        from pydantic import ValidationError

        task = self.config.task
        rows = list(iter_jsonl_dicts(path))
        errors = [f"{path}:{n}: {r.reason}" for n, r in rows if isinstance(r, LineError)]
        good = [(n, r) for n, r in rows if isinstance(r, dict)]
        known = self.store.get_examples([str(r.get("id")) for _, r in good])
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
            for replaced in self.host.hook.distil_annotate(
                task=task, example=example, annotation=ann
            ):
                if replaced is not None:
                    ann = replaced
            annotations.append(ann)
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
        result = break_even(
            teacher_cost_per_doc=per_doc(teacher),
            student_cost_per_doc=per_doc(student),
            human_annotations=int(trained_on.get("from_humans") or 0),
            training_seconds=seconds,
            seconds_per_annotation=settings.seconds_per_annotation,
            annotation_hour_cost=settings.annotation_hour_cost,
            cpu_hour_cost=settings.cpu_hour_cost,
        )
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
        from functools import partial

        from .evaluate.metrics import paired_bootstrap

        task = self.config.task
        ids = [ex.id for ex in gold]
        pa, pb = self.store.predictions(a.source, ids), self.store.predictions(b.source, ids)

        def outs(preds: dict[str, Any]) -> list[Any]:
            return [preds[i].output if i in preds and preds[i].ok else None for i in ids]

        golds = [ref for ex in gold if (ref := task.reference(ex)) is not None]
        metric = "macro_f1"
        # A task with its own paired comparison (extract: records) provides it.
        own = getattr(task, "paired_bootstrap", None)
        result = (own or partial(paired_bootstrap, task))(
            golds,
            outs(pa),
            outs(pb),
            metric=metric,
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
