"""The distil-local plugin (entry point ``distil: local``).

Registers the zero-shot MiniLM teacher (``local.zeroshot.v1``), its provider (``local.minilm.v1``)
and the llama.cpp provider (``local.llama.v1``), and implements the ``hypotheses`` prompt style and
the parser of score completions. Importing this module imports neither torch, transformers nor
llama_cpp: the models load on first use.
"""

from __future__ import annotations

from typing import Any

import distil

from . import minilm
from .llama import LlamaProvider


def make_minilm_provider(
    model: str = minilm.MODEL_NAME,
    model_path: str | None = None,
    batch_size: int = 64,
    temperature: float | None = None,
    threshold: float | None = None,
    at_least_one: bool = True,
    n_threads: int | None = None,
) -> minilm.MiniLMProvider:
    """``local.minilm.v1``: cosine scores of all-MiniLM-L6-v2 (or a folder given as model_path)."""
    return minilm.MiniLMProvider(
        model,
        model_path=model_path,
        batch_size=batch_size,
        temperature=temperature,
        threshold=threshold,
        at_least_one=at_least_one,
        n_threads=n_threads,
    )


def make_zeroshot_teacher(
    hypothesis_template: str = minilm.DEFAULT_TEMPLATE,
    threshold: float | None = None,
    temperature: float | None = None,
    at_least_one: bool = True,
    batch_size: int = 64,
    model_path: str | None = None,
    n_threads: int | None = None,
) -> minilm.ZeroShotTeacher:
    """``local.zeroshot.v1``: the offline default teacher (MiniLM text vs label hypotheses).

    ``threshold`` (multi-label) and ``temperature`` (exclusive) are fitted by ``tune`` on dev data
    when left unset; set them to fix them. ``at_least_one`` (multi-label) always keeps the top
    label, so no text goes unlabelled.
    """
    if "{label}" not in hypothesis_template:
        raise distil.ConfigError(
            f"teacher.hypothesis_template must contain '{{label}}', got {hypothesis_template!r}"
        )
    try:
        hypothesis_template.format(label="x")
    except (KeyError, IndexError, ValueError) as exc:
        raise distil.ConfigError(
            f"teacher.hypothesis_template {hypothesis_template!r} is not a valid template: {exc}. "
            "Use {label} as the only placeholder (double other braces: {{ }})."
        ) from None
    provider = make_minilm_provider(
        model_path=model_path,
        batch_size=batch_size,
        temperature=temperature,
        threshold=threshold,
        at_least_one=at_least_one,
        n_threads=n_threads,
    )
    return minilm.ZeroShotTeacher(provider, hypothesis_template=hypothesis_template, concurrency=1)


def make_llama_provider(
    model: str = "smollm2-135m",
    model_path: str | None = None,
    n_ctx: int = 2048,
    max_tokens: int = 64,
    temperature: float = 0.0,
    seed: int = 0,
    n_threads: int | None = None,
) -> LlamaProvider:
    """``local.llama.v1``: a GGUF model run in-process by llama.cpp, answers constrained to JSON."""
    return LlamaProvider(
        model,
        model_path=model_path,
        n_ctx=n_ctx,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        n_threads=n_threads,
    )


@distil.hookimpl
def register_providers(register: Any) -> None:
    register("local.minilm.v1", make_minilm_provider)
    register("local.llama.v1", make_llama_provider)


@distil.hookimpl
def register_teachers(register: Any) -> None:
    register("local.zeroshot.v1", make_zeroshot_teacher)


@distil.hookimpl(trylast=True)
def distil_prompt(
    task: distil.Task, example: distil.Example, style: str, teacher: Any
) -> distil.Prompt | None:
    """``hypotheses`` prompts for text classification: the text, and one sentence per label.

    The hypothesis template is the asking teacher's (``hypothesis_template``), else the default.
    """
    if style != "hypotheses" or task.kind != "textcat":
        return None
    template = getattr(teacher, "hypothesis_template", minilm.DEFAULT_TEMPLATE)
    return minilm.build_prompt(task, example, template)


# The prompt holds the text verbatim as its one message (the hypotheses depend on the task and the
# teacher's template only): the label pass renders it once per task and substitutes each text.
distil_prompt.distil_text_only = True  # type: ignore[attr-defined]


@distil.hookimpl
def distil_parse(
    task: distil.Task, example: distil.Example, completion: distil.Completion
) -> distil.TaskOutput | None:
    """Score completions (``scores`` set) of text classification tasks; others are left alone."""
    if completion.scores is None or task.kind != "textcat":
        return None
    return minilm.parse_scores(task, completion)


@distil.hookimpl
def distil_init_choices() -> list[Any]:
    """``distil init --teacher local`` for textcat (the offline default) and ``--teacher llama``."""
    llama = '@teachers = "llm.v1"\n\n[teacher.provider]\n@providers = "local.llama.v1"'
    return [
        distil.TeacherChoice(
            "local", "textcat", '@teachers = "local.zeroshot.v1"', priority=100, weak=True
        ),
        distil.TeacherChoice("llama", "textcat", llama),
        distil.TeacherChoice("llama", "ner", llama),
    ]
