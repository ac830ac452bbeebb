"""What a plugin offers ``distil init``: its ``--teacher`` and ``--student`` choices.

Plugins return these from the ``distil_init_choices`` hook (:mod:`distil.hookspecs`); core knows no
plugin's names. A choice is one name for one task kind: distil-local offers ``local`` for textcat
and distil-spacy ``local`` for ner, and ``distil init --teacher local`` finds whichever fits the
task. ``--teacher auto`` / ``--student auto`` (the defaults) pick, per task kind, the installed
choice with the highest ``priority``; a choice with ``priority=None`` is never picked by ``auto``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class InitRequest:
    """What ``distil init`` was asked for: a teacher block may depend on it."""

    task: str
    labels: list[str]
    multilabel: bool = False
    #: ``--model`` and ``--base-url`` (only for a choice with ``takes_model``).
    model: str | None = None
    base_url: str | None = None


@dataclass(frozen=True)
class TeacherChoice:
    """``--teacher NAME`` for one task kind, and the body of the ``[teacher]`` block it writes.

    ``block`` is the text (``'@teachers = "local.zeroshot.v1"'``) or a function of the
    :class:`InitRequest` returning it. The function may raise ``ValueError`` with a message that
    says what would work (the labels fit no label map, say): ``distil init`` shows it as a usage
    error. ``takes_model``: ``--model`` and ``--base-url`` apply (an LLM provider's server).
    ``weak``: the teacher's labels are often wrong (an embedded zero-shot model), so ``distil
    init`` also writes the weak-teacher recipe: ``[annotate] queue = "uncertainty"`` and, when
    the student takes example weights, ``[train] teacher_weight`` (``"auto"`` with a dev split,
    else 0.01; docs/distill.md).
    """

    name: str
    task: str
    block: str | Callable[[InitRequest], str]
    takes_model: bool = False
    priority: int | None = None
    weak: bool = False

    def render(self, request: InitRequest) -> str:
        return self.block if isinstance(self.block, str) else self.block(request)


@dataclass(frozen=True)
class StudentChoice:
    """``--student NAME`` for one task kind: the registered student it writes.

    ``multilabel`` is the registered student for multi-label textcat when it is another one
    (``spacy.textcat_multilabel.v1``); None: ``student`` handles both. ``weights``: the student
    (and its multi-label one) takes example weights (``Student.supports_weights``).
    """

    name: str
    task: str
    student: str
    multilabel: str | None = None
    priority: int | None = None
    weights: bool = False


def llm_teacher_block(provider: str, model: str, key_env: str, base_url: str | None = None) -> str:
    """The ``[teacher]`` block of core's LLM teacher (``llm.v1``) over a provider: the model, the
    optional server and the environment variable the key is read from (never the key itself)."""
    where = f"base_url = {json.dumps(base_url)}\n" if base_url else ""
    key_note = (
        f"# a server on this machine needs no key; one that does reads it from ${key_env}"
        if base_url
        else f"# the key is read from ${key_env} when the teacher runs"
    )
    return (
        f'@teachers = "llm.v1"\n\n[teacher.provider]\n@providers = "{provider}"\n'
        f"model = {json.dumps(model)}\n{where}{key_note}\n"
        f'api_key_env = "{key_env}"'
    )


__all__ = ["InitRequest", "StudentChoice", "TeacherChoice", "llm_teacher_block"]
