"""A simulated LLM teacher: answers classification requests from gold labels, at a chosen accuracy.

Benchmarks and tests need a teacher about as good as a real LLM (GPT-4-class models are about 85%
accurate on banking77) with no network. :class:`SimulatedTeacher` is the answer function of a
:class:`~distil.testing.loopback.LoopbackLLM`: it finds the example's text in the request, looks up
its gold labels, and answers them, except on a seeded set of exactly ``round((1 - accuracy) * n)``
of the file's ``n`` examples, where it answers a wrong label::

    with simulated_llm(gold_path, accuracy=0.85, errors="systematic", seed=0) as sim:
        project = Project.from_config("distil.cfg", overrides=sim.config_overrides())

What a caller may rely on:

* **Exactness.** Labelling the whole gold file gives exactly ``n - round((1 - accuracy) * n)``
  answers equal to the gold labels (as sets, for multi-label). The wrong rows are the first ones
  of a seeded permutation, so a higher accuracy's wrong rows are a subset of a lower one's.
* **Determinism.** Everything is drawn from string seeds (hashed with SHA-512 by :mod:`random`,
  not by Python's randomised ``hash``): the same file and seed give the same answers in every run
  and process; another seed gives other wrong rows.
* **Errors.** ``errors="uniform"``: a wrong answer is any other label. ``errors="systematic"``:
  each label is confused only with its ``confusers`` (default 3) most similar labels by name
  (word overlap and character-trigram overlap of the names, ties broken by the seed), which is
  how real LLMs err (``top_up_failed`` for ``pending_top_up``). A multi-label error replaces one
  gold label by a confuser of it (systematic) or by a random label (uniform); an example with
  no gold label gets one label added. :attr:`confusions` lists every label's confusers.
* **The text lookup.** The gold texts (whitespace-stripped) that occur exactly in the last user
  message of the request (earlier user messages when none does, as in a re-ask); the longest
  wins. A text the file does not hold (or a request with no user message) still gets an answer,
  as an LLM answers anything: a label chosen by the seed and the message, the same every time;
  :attr:`unmatched` counts them. Repeated texts answer as their first row.
* **The format.** With a JSON schema (structured output) the answer is JSON of the schema's
  shape (``{"labels": [...]}``, or ``{"label": ...}``); without one it is the JSON the default
  prompt asks for when the prompt asks for it, else the label(s) as plain text. No logprobs,
  like most real LLM APIs; with ``logprobs=True`` :meth:`confidence` gives fake ones (higher on
  right answers than on wrong ones, seeded) that :func:`simulated_llm` serves.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..records import Example
from .loopback import LoopbackLLM
from .loopback_openai import install_openai

__all__ = ["SimulatedLLM", "SimulatedTeacher", "name_similarity", "simulated_llm"]

Errors = Literal["uniform", "systematic"]
ERRORS = ("uniform", "systematic")
#: Fake confidences (with ``logprobs=True``): drawn uniformly from these ranges per row.
RIGHT_CONFIDENCE = (0.75, 0.99)
WRONG_CONFIDENCE = (0.35, 0.85)
UNKNOWN_CONFIDENCE = 0.5
#: Gold texts are found by their first ANCHOR characters; shorter texts by their whole length.
ANCHOR = 8


def _words(label: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", label.lower())


def _trigrams(label: str) -> set[str]:
    padded = " " + " ".join(_words(label)) + " "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def name_similarity(a: str, b: str) -> float:
    """How alike two label names are, in [0, 1]: the mean of word Jaccard and trigram Dice.

    ``card_arrival`` and ``card_acceptance`` share a word and several trigrams; ``age_limit`` and
    ``top_up_limits`` share only trigrams. Names are compared lower-cased, split on non-letters.
    """
    wa, wb = set(_words(a)), set(_words(b))
    ta, tb = _trigrams(a), _trigrams(b)
    words = len(wa & wb) / len(wa | wb) if wa | wb else 0.0
    grams = 2 * len(ta & tb) / (len(ta) + len(tb)) if ta or tb else 0.0
    return (words + grams) / 2


def _tiebreak(seed: int | str, *parts: str) -> str:
    return hashlib.sha256("\x00".join([str(seed), *parts]).encode("utf-8")).hexdigest()


def _rng(seed: int | str, *parts: str) -> random.Random:
    return random.Random("\x00".join(["distil-simulated", str(seed), *parts]))


class _TextIndex:
    """Finds the longest indexed text contained in a message, in O(len(message)) dict lookups.

    Texts of at least ANCHOR characters are keyed by their first ANCHOR characters; shorter ones
    by themselves, looked up at each length that occurs. Fast for tens of thousands of texts.
    """

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.exact: dict[str, int] = {}
        self.anchors: dict[str, list[int]] = {}
        self.short: dict[str, int] = {}
        for i, text in enumerate(self.texts):
            if not text or text in self.exact:
                continue  # an empty text cannot be found; a repeated one answers as its first row
            self.exact[text] = i
            if len(text) >= ANCHOR:
                self.anchors.setdefault(text[:ANCHOR], []).append(i)
            else:
                self.short[text] = i
        self.short_lengths = sorted({len(t) for t in self.short}, reverse=True)

    def find(self, message: str) -> int | None:
        hit = self.exact.get(message.strip())
        if hit is not None:
            return hit
        best, best_len = None, 0
        for pos in range(len(message)):
            for i in self.anchors.get(message[pos : pos + ANCHOR], ()):
                text = self.texts[i]
                if len(text) > best_len and message.startswith(text, pos):
                    best, best_len = i, len(text)
            if best_len < ANCHOR:
                for length in self.short_lengths:
                    if length <= best_len:
                        break
                    i_short = self.short.get(message[pos : pos + length])
                    if i_short is not None:
                        best, best_len = i_short, length
                        break
        return best


def _read_gold(gold: str | Path | Sequence[Example]) -> tuple[list[Example], str]:
    if isinstance(gold, str | Path):
        from ..errors import DataError
        from ..store.jsonl import read_jsonl

        result = read_jsonl(Path(gold))
        if result.errors:
            raise DataError(
                f"simulated teacher: {result.errors[0]} ({len(result.errors)} bad line(s)); "
                "fix the gold file: every row must be a valid {id, text, labels} record"
            )
        return result.examples, str(gold)
    return list(gold), "the gold examples"


class SimulatedTeacher:
    """An LLM teacher simulated from gold labels; use :meth:`answer` as a loopback answer function.

    ``gold``: a JSONL file of ``{"id", "text", "labels"}`` rows, or the examples themselves.
    ``accuracy``: the share of rows answered right, in [0, 1]. ``errors``: ``"uniform"`` or
    ``"systematic"`` (see the module docstring). ``seed``: any int or string. ``labels``: the
    task's label set (default: the gold file's labels, sorted); every gold label must be in it.
    ``confusers``: how many labels each label is confused with under systematic errors (fewer
    when the task has fewer other labels). ``confusions``: your own label -> confusers map
    instead (every label of the set needs an entry). ``logprobs``: whether :func:`simulated_llm`
    serves fake logprobs (:meth:`confidence`).
    """

    def __init__(
        self,
        gold: str | Path | Sequence[Example],
        *,
        accuracy: float,
        errors: Errors = "systematic",
        seed: int | str = 0,
        labels: Sequence[str] | None = None,
        confusers: int = 3,
        confusions: Mapping[str, Sequence[str]] | None = None,
        logprobs: bool = False,
    ) -> None:
        if not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"simulated teacher: accuracy must be in [0, 1], got {accuracy}")
        if errors not in ERRORS:
            raise ValueError(f"simulated teacher: errors must be one of {ERRORS}, got {errors!r}")
        if confusers < 1:
            raise ValueError(f"simulated teacher: confusers must be at least 1, got {confusers}")
        examples, where = _read_gold(gold)
        if not examples:
            raise ValueError(f"simulated teacher: {where} holds no examples")
        unlabelled = [ex.id for ex in examples if ex.labels is None]
        if unlabelled:
            raise ValueError(
                f"simulated teacher: {len(unlabelled)} example(s) of {where} have no labels "
                f"(first: id {unlabelled[0]!r}); it needs a gold-labelled classification file"
            )
        gold_labels = sorted({label for ex in examples for label in ex.labels or []})
        self.labels: list[str] = list(labels) if labels is not None else gold_labels
        unknown = sorted(set(gold_labels) - set(self.labels))
        if unknown:
            raise ValueError(
                f"simulated teacher: gold label(s) {unknown} of {where} are not in labels; "
                "pass the task's full label set"
            )
        if accuracy < 1.0 and len(self.labels) < 2:
            raise ValueError("simulated teacher: a wrong answer needs at least two labels")
        self.accuracy, self.errors, self.seed = accuracy, errors, seed
        self.logprobs = logprobs
        self.examples: list[Example] = examples
        #: label -> the labels it is confused with (systematic errors), most similar first.
        self.confusions: dict[str, list[str]] = (
            _checked_confusions(confusions, self.labels)
            if confusions is not None
            else self._similar_labels(confusers)
        )
        order = list(range(len(examples)))
        _rng(seed, "wrong-rows").shuffle(order)
        wrong = round((1.0 - accuracy) * len(examples))
        #: Positions (0-based rows of the file) answered wrongly, and their ids.
        self.wrong_rows: frozenset[int] = frozenset(order[:wrong])
        self.wrong_ids: frozenset[str] = frozenset(examples[i].id for i in self.wrong_rows)
        #: The labels answered for each row, in file order.
        self.answers: list[list[str]] = [
            self._wrong_labels(ex) if i in self.wrong_rows else list(ex.labels or [])
            for i, ex in enumerate(examples)
        ]
        self._confidence = [
            _rng(seed, "confidence", ex.id, ex.text).uniform(
                *(WRONG_CONFIDENCE if i in self.wrong_rows else RIGHT_CONFIDENCE)
            )
            for i, ex in enumerate(examples)
        ]
        self._index = _TextIndex([ex.text.strip() for ex in examples])
        self._lock = threading.Lock()
        #: Requests whose text is not in the gold file (answered with a seeded label anyway).
        self.unmatched = 0

    # -- what it answers ----------------------------------------------------------------------
    def _similar_labels(self, count: int) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for label in self.labels:
            others = [o for o in self.labels if o != label]
            others.sort(
                key=lambda o: (-round(name_similarity(label, o), 9), _tiebreak(self.seed, label, o))
            )
            out[label] = others[:count]
        return out

    def _wrong_labels(self, example: Example) -> list[str]:
        rng = _rng(self.seed, "wrong-label", example.id, example.text)
        gold = list(example.labels or [])
        if not gold:  # multi-label with nothing to confuse: an error adds a label
            return [rng.choice(self.labels)]
        slot = rng.randrange(len(gold))
        if self.errors == "systematic":
            pool = [c for c in self.confusions[gold[slot]] if c not in gold]
            if not pool:  # every confuser of that label is gold too: confuse another gold label
                pool = [c for g in gold for c in self.confusions[g] if c not in gold]
        else:
            pool = []
        if not pool:
            pool = [label for label in self.labels if label not in gold]
        if not pool:  # gold holds every label: the error drops one
            return gold[:slot] + gold[slot + 1 :]
        return [*gold[:slot], rng.choice(pool), *gold[slot + 1 :]]

    def row_for(self, request: Mapping[str, Any]) -> int | None:
        """The gold row whose text the request holds (see the module docstring), or None."""
        for message in reversed(_user_messages(request)):
            row = self._index.find(message)
            if row is not None:
                return row
        return None

    def labels_for(self, request: Mapping[str, Any]) -> list[str]:
        """The labels this teacher answers to ``request`` (a normalised loopback request)."""
        row = self.row_for(request)
        if row is not None:
            return list(self.answers[row])
        with self._lock:
            self.unmatched += 1
        users = _user_messages(request)
        text = users[-1] if users else ""
        choices = _enum(request.get("schema")) or self.labels
        return [_rng(self.seed, "unmatched", text).choice(choices)]

    def answer(self, request: dict[str, Any]) -> str:
        """The answer text for a normalised loopback request (``LoopbackLLM(answer=...)``)."""
        labels = self.labels_for(request)
        schema = request.get("schema")
        if isinstance(schema, Mapping):
            return json.dumps(_shaped(schema, labels), ensure_ascii=False)
        if '{"labels"' in str(request.get("system", "")):  # the prompt asks for this JSON
            return json.dumps({"labels": labels}, ensure_ascii=False)
        return ", ".join(labels)

    def confidence(self, request: dict[str, Any]) -> float:
        """A fake probability of the answer (for fake logprobs): seeded, lower on wrong rows."""
        row = self.row_for(request)
        return self._confidence[row] if row is not None else UNKNOWN_CONFIDENCE

    @property
    def model_name(self) -> str:
        """A model name that says what this is: ``simulated-85-systematic``."""
        return f"simulated-{round(self.accuracy * 100, 2):g}-{self.errors}"


def _checked_confusions(
    confusions: Mapping[str, Sequence[str]], labels: list[str]
) -> dict[str, list[str]]:
    """A caller's confusion map, checked: every label has confusers, each another known label."""
    missing = [label for label in labels if not confusions.get(label)]
    if missing:
        raise ValueError(
            f"simulated teacher: confusions has no confusers for {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}; give every label at least one"
        )
    out = {label: list(confusions[label]) for label in labels}
    bad = sorted({c for label, cs in out.items() for c in cs if c not in labels or c == label})
    if bad:
        raise ValueError(
            f"simulated teacher: confusions name {bad}, which are not other labels of the set"
        )
    return out


def _user_messages(request: Mapping[str, Any]) -> list[str]:
    messages = request.get("messages") or []
    return [
        str(m.get("content") or "")
        for m in messages
        if isinstance(m, Mapping) and m.get("role") == "user"
    ]


def _labels_schema(schema: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return None
    for key in ("labels", "label"):
        if isinstance(props.get(key), Mapping):
            return key, props[key]
    return None


def _enum(schema: Any) -> list[str] | None:
    """The label names a schema allows (its ``labels`` items' or ``label``'s enum), if any."""
    found = _labels_schema(schema) if isinstance(schema, Mapping) else None
    if found is None:
        return None
    node = found[1].get("items", found[1])
    values = node.get("enum") if isinstance(node, Mapping) else None
    return [str(v) for v in values] if isinstance(values, list) and values else None


def _shaped(schema: Mapping[str, Any], labels: list[str]) -> dict[str, Any]:
    """``labels`` in the shape the schema asks for: ``{"labels": [...]}`` or ``{"label": ...}``."""
    found = _labels_schema(schema)
    if found is None:
        return {"labels": labels}
    key, node = found
    if key == "label" or node.get("type") == "string":
        return {key: labels[0] if labels else ""}
    most = node.get("maxItems")
    return {key: labels[:most] if isinstance(most, int) else labels}


@dataclass
class SimulatedLLM:
    """A running simulated LLM: the loopback server, its teacher, and how a config points at it.

    ``url`` is the server's root (``http://127.0.0.1:PORT``); ``base_url`` what
    ``openai.chat.v1`` takes (``url + "/v1"``). The key is read by the provider from
    ``$api_key_env`` as usual; the server checks it only when :func:`simulated_llm` got
    ``api_key`` (unset and unchecked, the provider sends a placeholder).
    """

    server: LoopbackLLM
    teacher: SimulatedTeacher
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    max_tokens: int = 256

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        return self.server.url + "/v1"

    @property
    def model(self) -> str:
        return self.teacher.model_name

    def provider_block(self) -> dict[str, Any]:
        """The ``openai.chat.v1`` provider block, as a dict (``logprobs`` asked when served)."""
        return {
            "@providers": "openai.chat.v1",
            "model": self.model,
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,
            "max_tokens": self.max_tokens,
            "logprobs": self.teacher.logprobs,
        }

    def config_overrides(self) -> dict[str, Any]:
        """Overrides for ``Project.from_config(path, overrides=...)`` that make this the teacher.

        They set ``[teacher]`` to ``llm.v1`` with this provider as ``[teacher.provider]``, so
        they fit a config whose ``[teacher]`` block is an ``llm.v1`` block or names only its
        ``@teachers`` (a teacher's own keys would stay and fail validation, naming them).
        """
        return {
            "teacher.@teachers": "llm.v1",
            "teacher.concurrency": self.concurrency,
            "teacher.provider": self.provider_block(),
        }

    def config_snippet(self) -> str:
        """The ``[teacher]`` section as config text, to paste into a ``distil.cfg``."""
        lines = ["[teacher]", '@teachers = "llm.v1"', f"concurrency = {self.concurrency}", ""]
        lines.append("[teacher.provider]")
        for key, value in self.provider_block().items():
            lines.append(f"{key} = {json.dumps(value)}")
        return "\n".join(lines) + "\n"


@contextmanager
def simulated_llm(
    gold_path: str | Path | Sequence[Example],
    *,
    accuracy: float,
    errors: Errors = "systematic",
    seed: int | str = 0,
    labels: Sequence[str] | None = None,
    confusers: int = 3,
    logprobs: bool = False,
    api_key: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    concurrency: int = 8,
) -> Iterator[SimulatedLLM]:
    """A loopback server with the OpenAI routes, answered by a :class:`SimulatedTeacher`.

    The server binds 127.0.0.1 and stops when the block ends. It returns no logprobs unless
    ``logprobs`` (then fake ones, from :meth:`SimulatedTeacher.confidence`). With ``api_key`` the
    server rejects requests without that key (401); put it in ``$api_key_env``.
    """
    teacher = SimulatedTeacher(
        gold_path,
        accuracy=accuracy,
        errors=errors,
        seed=seed,
        labels=labels,
        confusers=confusers,
        logprobs=logprobs,
    )
    with LoopbackLLM(answer=teacher.answer) as server:
        install_openai(
            server,
            api_key=api_key,
            models=[teacher.model_name],
            logprobs=logprobs,
            confidence=teacher.confidence if logprobs else None,
        )
        yield SimulatedLLM(
            server=server, teacher=teacher, api_key_env=api_key_env, concurrency=concurrency
        )
