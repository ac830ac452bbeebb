"""``StaticTextcat``: a model2vec static model distilled from MiniLM + the logistic-regression head.

A static model is a lookup table: a text's vector is the mean of its tokens' rows, so encoding
costs a tokenizer pass and a gather, at TF-IDF-class speed, on one core, with no torch at
prediction time. The model is distilled locally from the installed all-MiniLM-L6-v2 weights the
first time it is needed and kept in the disk cache (``encoders.static_model``).

A saved folder holds the static model itself (model2vec's own safetensors format, in
``static/``), so loading a student never distils; meta.json records the sha256 of its
``model.safetensors``, and ``load`` refuses a folder where that file was changed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

import distil

from . import encoders
from .config import StaticConfig
from .student import META_FILE, EncoderStudent

STATIC_DIR = "static"
STATIC_WEIGHTS = "model.safetensors"


class StaticTextcat(EncoderStudent):
    """``static.textcat.v1``: static (model2vec) embeddings, unit length, + head."""

    name: ClassVar[str] = "static.textcat"
    format: ClassVar[str] = "distil-embeddings.static/1"
    config_class: ClassVar[type[StaticConfig]] = StaticConfig

    def __init__(self, config: StaticConfig | None = None) -> None:
        super().__init__(config)
        self._model: Any = None
        self._model_dir: Path | None = None

    def _static(self) -> Any:
        if self._model is None:
            self._model, self._model_dir = encoders.static_model(self.config.pca_dims)
        return self._model

    def encode(self, texts: list[str]) -> Any:
        return encoders.bag_encoder(self._static()).encode(texts)

    def encoder_meta(self) -> dict[str, Any]:
        self._static()
        assert self._model_dir is not None
        return {
            "name": f"model2vec distilled from {encoders.MINILM_NAME}",
            "source_sha256": encoders.minilm_sha256(),
            "pca_dims": self.config.pca_dims,
            "dim": int(self._model.dim),
            "folder": STATIC_DIR,
            "sha256": encoders.file_sha256(self._model_dir / STATIC_WEIGHTS),
        }

    def save_encoder(self, folder: Path) -> None:
        self._static()
        assert self._model_dir is not None
        target = folder / STATIC_DIR
        if target.resolve() == self._model_dir.resolve():
            return  # saving over the folder it was loaded from
        if target.exists():
            shutil.rmtree(target)
        # The very files the model was loaded from (model2vec's format): same bytes, same sha256.
        shutil.copytree(self._model_dir, target)

    def restore_encoder(self, folder: Path, meta: dict[str, Any]) -> None:
        saved = meta.get("encoder") or {}
        model_dir = folder / STATIC_DIR
        weights = model_dir / STATIC_WEIGHTS
        if not weights.is_file():
            raise FileNotFoundError(
                f"{weights} is missing: {folder} is not a complete {self.name} model"
            )
        actual = encoders.file_sha256(weights)
        if saved.get("sha256") != actual:
            raise distil.DataError(
                f"{folder / META_FILE}: the static model in {model_dir} has sha256 {actual}, not "
                f"the {saved.get('sha256')} the head was trained on: the folder was changed "
                "after it was saved. Save the student again, or retrain it."
            )
        self._model = encoders.load_static(model_dir)
        self._model_dir = model_dir
