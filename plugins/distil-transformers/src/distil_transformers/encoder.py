"""The encoder + linear head every transformer student fine-tunes, its token rows and its files.

The model is a Hugging Face ``AutoModel`` body (all-MiniLM-L6-v2 by default) and a fresh
``torch.nn.Linear`` head, kept side by side rather than in an ``nn.Module`` subclass so that this
module can be imported without torch (torch and transformers are imported inside the functions).

Saved folders hold ``model.safetensors`` (body weights under ``body.``, head under ``head.``),
the body's ``config.json``, the tokenizer files and the student's ``meta.json``: no pickle anywhere.
Loading builds the body from ``config.json`` and fills it from the safetensors file, so it never
touches a hub either. The training loop is in :mod:`training`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import distil

from .config import MAX_LENGTH_LIMIT, EncoderConfig

WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
#: Batch size of ``predict`` (no gradients, so larger than the training batch is fine).
PREDICT_BATCH = 64
#: Texts tokenised at once (bounds the tokenizer's per-text objects on big sets).
TOKENIZE_CHUNK = 1024
INSTALL_HINT = (
    "the transformer students need torch and transformers. Install the CPU build of torch first "
    "(a bare `pip install torch` pulls a multi-GB CUDA build): "
    "pip install torch==2.13.0 transformers safetensors"
)


class TokenRow(Protocol):
    """A tokenised text: ``row["input_ids"]`` is its token ids (a dict, or the NER row)."""

    def __getitem__(self, key: str, /) -> list[int]: ...


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # OpenMP threads that wait for work sleep instead of spinning. Measured on 2 shared cores with
    # 2 torch threads: a training step cost 2.0 CPU-s spinning, 0.43 CPU-s passive (0.34 on one
    # thread). Only takes effect when torch is first imported here; a value the user set wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def import_torch() -> Any:
    _offline()
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise distil.ConfigError(f"{INSTALL_HINT} ({exc})") from exc
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    return torch


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` intra-op threads, then restore the process's previous setting."""
    torch = import_torch()
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class Encoder:
    """Tokenizer, body and head of one student (all torch/transformers objects)."""

    tokenizer: Any
    body: Any
    head: Any
    dropout: float

    @classmethod
    def start(cls, config: EncoderConfig, n_outputs: int) -> Encoder:
        """A body from ``config.model_path`` (pretrained, or random of the same shape) and a
        fresh head, both initialised under ``config.seed``."""
        torch = import_torch()
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        path = config.resolved_model_path()
        if not path.is_dir():
            raise distil.ConfigError(f"transformers student: no model folder at {path}")
        torch.manual_seed(config.seed)
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        if not getattr(tokenizer, "is_fast", False):
            raise distil.ConfigError(
                f"transformers student: {path} has no fast tokenizer (tokenizer.json); character "
                "offsets need one"
            )
        if config.pretrained:
            body = AutoModel.from_pretrained(str(path), local_files_only=True)
        else:
            body = AutoModel.from_config(
                AutoConfig.from_pretrained(str(path), local_files_only=True)
            )
        body = body.float()
        if config.freeze_embeddings:
            body.get_input_embeddings().weight.requires_grad_(False)
        hidden = int(body.config.hidden_size)
        head = torch.nn.Linear(hidden, n_outputs)
        torch.nn.init.normal_(head.weight, std=0.02)
        torch.nn.init.zeros_(head.bias)
        dropout = float(getattr(body.config, "hidden_dropout_prob", 0.1) or 0.0)
        return cls(tokenizer, body, head, dropout)

    # -- running ---------------------------------------------------------------------------------
    def hidden(self, batch: dict[str, Any]) -> Any:
        return self.body(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state

    def parameters(self) -> list[Any]:
        return [*self.body.parameters(), *self.head.parameters()]

    def train_mode(self, on: bool) -> None:
        self.body.train(on)
        self.head.train(on)

    def collate(self, rows: Sequence[TokenRow]) -> dict[str, Any]:
        """Pad token-id rows to the longest of the batch (dynamic padding)."""
        torch = import_torch()
        pad = int(self.tokenizer.pad_token_id or 0)
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            n = len(row["input_ids"])
            ids[i, :n] = torch.tensor(row["input_ids"], dtype=torch.long)
            mask[i, :n] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def tokenize(self, texts: Sequence[str], max_length: int, offsets: bool = False) -> Any:
        return self.tokenizer(
            list(texts),
            truncation=True,
            max_length=max_length,
            return_offsets_mapping=offsets,
            return_attention_mask=False,
            return_token_type_ids=False,
        )

    # -- files -----------------------------------------------------------------------------------
    def save(self, folder: Path, meta: dict[str, Any]) -> None:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        state = {f"body.{k}": v.detach().contiguous() for k, v in self.body.state_dict().items()}
        state.update(
            {f"head.{k}": v.detach().contiguous() for k, v in self.head.state_dict().items()}
        )
        save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": str(meta["format"])})
        self.body.config.save_pretrained(str(folder))
        self.tokenizer.save_pretrained(str(folder))
        distil.write_meta(folder, **meta, dropout=self.dropout, versions=versions())

    @classmethod
    def load(cls, folder: Path, n_outputs: int, dropout: float) -> Encoder:
        torch = import_torch()
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        body = AutoModel.from_config(AutoConfig.from_pretrained(str(folder), local_files_only=True))
        body = body.float()
        state = load_file(str(folder / WEIGHTS_FILE))
        body.load_state_dict(
            {k[5:]: v for k, v in state.items() if k.startswith("body.")}, strict=True
        )
        head = torch.nn.Linear(int(body.config.hidden_size), n_outputs)
        head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})
        encoder = cls(tokenizer, body, head, dropout)
        encoder.train_mode(False)
        return encoder


def read_meta(cls_name: str, folder: Path, fmt: str) -> dict[str, Any]:
    """``meta.json`` of a saved student, after checking the folder holds what ``load`` needs
    (:func:`distil.read_meta`: a missing file or a bad meta.json is an error naming it)."""
    return distil.read_meta(
        folder,
        who=f"{cls_name} of distil-transformers",
        expected_format=fmt,
        needs=[WEIGHTS_FILE, "config.json"],
    )


# -- token rows ------------------------------------------------------------------------------------
def token_ids(encoder: Encoder, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of ``texts`` (truncated to ``max_length``), tokenised in chunks so that the fast
    tokenizer's per-text objects (offsets, tokens, masks) never exist for the whole set at once."""
    out: list[list[int]] = []
    for start in range(0, len(texts), TOKENIZE_CHUNK):
        out.extend(encoder.tokenize(texts[start : start + TOKENIZE_CHUNK], max_length)["input_ids"])
    return out


def length_limit(encoder: Encoder, config: EncoderConfig) -> int:
    """The truncation length to tokenise training texts with: ``max_length`` when set, else the
    most the model takes (its position limit, at most 512)."""
    if config.max_length is not None:
        return config.max_length
    positions = int(getattr(encoder.body.config, "max_position_embeddings", MAX_LENGTH_LIMIT))
    return max(8, min(MAX_LENGTH_LIMIT, positions))


def sized_max_length(config: EncoderConfig, lengths: Sequence[int]) -> int:
    """``max_length``, or (when it is ``None``) the longest training row in tokens, at least 8:
    what ``predict`` truncates to, so it never reads positions the model was not trained on."""
    if config.max_length is not None:
        return config.max_length
    return max(8, max(lengths, default=8))


def predict_batches(
    encoder: Encoder, rows: Sequence[TokenRow], n_threads: int
) -> Iterator[tuple[list[int], Any, Any]]:
    """Yield ``(indices, collated batch, hidden states)`` in batches of similar length, without gradients.

    Rows are sorted by length so that each batch pads only to its own longest row; the caller
    puts results back in input order through ``indices``. Runs on ``n_threads`` torch threads
    (the student's ``n_threads``; on a busy machine more threads than free cores is 2-3x slower).
    """
    torch = import_torch()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    with torch_threads(n_threads), torch.inference_mode():
        for start in range(0, len(order), PREDICT_BATCH):
            indices = order[start : start + PREDICT_BATCH]
            batch = encoder.collate([rows[i] for i in indices])
            yield indices, batch, encoder.hidden(batch)


def versions() -> dict[str, str | None]:
    return distil.package_versions(
        "distil", "distil-transformers", "torch", "transformers", "safetensors"
    )
