"""The evaluate stage: score sources on a gold set, measure what they cost, and report.

``metrics`` scores (with bootstrap intervals and paired comparisons), ``utility`` measures speed,
size and money, ``report`` puts the sources side by side as JSON, Markdown and a rich table.
"""

from .learning_curve import learning_curve, learning_curve_markdown, plot_learning_curve
from .metrics import confusion_matrix, paired_bootstrap, score_categories, score_spans
from .report import SourceResult, build_report, render_markdown, rich_table, write_report
from .utility import Utility, count_words, dir_size, measure

__all__ = [
    "SourceResult",
    "Utility",
    "build_report",
    "confusion_matrix",
    "count_words",
    "dir_size",
    "learning_curve",
    "learning_curve_markdown",
    "measure",
    "paired_bootstrap",
    "plot_learning_curve",
    "render_markdown",
    "rich_table",
    "score_categories",
    "score_spans",
    "write_report",
]
