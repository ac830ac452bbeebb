"""The prompt stage's default: one Jinja2 chat prompt per task kind.

Where a prompt comes from, in order: a plugin's ``distil_prompt`` hook, then this module's
:func:`default_prompt` (registered last, ``trylast``, by :mod:`distil.builtins`). The template a
task uses is its ``template`` attribute, a file of ``distil/templates/``; the task also gives the
JSON schema the answer must follow (``Task.json_schema``). What the teacher does around a prompt
(shots, re-asks, rendering once per task) is in :mod:`distil.teach.teacher`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from .errors import ParseError
from .records import Example, Message, Prompt
from .tasks import Task
from .teach.teacher import text_only_prompt

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


def render_chat(task: Task, example: Example, shots: list[Example]) -> Prompt:
    """The task's template as the system message and the example's text as the user message."""
    if not task.template:
        raise ParseError(f"task kind '{task.kind}' has no default chat template")
    template = _environment().get_template(task.template)
    system = template.render(task=task, example=example, shots=shots).strip()
    return Prompt(
        messages=[
            Message(role="system", content=system),
            Message(role="user", content=example.text),
        ],
        json_schema=task.json_schema(),
        template=task.template,
    )


@text_only_prompt  # the templates never read the example: its text is the user message
def default_prompt(task: Task, example: Example, shots: list[Example], style: str) -> Prompt | None:
    """The ``chat`` style's prompt; None for any other style (a plugin's to build)."""
    if style != "chat":
        return None
    return render_chat(task, example, shots)
