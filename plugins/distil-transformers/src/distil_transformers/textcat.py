"""``TransformersTextcat``: a fine-tuned encoder for text classification (exclusive or multi-label).

The text's token vectors are mean-pooled (the pooling all-MiniLM-L6-v2 was trained with) and fed to
a linear head: softmax + cross-entropy for exclusive tasks, sigmoid + binary cross-entropy per label
for multi-label tasks, where a label is chosen when its probability reaches the threshold (0.5, or
one global threshold tuned on ``dev`` for micro-F1).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import distil

from .config import MAX_LENGTH_LIMIT, EncoderConfig
from .encoder import (
    Encoder,
    import_torch,
    length_limit,
    predict_batches,
    read_meta,
    sized_max_length,
    token_ids,
)
from .training import Evaluation, train

FORMAT = "distil-transformers.textcat/1"


class TransformersTextcat(distil.Student):
    """Fine-tuned encoder for ``textcat`` tasks.

    Every prediction scores every task label (softmax probabilities for exclusive tasks, sigmoid
    probabilities for multi-label ones) and has the toolkit's confidence
    (:func:`distil.label_confidence`): exclusive, the probability of the chosen label; multi-label with labels chosen, the smallest probability among them (the weakest
    "yes"); multi-label with none chosen, ``1 - max(p)`` (the weakest "no").
    """

    name: ClassVar[str] = "transformers.textcat"
    task_kinds: ClassVar[frozenset[str]] = frozenset({"textcat"})
    supports_multilabel: ClassVar[bool] = True

    def __init__(self, config: EncoderConfig | None = None) -> None:
        self.config = config or EncoderConfig()
        self.task: distil.TextCat | None = None
        self.report: dict[str, Any] = {}
        self.threshold = self.config.threshold
        #: Truncation length of ``predict``: ``max_length``, or the one sized to the training data.
        self.max_length = self.config.max_length or MAX_LENGTH_LIMIT
        self._encoder: Encoder | None = None

    # -- training ------------------------------------------------------------------------------
    def fit(
        self,
        task: distil.Task,
        train_pairs: list[distil.TrainPair],
        dev: list[distil.TrainPair] | None = None,
    ) -> dict[str, Any]:
        """Fine-tune on ``train_pairs``; with ``dev``, evaluate it as training goes (macro-F1 for
        exclusive tasks, micro-F1 at a tuned threshold for multi-label ones), stop after
        ``patience`` evaluations without gain and keep the best evaluation's weights."""
        self.check_task(task)
        if not isinstance(task, distil.TextCat):
            raise TypeError(f"{self.name} needs a TextCat task, got {type(task).__name__}")
        texts, targets = distil.textcat_targets(task, train_pairs, "train")
        if not texts:
            raise ValueError(f"{self.name}: training needs examples, got an empty training set")
        dev_texts, dev_targets = distil.textcat_targets(task, dev or [], "dev")
        torch = import_torch()
        cfg = self.config
        encoder = Encoder.start(cfg, len(task.labels))
        ids = token_ids(encoder, texts, length_limit(encoder, cfg))
        rows = [{"input_ids": row} for row in ids]
        self.task, self._encoder, self.threshold = task, encoder, cfg.threshold
        self.max_length = sized_max_length(cfg, [len(r) for r in ids])
        if task.multilabel:
            y = torch.zeros((len(texts), len(task.labels)), dtype=torch.float32)
            for i, idx in enumerate(targets):
                y[i, idx] = 1.0
            criterion: Any = torch.nn.BCEWithLogitsLoss()
        else:
            y = torch.tensor([idx[0] for idx in targets], dtype=torch.long)
            criterion = torch.nn.CrossEntropyLoss()

        def loss_fn(batch: dict[str, Any], indices: list[int]) -> Any:
            logits = _logits(encoder, batch, encoder.hidden(batch), training=True)
            return criterion(logits, y[indices])

        dev_gold = [set(t) for t in dev_targets]
        evaluate = (lambda: self._evaluate(dev_texts, dev_gold)) if dev_texts else None
        try:
            trained = train(encoder, cfg, rows, loss_fn, evaluate)
        except BaseException:
            self.task, self._encoder = None, None  # a failed fit leaves no half-trained student
            raise
        report: dict[str, Any] = {
            "student": self.name,
            "multilabel": task.multilabel,
            "n_train": len(texts),
            "pretrained": cfg.pretrained,
            "max_length": self.max_length,
            **trained,
        }
        if task.multilabel:
            report["threshold"] = f"fixed at {cfg.threshold}"
        if dev_texts:
            report["dev_metric"] = "micro_f1" if task.multilabel else "macro_f1"
            final = self._evaluate(dev_texts, dev_gold)  # the kept weights; sets the threshold
            if task.multilabel and cfg.tune_threshold:
                report["threshold"] = f"tuned on dev: {self.threshold}"
            predicted = [set(self._choose(row)[0]) for row in self._probabilities(dev_texts)]
            report["n_dev"] = len(dev_texts)
            report["dev_accuracy"] = round(
                sum(p == g for p, g in zip(predicted, dev_gold, strict=True)) / len(dev_gold), 4
            )
            report[f"dev_{report['dev_metric']}"] = round(final.score, 4)
        self.report = report
        return dict(report)

    def _evaluate(self, texts: list[str], gold: list[set[int]]) -> Evaluation:
        """Score the current weights on dev: macro-F1 (exclusive; over labels in gold or
        predictions, as ``distil evaluate`` does) or micro-F1 (multi-label, after tuning the
        threshold when ``tune_threshold``), and the mean dev loss."""
        task = self._require_fitted()
        proba = self._probabilities(texts)
        if task.multilabel and self.config.tune_threshold:
            tuned = distil.tune_thresholds(proba, gold, self.config.threshold, per_label=False)
            self.threshold = tuned.global_threshold
        predicted = [set(self._choose(row)[0]) for row in proba]
        if task.multilabel:
            score = _micro_f1(gold, predicted)
            details = {"dev_loss": _bce(proba, gold), "threshold": self.threshold}
        else:
            score = _macro_f1(gold, predicted)
            details = {"dev_loss": _cross_entropy(proba, gold)}
        return Evaluation(score, details)

    # -- prediction ----------------------------------------------------------------------------
    def predict(self, examples: list[distil.Example]) -> list[distil.StudentPrediction]:
        """One prediction per example, in order; batched, no gradients."""
        task = self._require_fitted()
        if not examples:
            return []
        return distil.categories_predictions(
            task.labels,
            self._probabilities([e.text for e in examples]),
            multilabel=task.multilabel,
            thresholds=self.threshold,
        )

    def _probabilities(self, texts: list[str]) -> list[list[float]]:
        """Probabilities per task label, one row per text, in input order."""
        task = self._require_fitted()
        encoder = self._encoder
        assert encoder is not None
        rows = [{"input_ids": r} for r in token_ids(encoder, texts, self.max_length)]
        out: list[list[float]] = [[] for _ in texts]
        for indices, batch, hidden in predict_batches(encoder, rows, self.config.n_threads):
            logits = _logits(encoder, batch, hidden, training=False)
            proba = logits.sigmoid() if task.multilabel else logits.softmax(dim=-1)
            for i, values in zip(indices, proba.tolist(), strict=True):
                out[i] = values
        return out

    def _choose(self, row: list[float]) -> tuple[list[int], float]:
        """The toolkit's choice and confidence rule (:func:`distil.choose_labels`), at the one
        global threshold."""
        task = self._require_fitted()
        return distil.choose_labels(row, multilabel=task.multilabel, thresholds=self.threshold)

    def _require_fitted(self) -> distil.TextCat:
        return distil.require_fitted(self, self._encoder, task_type=distil.TextCat)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write ``model.safetensors``, ``config.json``, the tokenizer files and ``meta.json``."""
        task = self._require_fitted()
        assert self._encoder is not None
        meta = {
            "format": FORMAT,
            "student": self.name,
            "task": task.describe(),
            "config": self.config.to_dict(),
            "threshold": self.threshold,
            "max_length": self.max_length,
            "fit_report": self.report,
        }
        self._encoder.save(Path(path), meta)

    @classmethod
    def load(cls, path: str | Path) -> TransformersTextcat:
        folder = Path(path)
        meta = read_meta(cls.__name__, folder, FORMAT)
        task = distil.task_from_description(meta["task"], source=folder / "meta.json")
        assert isinstance(task, distil.TextCat)
        student = cls(EncoderConfig.from_dict({**meta["config"], "model_path": None}))
        student.task = task
        student.threshold = float(meta["threshold"])
        student.max_length = int(meta.get("max_length") or student.config.max_length or 128)
        student.report = dict(meta.get("fit_report") or {})
        student._encoder = Encoder.load(folder, len(task.labels), float(meta["dropout"]))
        return student


def _logits(encoder: Encoder, batch: dict[str, Any], hidden: Any, training: bool) -> Any:
    """Mean-pool the token vectors over the attention mask, dropout, linear head."""
    torch = import_torch()
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    pooled = torch.nn.functional.dropout(pooled, p=encoder.dropout, training=training)
    return encoder.head(pooled)


def _micro_f1(gold: list[set[int]], predicted: list[set[int]]) -> float:
    tp = sum(len(g & p) for g, p in zip(gold, predicted, strict=True))
    total = sum(map(len, gold)) + sum(map(len, predicted))
    return 2 * tp / total if total else 0.0


def _macro_f1(gold: list[set[int]], predicted: list[set[int]]) -> float:
    """Macro-F1 over the labels present in gold or predictions (``distil evaluate``'s macro)."""
    tp: dict[int, int] = {}
    fp: dict[int, int] = {}
    fn: dict[int, int] = {}
    for g, p in zip(gold, predicted, strict=True):
        for j in g & p:
            tp[j] = tp.get(j, 0) + 1
        for j in p - g:
            fp[j] = fp.get(j, 0) + 1
        for j in g - p:
            fn[j] = fn.get(j, 0) + 1
    labels = set(tp) | set(fp) | set(fn)
    if not labels:
        return 0.0
    f1s = [2 * tp.get(j, 0) / (2 * tp.get(j, 0) + fp.get(j, 0) + fn.get(j, 0)) for j in labels]
    return sum(f1s) / len(labels)


def _cross_entropy(proba: list[list[float]], gold: list[set[int]]) -> float:
    """Mean negative log-probability of the gold label (exclusive tasks)."""
    total = sum(-math.log(max(row[min(g)], 1e-12)) for row, g in zip(proba, gold, strict=True))
    return total / len(gold)


def _bce(proba: list[list[float]], gold: list[set[int]]) -> float:
    """Mean binary cross-entropy per label (multi-label tasks)."""
    total = 0.0
    for row, g in zip(proba, gold, strict=True):
        for j, p in enumerate(row):
            total -= math.log(max(p if j in g else 1.0 - p, 1e-12))
    return total / (len(gold) * len(proba[0]))
