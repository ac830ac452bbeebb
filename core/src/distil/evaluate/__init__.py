"""The evaluate stage: score sources on a gold set, measure what they cost, and report.

``metrics`` scores (with bootstrap intervals and paired comparisons), ``utility`` measures speed,
size and money, ``report`` puts the sources side by side as JSON, Markdown and a rich table.
"""

from .metrics import confusion_matrix, paired_bootstrap, score_categories
from .report import SourceResult, build_report, render_markdown, rich_table, write_report
from .utility import Utility, count_words, dir_size, measure

__all__ = [
    "SourceResult",
    "Utility",
    "build_report",
    "confusion_matrix",
    "count_words",
    "dir_size",
    "measure",
    "paired_bootstrap",
    "render_markdown",
    "rich_table",
    "score_categories",
    "write_report",
]
