"""``FastTextStudent``: a fastText linear text classifier as a distil student.

fastText (bag of word n-grams → a small embedding → softmax) trains on a few hundred rows in a
tenth of a second and predicts at tens of thousands of texts per second on one core, which makes
it a good first student next to scikit-learn's.

* Exclusive tasks use fastText's softmax loss; multi-label tasks its one-vs-all loss with a
  decision ``threshold`` per label. An example with no label gets a hidden ``none`` label so it
  still teaches every label's "no".
* Confidence follows core's toolkit rule (:func:`distil.label_confidence`), as every student
  does: exclusive, the chosen label's probability; multi-label, the smallest probability among
  the chosen labels, or ``1 - max(p)`` with none chosen. (Before, multi-label confidence was the
  weakest decision's distance from the threshold, rescaled: not a probability, so a cascade
  threshold and the calibration report read it differently from the other students'.)
* Labels are written as their index (``__label__3``), so any label string works.
* Texts are lowercased (``lowercase``) and split into words and punctuation before fastText sees
  them; fastText splits on whitespace only.
* ``threads=1`` (the default) makes training deterministic: fastText's Hogwild updates with
  several threads are not. Each fit runs in a fresh interpreter, because fastText carries state
  from one training to the next within a process (see :mod:`distil_fasttext._train`).
* Saved as fastText's own binary format (``model.fasttext``, not a pickle) and a readable
  ``meta.json`` (task, config, format). fastText itself is imported only when a model is fitted
  or loaded, so the plugin stays cheap to import.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import distil

FORMAT = "distil-fasttext.textcat/1"
MODEL_FILE = "model.fasttext"
META_FILE = "meta.json"
NONE_LABEL = "none"  # the hidden label of an example with no label (multi-label)
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class FastTextConfig:
    """The student's settings (the config keys of ``fasttext.textcat.v1``)."""

    epoch: int = 25
    lr: float = 0.5
    dim: int = 32
    word_ngrams: int = 2
    bucket: int = 50_000
    min_count: int = 1
    threshold: float = 0.5
    lowercase: bool = True
    threads: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            ("epoch", self.epoch >= 1),
            ("lr", self.lr > 0),
            ("dim", self.dim >= 1),
            ("word_ngrams", self.word_ngrams >= 1),
            ("bucket", self.bucket >= 1 or self.word_ngrams == 1),
            ("min_count", self.min_count >= 1),
            ("threshold", 0.0 < self.threshold < 1.0),
            ("threads", self.threads >= 1),
        ]
        for name, ok in checks:
            if not ok:
                raise distil.ConfigError(
                    f"student.{name}: {getattr(self, name)!r} is out of range "
                    "(see the distil-contrib-fasttext README for each key)"
                )


def tokens(text: str, lowercase: bool = True) -> str:
    """``text`` as one line of space-separated words and punctuation marks."""
    return " ".join(_TOKEN_RE.findall(text.lower() if lowercase else text))


class FastTextStudent(distil.Student):
    """Text classification with fastText; see the module docstring."""

    name: ClassVar[str] = "fasttext.textcat"
    task_kinds: ClassVar[frozenset[str]] = frozenset({"textcat"})
    supports_multilabel: ClassVar[bool] = True

    def __init__(self, config: FastTextConfig | None = None) -> None:
        self.config = config or FastTextConfig()
        self.task: distil.TextCat | None = None
        self._model: Any = None

    # -- fit -----------------------------------------------------------------------------------
    def fit(
        self,
        task: distil.Task,
        train: list[distil.TrainPair],
        dev: list[distil.TrainPair] | None = None,
    ) -> dict[str, Any]:
        self.check_task(task)
        assert isinstance(task, distil.TextCat)
        if not train:
            raise ValueError("fit needs at least one training pair")
        started = time.perf_counter()
        lines = [self._line(task, n, example, output) for n, (example, output) in enumerate(train)]
        with tempfile.TemporaryDirectory(prefix="distil-fasttext-") as folder:
            data, model = Path(folder) / "train.txt", Path(folder) / MODEL_FILE
            data.write_text("".join(lines), encoding="utf-8")
            _train_in_child(self._train_args(task, data, model))
            self._model = _load(model)
        self.task = task
        report: dict[str, Any] = {
            "student": self.name,
            "n_train": len(train),
            "seconds": round(time.perf_counter() - started, 4),
            "vocabulary": len(self._model.words),
            "multilabel": task.multilabel,
        }
        if dev:
            predicted = self.predict([example for example, _ in dev])
            hits = sum(
                set(p.output.labels) == set(getattr(o, "labels", []))
                for p, (_, o) in zip(predicted, dev, strict=True)
            )
            report["dev_exact_match"] = hits / len(dev)
        return report

    def _train_args(self, task: distil.TextCat, data: Path, model: Path) -> dict[str, Any]:
        config = self.config
        return {
            "input": str(data),
            "output": str(model),
            "epoch": config.epoch,
            "lr": config.lr,
            "dim": config.dim,
            "wordNgrams": config.word_ngrams,
            "bucket": config.bucket if config.word_ngrams > 1 else 0,
            "minCount": config.min_count,
            "loss": "ova" if task.multilabel else "softmax",
            "thread": config.threads,
            "seed": config.seed,
            "verbose": 0,
        }

    def _line(
        self, task: distil.TextCat, n: int, example: distil.Example, output: distil.TaskOutput
    ) -> str:
        if not isinstance(output, distil.Categories):
            raise distil.DataError(
                f"training pair {n} (example {example.id!r}): a textcat student learns "
                f"Categories, got {type(output).__name__}"
            )
        unknown = [x for x in output.labels if x not in task.labels]
        if unknown:
            raise distil.DataError(
                f"training pair {n} (example {example.id!r}): label(s) {unknown} are not in the "
                f"task's labels {task.labels}"
            )
        if not task.multilabel and len(output.labels) != 1:
            raise distil.DataError(
                f"training pair {n} (example {example.id!r}): an exclusive task needs one label, "
                f"got {output.labels}"
            )
        ids = [str(task.labels.index(x)) for x in dict.fromkeys(output.labels)] or [NONE_LABEL]
        prefix = " ".join(f"__label__{i}" for i in ids)
        return f"{prefix} {tokens(example.text, self.config.lowercase)}\n"

    # -- predict -------------------------------------------------------------------------------
    def predict(self, examples: list[distil.Example]) -> list[distil.StudentPrediction]:
        task = self._require_fitted()
        if not examples:
            return []
        lines = [tokens(example.text, self.config.lowercase) + "\n" for example in examples]
        all_labels, all_probs = self._model.f.multilinePredict(lines, -1, 0.0, "strict")
        return [
            self._prediction(task, labels, probs)
            for labels, probs in zip(all_labels, all_probs, strict=True)
        ]

    def _prediction(
        self, task: distil.TextCat, labels: list[str], probs: Any
    ) -> distil.StudentPrediction:
        # fastText adds 1e-5 to every probability before its log: clip back into [0, 1].
        raw = {
            label[len("__label__") :]: min(1.0, max(0.0, float(p)))
            for label, p in zip(labels, probs, strict=True)
        }
        row = [raw.get(str(i), 0.0) for i in range(len(task.labels))]
        if not task.multilabel:  # the hidden labels' share and the 1e-5s: renormalise
            total = sum(row) or 1.0
            row = [p / total for p in row]
        (prediction,) = distil.categories_predictions(
            task.labels, [row], multilabel=task.multilabel, thresholds=self.config.threshold
        )
        return prediction

    def _require_fitted(self) -> distil.TextCat:
        return distil.require_fitted(self, self._model, task_type=distil.TextCat)

    # -- save / load ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        task = self._require_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        self._model.save_model(str(folder / MODEL_FILE))
        distil.write_meta(
            folder,
            format=FORMAT,
            student=self.name,
            task=task.describe(),
            config=asdict(self.config),
            versions=distil.package_versions("fasttext", "distil"),
        )

    @classmethod
    def load(cls, path: str | Path) -> FastTextStudent:
        folder = Path(path)
        meta = distil.read_meta(
            folder, who=f"{cls.name} (distil-fasttext)", expected_format=FORMAT, needs=[MODEL_FILE]
        )
        student = cls(FastTextConfig(**meta["config"]))
        described = meta["task"]
        if isinstance(described, dict) and "kind" not in described:
            # Saved before meta.json held task.describe(): labels and multilabel only.
            described = {"kind": "textcat", **described}
        task = distil.task_from_description(described, source=folder / META_FILE)
        if not isinstance(task, distil.TextCat):
            raise distil.DataError(f"{folder / META_FILE}: {cls.name} saved a {task.kind} task")
        student.task = task
        student._model = _load(folder / MODEL_FILE)
        return student


def _train_in_child(args: dict[str, Any]) -> None:
    """Run :mod:`distil_fasttext._train` in a fresh interpreter (see its docstring for why)."""
    # Run by path, not with -m: importing the package would import distil (and pydantic) too.
    command = [sys.executable, str(Path(__file__).with_name("_train.py")), json.dumps(args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise RuntimeError(
            f"fastText training failed (exit {done.returncode}): " + " | ".join(tail)
        )


def _load(path: Path) -> Any:
    from fasttext.FastText import _FastText  # load_model without its deprecation warning

    return _FastText(model_path=str(path))
