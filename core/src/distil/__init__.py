"""distil: human-in-the-loop LLM distillation.

The public API: plugins import from here and nowhere else in ``distil``.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__ as __version__
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
from .exporter import Exporter
from .init_choices import InitRequest, StudentChoice, TeacherChoice, llm_teacher_block
from .plugins import PluginHost, get_host, hookimpl, set_host
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
from .student import Student, StudentPrediction, TrainPair, check_weights, textcat_targets
from .student_batch import CategoriesBatch
from .students_kit import (
    LabelColumns,
    MissingModelFileError,
    NotFittedError,
    categories_predictions,
    choose_labels,
    dev_scores,
    label_columns,
    label_confidence,
    package_versions,
    read_meta,
    require_fitted,
    task_from_description,
    write_meta,
)
from .tasks import NerTask, SpansTask, SpanTask, Task, TextCat
from .tasks.passes import Pass
from .tasks.scoring import paired_items, score_items
from .teach.http_errors import http_error, rate_limit_state, retry_after, timeout_error
from .teach.limits import header_pause
from .teach.provider import Provider
from .teach.redaction import is_local_url, protect_secret, redact_secrets
from .teach.teacher import PromptTeacher, Teacher
from .thresholds import Thresholds, tune_thresholds

_LAZY = {
    # The entry points of the Python API (docs/guide.md, "Python API"); lazy, as they pull in
    # confection and the store.
    "Project": ("distil.project", "Project"),
    "load_config": ("distil.config", "load_config"),
    # The human answer that counts per example (undo, review, latest): what training uses.
    "resolve_answers": ("distil.annotate.resolve", "resolve_answers"),
    "Store": ("distil.store.sqlite", "Store"),
    "read_jsonl": ("distil.store.jsonl", "read_jsonl"),
    "write_jsonl": ("distil.store.jsonl", "write_jsonl"),
    "score_spans": ("distil.evaluate.metrics", "score_spans"),
    "learning_curve": ("distil.evaluate.learning_curve", "learning_curve"),
    "learning_curve_markdown": ("distil.evaluate.learning_curve", "learning_curve_markdown"),
    "plot_learning_curve": ("distil.evaluate.learning_curve", "plot_learning_curve"),
    # the executor seam (distil.execute): what executor plugins build on; ``Executor`` is the
    # base class of executors (lazy: distil.execute pulls in the label stage)
    "Executor": ("distil.execute", "Executor"),
    "LocalExecutor": ("distil.execute", "LocalExecutor"),
    "PredictResult": ("distil.execute", "PredictResult"),
    "LabelResult": ("distil.teach.runner", "LabelResult"),
    "pending_examples": ("distil.execute", "pending_examples"),
    "pending_counts": ("distil.execute", "pending_counts"),
    "student_predictions": ("distil.execute", "student_predictions"),
    # a corpus of shards labelled or predicted where it lies (distil.store.corpus)
    "CorpusResult": ("distil.store.corpus", "CorpusResult"),
    "CorpusShard": ("distil.store.corpus", "CorpusShard"),
    "ResultShard": ("distil.store.corpus", "ResultShard"),
    "ShardRows": ("distil.store.corpus", "ShardRows"),
    "corpus_shards": ("distil.store.corpus", "corpus_shards"),
    "count_results": ("distil.store.corpus", "count_results"),
    "finish_shard": ("distil.store.corpus", "finish_shard"),
    "merge_shard": ("distil.store.corpus", "merge_shard"),
    "shard_done": ("distil.store.corpus", "shard_done"),
    "start_corpus": ("distil.store.corpus", "start_corpus"),
    "sum_ledgers": ("distil.teach.ledger", "sum_ledgers"),
    # the annotation seam (distil.annotate): what an annotation app such as distil-annotate serves
    "Workspace": ("distil.annotate.session", "Workspace"),
    "ExtractWorkspace": ("distil.annotate.subtasks", "ExtractWorkspace"),
    "AnswerError": ("distil.annotate.session", "AnswerError"),
    "ReviewRefused": ("distil.annotate.session", "ReviewRefused"),
    "Leases": ("distil.annotate.queue", "Leases"),
    "check_annotator": ("distil.annotate.resolve", "check_annotator"),
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
    "AnswerError",
    "BudgetExceeded",
    "Cascade",
    "CascadeStats",
    "Categories",
    "CategoriesBatch",
    "Completion",
    "ConfigError",
    "DataError",
    "DistilError",
    "Example",
    "ExchangeRecord",
    "Executor",
    "Exporter",
    "ExtractWorkspace",
    "Extraction",
    "InitRequest",
    "LabelColumns",
    "Leases",
    "Message",
    "MissingModelFileError",
    "NerTask",
    "NoStudentError",
    "NotFittedError",
    "ParseError",
    "Pass",
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
    "ReviewRefused",
    "Span",
    "SpanTask",
    "Spans",
    "SpansTask",
    "Store",
    "StoreError",
    "Student",
    "StudentChoice",
    "StudentPrediction",
    "StudentTaskError",
    "Task",
    "TaskOutput",
    "Teacher",
    "TeacherChoice",
    "TextCat",
    "Thresholds",
    "TrainPair",
    "TrainingDataError",
    "TransientProviderError",
    "Usage",
    "Workspace",
    "categories_predictions",
    "check_annotator",
    "check_weights",
    "choose_labels",
    "dev_scores",
    "get_host",
    "header_pause",
    "hookimpl",
    "http_error",
    "is_local_url",
    "label_columns",
    "label_confidence",
    "learning_curve",
    "learning_curve_markdown",
    "llm_teacher_block",
    "load_config",
    "output_from_example",
    "package_versions",
    "paired_items",
    "plot_learning_curve",
    "protect_secret",
    "rate_limit_state",
    "read_jsonl",
    "read_meta",
    "redact_secrets",
    "require_fitted",
    "resolve_answers",
    "retry_after",
    "score_items",
    "score_spans",
    "set_host",
    "simulate",
    "task_from_description",
    "textcat_targets",
    "timeout_error",
    "tune_thresholds",
    "write_jsonl",
    "write_meta",
]
