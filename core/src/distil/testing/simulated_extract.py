"""A simulated LLM teacher for ``extract`` tasks: fills records from gold, at a chosen per-field accuracy.

The extraction counterpart of :class:`~distil.testing.simulated.SimulatedTeacher`: benchmarks need
an extraction teacher about as good as a real LLM (the embedded 135M/270M models score near 0
exact), with no network. :class:`SimulatedExtractTeacher` is the answer function of a
:class:`~distil.testing.loopback.LoopbackLLM`; it finds the example's text in the request (the
same lookup as the classification teacher), takes that row's gold record
(:meth:`ExtractTask.reference <distil.tasks.extract.ExtractTask.reference>`) and answers it as
JSON, with errors drawn field by field::

    with simulated_extract_llm(rows, task, accuracy=0.9, seed=0) as sim:
        cfg_text = cfg_text.replace(old_teacher_block, sim.config_snippet())

What a caller may rely on:

* **Which fields are asked.** A row's *filled* fields are the top-level fields its gold record
  gives a value (not None, not ``[]``, not ``""``): for SNIPS, the intent and the slots the query
  has. Each is answered right with probability ``accuracy``, independently (a seeded draw per row
  and field), so the share of filled fields answered right over many rows is ``accuracy``
  within sampling error. Fields the gold leaves empty stay empty, unless ``hallucinate`` > 0:
  then each gets, with that probability, a value of the field from another record.
* **What a wrong field holds.** With probability ``empty`` (when the field may be empty: an
  optional or list field) no value (None or ``[]``, as the schema's default); otherwise a value
  of the same field from another row's gold record, different from this row's, chosen by the seed
  (more frequent values more often, as they occur in the file). A field no other row gives
  another value is answered empty. A wrong value need not occur in the text (an LLM makes up
  values), so a span subtask cannot place it: :meth:`~distil.extract.plan.Plan.split` leaves the
  record out of that subtask, and the annotation app shows it in ``spans/check:not-in-text``.
* **Determinism.** Every draw is seeded by strings (row id, text, field), as in
  :mod:`distil.testing.simulated`: the same rows and seed give the same answers in any process.
* **Bookkeeping.** :attr:`answers` holds the record answered per row; :attr:`tally` counts per
  field ``right`` / ``wrong`` / ``empty`` (the wrong answers that are empty) / ``hallucinated``,
  which :meth:`field_accuracy` turns into the realised per-field accuracy.
* **The format.** The answer is the record as JSON (what the extract prompt and its structured
  output ask for). A text the rows do not hold gets a seeded row's answer and counts in
  :attr:`unmatched`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..records import Example, Extraction
from .loopback import LoopbackLLM
from .loopback_openai import install_openai
from .simulated import SimulatedLLM, _read_gold, _rng, _TextIndex, _user_messages

__all__ = ["SimulatedExtractLLM", "SimulatedExtractTeacher", "simulated_extract_llm"]


def _filled(value: Any) -> bool:
    return value not in (None, "", [], {})


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


class SimulatedExtractTeacher:
    """An extraction LLM simulated from gold records (see the module docstring).

    ``gold``: SNIPS-shaped rows (a JSONL path or the examples), each with a gold record through
    ``task.reference``. ``task``: the :class:`~distil.tasks.extract.ExtractTask`. ``accuracy``:
    the chance each filled field is right, in [0, 1]. ``empty``: the chance a wrong field is
    empty instead of another row's value. ``hallucinate``: the chance an empty field gets a value.
    """

    logprobs = False

    def __init__(
        self,
        gold: str | Path | Sequence[Example],
        task: Any,
        *,
        accuracy: float,
        empty: float = 0.25,
        hallucinate: float = 0.0,
        seed: int | str = 0,
    ) -> None:
        for name, p in (("accuracy", accuracy), ("empty", empty), ("hallucinate", hallucinate)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"simulated extract teacher: {name} must be in [0, 1], got {p}")
        examples, where = _read_gold(gold)
        if not examples:
            raise ValueError(f"simulated extract teacher: {where} holds no examples")
        self.task = task
        self.accuracy, self.empty, self.hallucinate, self.seed = accuracy, empty, hallucinate, seed
        self.examples: list[Example] = examples
        self.gold: list[dict[str, Any]] = []
        for ex in examples:
            ref = task.reference(ex)
            if not isinstance(ref, Extraction):
                raise ValueError(
                    f"simulated extract teacher: example {ex.id!r} of {where} has no gold record "
                    "(it needs labels/spans or meta['record'])"
                )
            self.gold.append(ref.data)
        fields = task.schema.model_fields
        self.fields: list[str] = list(fields)
        #: What "no value" is per field (its default when it has one: None or []), or None when
        #: the field is required (it cannot be answered empty).
        self.empties: dict[str, Any] = {}
        for name, info in fields.items():
            if not info.is_required():
                self.empties[name] = info.get_default(call_default_factory=True)
        #: field -> every filled gold value in file order (repeats kept: frequency weights them).
        self.pool: dict[str, list[Any]] = {name: [] for name in self.fields}
        for record in self.gold:
            for name in self.fields:
                if _filled(record.get(name)):
                    self.pool[name].append(record[name])
        self.tally: dict[str, dict[str, int]] = {
            name: {"right": 0, "wrong": 0, "empty": 0, "hallucinated": 0} for name in self.fields
        }
        self.answers: list[dict[str, Any]] = [
            self._answer_row(ex, record) for ex, record in zip(examples, self.gold, strict=True)
        ]
        self._index = _TextIndex([ex.text.strip() for ex in examples])
        self._lock = threading.Lock()
        #: Requests whose text is not among the rows (answered with a seeded row's record).
        self.unmatched = 0

    def _other_value(self, rng: Any, name: str, value: Any) -> Any:
        pool = self.pool[name]
        own = _key(value)
        for _ in range(20):  # rejection sampling keeps the file's frequencies
            pick = pool[rng.randrange(len(pool))] if pool else None
            if pick is not None and _key(pick) != own:
                return pick
        others = [v for v in pool if _key(v) != own]
        return others[rng.randrange(len(others))] if others else None

    def _answer_row(self, ex: Example, record: dict[str, Any]) -> dict[str, Any]:
        out = dict(record)
        for name in self.fields:
            rng = _rng(self.seed, "extract-field", ex.id, ex.text, name)
            value = record.get(name)
            count = self.tally[name]
            if not _filled(value):
                if self.hallucinate and rng.random() < self.hallucinate and self.pool[name]:
                    out[name] = self.pool[name][rng.randrange(len(self.pool[name]))]
                    count["hallucinated"] += 1
                continue
            if rng.random() < self.accuracy:
                count["right"] += 1
                continue
            count["wrong"] += 1
            can_be_empty = name in self.empties
            other = None
            if not (can_be_empty and rng.random() < self.empty):
                other = self._other_value(rng, name, value)
            if other is None:
                if can_be_empty:
                    out[name] = self.empties[name]
                    count["empty"] += 1
                else:  # a required field with no other value: the best wrong answer is none
                    count["wrong"] -= 1
                    count["right"] += 1
                continue
            out[name] = other
        return out

    def field_accuracy(self) -> dict[str, float]:
        """The realised share of filled fields answered right, per field that had any."""
        return {
            name: c["right"] / (c["right"] + c["wrong"])
            for name, c in self.tally.items()
            if c["right"] + c["wrong"]
        }

    def overall_accuracy(self) -> float:
        """The realised share of all filled fields (every row, every field) answered right."""
        right = sum(c["right"] for c in self.tally.values())
        return right / max(1, right + sum(c["wrong"] for c in self.tally.values()))

    def row_for(self, request: dict[str, Any]) -> int | None:
        for message in reversed(_user_messages(request)):
            row = self._index.find(message)
            if row is not None:
                return row
        return None

    def record_for(self, request: dict[str, Any]) -> dict[str, Any]:
        """The record this teacher answers to ``request`` (a normalised loopback request)."""
        row = self.row_for(request)
        if row is None:
            with self._lock:
                self.unmatched += 1
            users = _user_messages(request)
            rng = _rng(self.seed, "extract-unmatched", users[-1] if users else "")
            row = rng.randrange(len(self.answers))
        return self.answers[row]

    def answer(self, request: dict[str, Any]) -> str:
        """The answer text for a normalised loopback request (``LoopbackLLM(answer=...)``)."""
        return json.dumps(self.record_for(request), ensure_ascii=False)

    @property
    def model_name(self) -> str:
        """``simulated-extract-90``: what this is, as a model name."""
        return f"simulated-extract-{round(self.accuracy * 100, 2):g}"


@dataclass
class SimulatedExtractLLM(SimulatedLLM):
    """A running simulated extraction LLM: :class:`~distil.testing.simulated.SimulatedLLM`'s
    provider block, overrides and config snippet, with a :class:`SimulatedExtractTeacher`."""

    teacher: SimulatedExtractTeacher  # type: ignore[assignment]
    max_tokens: int = 512


@contextmanager
def simulated_extract_llm(
    gold: str | Path | Sequence[Example],
    task: Any,
    *,
    accuracy: float,
    empty: float = 0.25,
    hallucinate: float = 0.0,
    seed: int | str = 0,
    api_key: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    concurrency: int = 8,
) -> Iterator[SimulatedExtractLLM]:
    """A loopback server with the OpenAI routes, answered by a :class:`SimulatedExtractTeacher`
    (no logprobs). The server binds 127.0.0.1 and stops when the block ends."""
    teacher = SimulatedExtractTeacher(
        gold, task, accuracy=accuracy, empty=empty, hallucinate=hallucinate, seed=seed
    )
    with LoopbackLLM(answer=teacher.answer) as server:
        install_openai(server, api_key=api_key, models=[teacher.model_name], logprobs=False)
        yield SimulatedExtractLLM(
            server=server, teacher=teacher, api_key_env=api_key_env, concurrency=concurrency
        )
