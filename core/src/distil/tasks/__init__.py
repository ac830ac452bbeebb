"""Task kinds. Each is registered in the ``tasks`` registry by the built-in plugin."""

from .base import Task
from .spans import NerTask, SpansTask, SpanTask
from .textcat import TextCat

#: Task kinds whose output is :class:`~distil.records.Spans` (scored span-exact).
SPAN_KINDS = frozenset({"ner", "spans"})

__all__ = ["SPAN_KINDS", "NerTask", "SpanTask", "SpansTask", "Task", "TextCat"]
