"""Human-in-the-loop annotation: focused passes, queue order, answers, undo, agreement, review.

Pure Python over the store; the web app lives in the ``distil-annotate`` plugin. See
:mod:`distil.annotate.resolve` for how answer events become training labels.
"""

from .agreement import agreement_report, cohen_kappa, conflicts
from .passes import FIX_PASS, Pass, plan_passes
from .queue import Card, default_order
from .resolve import REVIEW_PASS, UNDO_PASS, effective_events, resolve_answers, undo_event
from .session import AnswerError, Workspace

__all__ = [
    "FIX_PASS",
    "REVIEW_PASS",
    "UNDO_PASS",
    "AnswerError",
    "Card",
    "Pass",
    "Workspace",
    "agreement_report",
    "cohen_kappa",
    "conflicts",
    "default_order",
    "effective_events",
    "plan_passes",
    "resolve_answers",
    "undo_event",
]
