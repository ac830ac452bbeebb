"""Task kinds. Each is registered in the ``tasks`` registry by the built-in plugin."""

from .base import SPAN_KINDS, Task
from .spans import NerTask, SpansTask, SpanTask
from .textcat import TextCat

__all__ = ["SPAN_KINDS", "NerTask", "SpanTask", "SpansTask", "Task", "TextCat"]
