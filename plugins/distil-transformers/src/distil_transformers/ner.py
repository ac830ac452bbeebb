"""``TransformersNer``: a fine-tuned encoder for named-entity recognition (task kind ``ner``).

Token classification with BIO tags over *words*: a word is what the tokenizer's pre-tokenizer
splits (whitespace and punctuation for BERT tokenizers), and its character extent comes from the
tokenizer's offsets into the original text. Only a word's first sub-token is trained and read
(the others are ignored), so predicted spans always start and end on word boundaries. Decoding is
lenient: an ``I-X`` tag after ``O`` or another label starts a new ``X`` entity.

Gold spans are mapped to words by overlap; a span whose edges fall inside a word is widened to the
word (the fit report counts them as ``spans_widened``). Text beyond ``max_length`` tokens is
truncated and gets no entities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import distil

from .config import MAX_LENGTH_LIMIT, EncoderConfig
from .encoder import (
    TOKENIZE_CHUNK,
    Encoder,
    import_torch,
    length_limit,
    predict_batches,
    read_meta,
    sized_max_length,
)
from .training import Evaluation, train

FORMAT = "distil-transformers.ner/1"
#: Target of sub-tokens that are not trained (special tokens, second and later word pieces).
IGNORE = -100


@dataclass
class _Row:
    """One tokenised text: token ids, the token index of each word's first piece, word extents."""

    input_ids: list[int]
    first_token: list[int]
    words: list[tuple[int, int]]

    def __getitem__(self, key: str) -> list[int]:  # what Encoder.collate reads
        assert key == "input_ids"
        return self.input_ids


def bio_tags(labels: list[str]) -> list[str]:
    """``O`` then ``B-X``, ``I-X`` for each label ``X``, in the task's label order."""
    return ["O"] + [f"{prefix}-{label}" for label in labels for prefix in ("B", "I")]


def word_tags(
    words: list[tuple[int, int]], spans: list[distil.Span], tags: list[str]
) -> tuple[list[int], int]:
    """A BIO tag index per word for gold ``spans``, and how many spans had to be widened."""
    index = {tag: i for i, tag in enumerate(tags)}
    out = [0] * len(words)
    widened = 0
    for span in spans:
        inside = [w for w, (s, e) in enumerate(words) if s < span.end and e > span.start]
        if not inside:
            continue
        if words[inside[0]][0] != span.start or words[inside[-1]][1] != span.end:
            widened += 1
        for n, w in enumerate(inside):
            out[w] = index[f"{'B' if n == 0 else 'I'}-{span.label}"]
    return out, widened


def decode(
    words: list[tuple[int, int]], tag_ids: list[int], probs: list[float], tags: list[str]
) -> tuple[list[distil.Span], float]:
    """Character spans from word tags, and the confidence: the smallest, over entities, of the
    mean probability of the entity's word tags (1.0 when no entity is predicted)."""
    spans: list[distil.Span] = []
    confidences: list[float] = []
    current: tuple[str, int, int, list[float]] | None = None

    def close() -> None:
        if current is not None:
            label, start, end, ps = current
            spans.append(distil.Span(start=start, end=end, label=label))
            confidences.append(sum(ps) / len(ps))

    for (start, end), tag_id, p in zip(words, tag_ids, probs, strict=True):
        tag = tags[tag_id]
        if tag == "O":
            close()
            current = None
            continue
        prefix, label = tag.split("-", 1)
        if prefix == "I" and current is not None and current[0] == label:
            current = (label, current[1], end, [*current[3], p])
        else:
            close()
            current = (label, start, end, [p])
    close()
    return spans, (min(confidences) if confidences else 1.0)


class TransformersNer(distil.Student):
    """Fine-tuned encoder for ``ner`` tasks (non-overlapping entities); see the module doc."""

    name: ClassVar[str] = "transformers.ner"
    task_kinds: ClassVar[frozenset[str]] = frozenset({"ner"})
    supports_multilabel: ClassVar[bool] = False

    def __init__(self, config: EncoderConfig | None = None) -> None:
        self.config = config or EncoderConfig()
        self.task: distil.Task | None = None
        self.tags: list[str] = []
        self.report: dict[str, Any] = {}
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
        self.check_task(task)
        if not train_pairs:
            raise ValueError(f"{self.name}: training needs examples, got an empty training set")
        spans_of = _checked_spans(task, train_pairs, "train")
        torch = import_torch()
        cfg = self.config
        tags = bio_tags(task.labels)
        encoder = Encoder.start(cfg, len(tags))
        rows = _rows(encoder, [e.text for e, _ in train_pairs], length_limit(encoder, cfg))
        self.max_length = sized_max_length(cfg, [len(r.input_ids) for r in rows])
        targets: list[list[int]] = []
        widened = 0
        for row, spans in zip(rows, spans_of, strict=True):
            per_word, n = word_tags(row.words, spans, tags)
            widened += n
            target = [IGNORE] * len(row.input_ids)
            for w, t in enumerate(row.first_token):
                target[t] = per_word[w]
            targets.append(target)
        criterion = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)

        def loss_fn(batch: dict[str, Any], indices: list[int]) -> Any:
            hidden = encoder.hidden(batch)
            hidden = torch.nn.functional.dropout(hidden, p=encoder.dropout, training=True)
            logits = encoder.head(hidden)
            y = torch.full(logits.shape[:2], IGNORE, dtype=torch.long)
            for b, i in enumerate(indices):
                y[b, : len(targets[i])] = torch.tensor(targets[i], dtype=torch.long)
            return criterion(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

        gold = _checked_spans(task, dev, "dev") if dev else []
        dev_inputs = [e for e, _ in dev or []]

        def evaluate() -> Evaluation:
            predicted = [p.output for p in self.predict(dev_inputs)]
            return Evaluation(span_f1(gold, predicted), {})  # type: ignore[arg-type]

        self.task, self.tags, self._encoder = task, tags, encoder
        try:
            trained = train(encoder, cfg, rows, loss_fn, evaluate if dev else None)
        except BaseException:
            self.task, self._encoder = None, None  # a failed fit leaves no half-trained student
            raise
        report: dict[str, Any] = {
            "student": self.name,
            "n_train": len(rows),
            "n_spans": sum(map(len, spans_of)),
            "spans_widened": widened,
            "pretrained": cfg.pretrained,
            "max_length": self.max_length,
            **trained,
        }
        if dev:
            predicted = [p.output for p in self.predict(dev_inputs)]
            report["n_dev"] = len(dev)
            report["dev_metric"] = "span_f1"
            report["dev_span_f1"] = round(span_f1(gold, predicted), 4)  # type: ignore[arg-type]
        self.report = report
        return dict(report)

    # -- prediction ----------------------------------------------------------------------------
    def predict(self, examples: list[distil.Example]) -> list[distil.StudentPrediction]:
        """One ``Spans`` prediction per example, in order; batched, no gradients."""
        self._require_fitted()
        encoder = self._encoder
        assert encoder is not None
        if not examples:
            return []
        rows = _rows(encoder, [e.text for e in examples], self.max_length)
        results: list[distil.StudentPrediction | None] = [None] * len(rows)
        for indices, _, hidden in predict_batches(encoder, rows, self.config.n_threads):
            probs = encoder.head(hidden).softmax(dim=-1)
            best_p, best = probs.max(dim=-1)
            best_p, best = best_p.tolist(), best.tolist()
            for b, i in enumerate(indices):
                row = rows[i]
                tag_ids = [best[b][t] for t in row.first_token]
                ps = [best_p[b][t] for t in row.first_token]
                spans, confidence = decode(row.words, tag_ids, ps, self.tags)
                results[i] = distil.StudentPrediction(distil.Spans(spans=spans), confidence)
        return [r for r in results if r is not None]

    def _require_fitted(self) -> distil.Task:
        return distil.require_fitted(self, self._encoder)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write ``model.safetensors``, ``config.json``, the tokenizer files and ``meta.json``."""
        task = self._require_fitted()
        assert self._encoder is not None
        meta = {
            "format": FORMAT,
            "student": self.name,
            "task": task.describe(),
            "tags": self.tags,
            "config": self.config.to_dict(),
            "max_length": self.max_length,
            "fit_report": self.report,
        }
        self._encoder.save(Path(path), meta)

    @classmethod
    def load(cls, path: str | Path) -> TransformersNer:
        folder = Path(path)
        meta = read_meta(cls.__name__, folder, FORMAT)
        student = cls(EncoderConfig.from_dict({**meta["config"], "model_path": None}))
        student.task = distil.task_from_description(meta["task"], source=folder / "meta.json")
        student.tags = list(meta["tags"])
        student.max_length = int(meta.get("max_length") or student.config.max_length or 128)
        student.report = dict(meta.get("fit_report") or {})
        student._encoder = Encoder.load(folder, len(student.tags), float(meta["dropout"]))
        return student


def _rows(encoder: Encoder, texts: list[str], max_length: int) -> list[_Row]:
    """Tokenise with offsets (in chunks: only token ids and word extents are kept); group
    sub-tokens into words (``word_ids``) with their extents."""
    rows = []
    for start in range(0, len(texts), TOKENIZE_CHUNK):
        rows.extend(_chunk_rows(encoder, texts[start : start + TOKENIZE_CHUNK], max_length))
    return rows


def _chunk_rows(encoder: Encoder, texts: list[str], max_length: int) -> list[_Row]:
    encoded = encoder.tokenize(texts, max_length, offsets=True)
    rows = []
    for i, ids in enumerate(encoded["input_ids"]):
        offsets = encoded["offset_mapping"][i]
        first: list[int] = []
        words: list[tuple[int, int]] = []
        seen: dict[int, int] = {}
        for t, word in enumerate(encoded.word_ids(i)):
            start, end = offsets[t]
            if word is None or end <= start:
                continue
            if word not in seen:
                seen[word] = len(words)
                first.append(t)
                words.append((start, end))
            else:
                w = seen[word]
                words[w] = (words[w][0], max(words[w][1], end))
        rows.append(_Row(list(ids), first, words))
    return rows


def _checked_spans(
    task: distil.Task, pairs: list[distil.TrainPair], split: str
) -> list[list[distil.Span]]:
    out = []
    for n, (example, output) in enumerate(pairs):
        try:
            checked = task.validate_output(output)
        except distil.ParseError as exc:
            raise ValueError(f"{split} pair {n} (example {example.id!r}): {exc}") from exc
        assert isinstance(checked, distil.Spans)
        out.append(list(checked.spans))
    return out


def span_f1(gold: list[list[distil.Span]], predicted: list[distil.Spans]) -> float:
    """Span-exact micro-F1 (same start, end and label)."""
    tp = n_gold = n_pred = 0
    for g, p in zip(gold, predicted, strict=True):
        want = {(s.start, s.end, s.label) for s in g}
        got = {(s.start, s.end, s.label) for s in p.spans}
        tp += len(want & got)
        n_gold += len(want)
        n_pred += len(got)
    return 2 * tp / (n_gold + n_pred) if n_gold + n_pred else 1.0
