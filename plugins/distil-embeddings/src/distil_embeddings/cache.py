"""Embeddings computed once per text: a process-wide LRU cache and an optional folder on disk.

Other parts of distil fit the same student many times on overlapping data (cross-validated trust
scores, retraining after each batch of corrections). Encoding with MiniLM is what costs time, so
every text is encoded once: :func:`cached_encode` looks each text up by a hash of the encoder's
identity and the text, in memory first, then in ``cache_dir`` when one is given, and sends only the
texts found nowhere to the encoder, each distinct text once.

What a caller may rely on:

- the cache is shared by every student instance in the process (:data:`SHARED`) and bounded
  (:data:`DEFAULT_MAX_VECTORS` vectors, least recently used evicted first; the environment
  variable ``DISTIL_EMBEDDINGS_CACHE_VECTORS`` sets another bound, 0 disables it);
- a cached vector is returned as it was stored, so a text always gets the same vector within a
  process (and from the same disk folder), whatever batch it comes in;
- the disk folder holds one safetensors file per encoder call (``keys``: 16-byte hashes,
  ``vectors``: float32 rows) under a sub-folder named by the encoder's identity, written
  atomically; several processes may share it. Nothing in it is ever unpickled.

numpy and safetensors are imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: The default bound: 200,000 MiniLM vectors are about 330 MB.
DEFAULT_MAX_VECTORS = 200_000
ENV_MAX_VECTORS = "DISTIL_EMBEDDINGS_CACHE_VECTORS"


def text_key(encoder: str, text: str) -> bytes:
    """The 16-byte cache key of ``text`` for the encoder named ``encoder``."""
    digest = hashlib.blake2b(digest_size=16, person=b"distil-embed")
    digest.update(encoder.encode("utf-8"))
    digest.update(b"\x00")
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.digest()


class EmbeddingCache:
    """A thread-safe LRU map from 16-byte keys to vectors (1-D float32 arrays)."""

    def __init__(self, max_vectors: int | None = None) -> None:
        if max_vectors is None:
            max_vectors = int(os.environ.get(ENV_MAX_VECTORS, DEFAULT_MAX_VECTORS))
        self.max_vectors = max(0, max_vectors)
        self._vectors: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()
        #: Counters since creation (or the last ``clear``): lookups found / not found in memory.
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._vectors)

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, Any]:
        """The cached vectors of ``keys`` (those present), each marked as recently used."""
        found: dict[bytes, Any] = {}
        with self._lock:
            for key in keys:
                vector = self._vectors.get(key)
                if vector is not None:
                    self._vectors.move_to_end(key)
                    found[key] = vector
            self.hits += len(found)
            self.misses += len(keys) - len(found)
        return found

    def put_many(self, items: dict[bytes, Any]) -> None:
        if not self.max_vectors:
            return
        with self._lock:
            for key, vector in items.items():
                self._vectors[key] = vector
                self._vectors.move_to_end(key)
            while len(self._vectors) > self.max_vectors:
                self._vectors.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._vectors.clear()
            self.hits = self.misses = 0


#: The cache every student of this process shares.
SHARED = EmbeddingCache()


class DiskCache:
    """Vectors of one encoder in a folder: ``<root>/<encoder>/<batch hash>.safetensors``.

    The keys of every file are read once per process (16 bytes a text); a file's vectors are read
    when one of its keys is asked for. Files written by other processes are picked up on the next
    lookup.
    """

    def __init__(self, root: str | Path, encoder: str) -> None:
        self.folder = Path(root).expanduser() / encoder
        self._index: dict[bytes, tuple[Path, int]] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        from safetensors import safe_open

        if not self.folder.is_dir():
            return
        for entry in os.scandir(self.folder):
            if not entry.name.endswith(".safetensors") or entry.name in self._seen:
                continue
            path = Path(entry.path)
            try:
                with safe_open(str(path), framework="np") as handle:
                    keys = handle.get_tensor("keys")
            except Exception:  # a file we cannot read is skipped: its texts are encoded again
                continue
            self._seen.add(entry.name)
            for row, key in enumerate(keys):
                self._index.setdefault(key.tobytes(), (path, row))

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, Any]:
        from safetensors.numpy import load_file

        with self._lock:
            self._refresh()
            wanted: dict[Path, list[tuple[bytes, int]]] = {}
            for key in keys:
                where = self._index.get(key)
                if where is not None:
                    wanted.setdefault(where[0], []).append((key, where[1]))
        found: dict[bytes, Any] = {}
        for path, rows in wanted.items():
            try:
                vectors = load_file(str(path))["vectors"]
            except Exception:
                continue
            for key, row in rows:
                found[key] = vectors[row].copy()
        return found

    def put_many(self, items: dict[bytes, Any]) -> None:
        import numpy as np
        from safetensors.numpy import save_file

        if not items:
            return
        keys = np.frombuffer(b"".join(items), dtype=np.uint8).reshape(len(items), 16)
        vectors = np.stack(list(items.values())).astype(np.float32, copy=False)
        name = hashlib.sha256(keys.tobytes()).hexdigest()[:32] + ".safetensors"
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / name
        if target.exists():
            return
        handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        os.close(handle)
        try:
            save_file({"keys": keys, "vectors": vectors}, temporary)
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)


_DISKS: dict[tuple[str, str], DiskCache] = {}
_DISKS_LOCK = threading.Lock()


def disk_cache(root: str | Path, encoder: str) -> DiskCache:
    """The process's one :class:`DiskCache` for ``(root, encoder)`` (its key index is reused)."""
    key = (str(Path(root).expanduser().resolve()), encoder)
    with _DISKS_LOCK:
        if key not in _DISKS:
            _DISKS[key] = DiskCache(root, encoder)
        return _DISKS[key]


def cached_encode(
    encoder: str,
    texts: Sequence[str],
    encode: Callable[[list[str]], Any],
    cache_dir: str | Path | None = None,
    memory: EmbeddingCache | None = None,
) -> Any:
    """An ``(len(texts), dim)`` float32 array of the vectors of ``texts``, in order.

    ``encoder`` names the encoder (its weights and settings): vectors of different encoders never
    mix. ``encode(list_of_texts)`` is called at most once, with the distinct texts found neither in
    memory nor on disk, and must return one row per text.
    """
    import numpy as np

    memory = SHARED if memory is None else memory
    keys = [text_key(encoder, text) for text in texts]
    unique = list(dict.fromkeys(keys))
    found = memory.get_many(unique)
    missing = [k for k in unique if k not in found]
    if missing and cache_dir is not None:
        from_disk = disk_cache(cache_dir, encoder).get_many(missing)
        if from_disk:
            found.update(from_disk)
            memory.put_many(from_disk)
            missing = [k for k in missing if k not in from_disk]
    if missing:
        first_text: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            first_text.setdefault(key, text)
        encoded = np.asarray(encode([first_text[k] for k in missing]), dtype=np.float32)
        if encoded.shape[0] != len(missing):
            raise RuntimeError(
                f"the {encoder} encoder returned {encoded.shape[0]} vectors for {len(missing)} texts"
            )
        new = {key: encoded[i].copy() for i, key in enumerate(missing)}
        found.update(new)
        memory.put_many(new)
        if cache_dir is not None:
            disk_cache(cache_dir, encoder).put_many(new)
    if not keys:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([found[k] for k in keys])
