"""distil: human-in-the-loop LLM distillation.

The public API: plugins import from here and nowhere else in ``distil``.
"""

from __future__ import annotations

from typing import Any

from .cascade import Cascade, CascadeStats
from .errors import (
    BudgetExceeded,
    ConfigError,
    DataError,
    DistilError,
    NoStudentError,
    ParseError,
    PluginError,
    ProviderError,
    RateLimitError,
    RegistryError,
    StoreError,
    StudentTaskError,
    TrainingDataError,
    TransientProviderError,
)
from .plugins import PluginHost, get_host, hookimpl
from .records import (
    Annotation,
    Categories,
    Completion,
    Example,
    ExchangeRecord,
    Extraction,
    Message,
    Prediction,
    Prompt,
    Span,
    Spans,
    TaskOutput,
    Usage,
    output_from_example,
)

# Eager, not lazy: the submodule distil.simulate has the function's name, and a lazy import would
# leave the module, not the function, as the package attribute (simulate.py imports nothing heavy).
from .simulate import simulate
from .student import Student, StudentPrediction, TrainPair, textcat_targets
from .tasks import NerTask, SpansTask, SpanTask, Task, TextCat
from .teach.provider import Provider
from .teach.teacher import PromptTeacher, Teacher
from .thresholds import Thresholds, tune_thresholds

__version__ = "0.1.0"

_LAZY = {
    # The entry points of the Python API (docs/guide.md, "Python API"); lazy, as they pull in
    # confection and the store.
    "Project": ("distil.project", "Project"),
    "load_config": ("distil.config", "load_config"),
    "Store": ("distil.store.sqlite", "Store"),
    "read_jsonl": ("distil.store.jsonl", "read_jsonl"),
    "write_jsonl": ("distil.store.jsonl", "write_jsonl"),
    "score_spans": ("distil.evaluate.metrics", "score_spans"),
    "learning_curve": ("distil.evaluate.learning_curve", "learning_curve"),
    "learning_curve_markdown": ("distil.evaluate.learning_curve", "learning_curve_markdown"),
    "plot_learning_curve": ("distil.evaluate.learning_curve", "plot_learning_curve"),
    # the executor seam (distil.execute): what executor plugins build on
    "Executor": ("distil.execute", "Executor"),
    "LocalExecutor": ("distil.execute", "LocalExecutor"),
    "PredictResult": ("distil.execute", "PredictResult"),
    "LabelResult": ("distil.teach.runner", "LabelResult"),
    "pending_examples": ("distil.execute", "pending_examples"),
    "student_predictions": ("distil.execute", "student_predictions"),
}


def __getattr__(name: str) -> Any:
    # The store is imported on first use so that `import distil` stays cheap for plugins.
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'distil' has no attribute {name!r}")


__all__ = [
    "Annotation",
    "BudgetExceeded",
    "Cascade",
    "CascadeStats",
    "Categories",
    "Completion",
    "ConfigError",
    "DataError",
    "DistilError",
    "Example",
    "ExchangeRecord",
    "Extraction",
    "Message",
    "NerTask",
    "NoStudentError",
    "ParseError",
    "PluginError",
    "PluginHost",
    "Prediction",
    "Project",
    "Prompt",
    "PromptTeacher",
    "Provider",
    "ProviderError",
    "RateLimitError",
    "RegistryError",
    "Span",
    "SpanTask",
    "Spans",
    "SpansTask",
    "Store",
    "StoreError",
    "Student",
    "StudentPrediction",
    "StudentTaskError",
    "Task",
    "TaskOutput",
    "Teacher",
    "TextCat",
    "Thresholds",
    "TrainPair",
    "TrainingDataError",
    "TransientProviderError",
    "Usage",
    "get_host",
    "hookimpl",
    "learning_curve",
    "learning_curve_markdown",
    "load_config",
    "output_from_example",
    "plot_learning_curve",
    "read_jsonl",
    "score_spans",
    "simulate",
    "textcat_targets",
    "tune_thresholds",
    "write_jsonl",
]
