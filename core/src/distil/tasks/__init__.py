"""Task kinds. Each is registered in the ``tasks`` registry by the built-in plugin."""

from .base import Task
from .spans import SpanTask
from .textcat import TextCat

__all__ = ["SpanTask", "Task", "TextCat"]
