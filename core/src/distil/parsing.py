"""The parse stage's default: an LLM's text answer → the task's output.

Where an answer is parsed, in order: a plugin's ``distil_parse`` hook, then this module's
:func:`default_parse` (registered last, ``trylast``, by :mod:`distil.builtins`). It refuses
refusals and truncated answers, finds the JSON value in the text (:func:`parse_json_answer`) and
hands it to the task (``Task.from_answer``, in :mod:`distil.tasks`), which checks labels and
aligns span strings to offsets. Re-asking after a failed parse is the teacher's
(:mod:`distil.teach.teacher`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import ParseError
from .records import Completion, Example, TaskOutput
from .tasks import Task

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


def parse_json_answer(text: str) -> Any:
    """The JSON value in an LLM answer: the whole text, a fenced block, or the first {...}."""
    cleaned = _FENCE.sub("", text.strip()).strip()
    try:
        return json.loads(cleaned)
    except json.JSONDecodeError:
        pass
    start, end = cleaned.find("{"), cleaned.rfind("}")
    if start != -1 and end > start:
        try:
            return json.loads(cleaned[start : end + 1])
        except json.JSONDecodeError:
            pass
    snippet = text if len(text) <= 200 else text[:200] + "…"
    raise ParseError(f"the answer is not valid JSON: {snippet!r}")


def default_parse(task: Task, example: Example, completion: Completion) -> TaskOutput | None:
    """The task's output from a JSON answer; None for scoring completions (their plugin's)."""
    if completion.refusal:
        raise ParseError(f"the model refused: {completion.refusal}")
    if completion.finish_reason == "length":
        raise ParseError("the answer was truncated (max_tokens reached); not using a partial label")
    if completion.scores is not None:
        return None  # scoring completions are parsed by the plugin that produced them
    data = completion.data if completion.data is not None else parse_json_answer(completion.text)
    return task.from_answer(data, example)
