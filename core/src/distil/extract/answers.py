"""Human answers per subtask, merged over teacher records: :mod:`distil.tasks.extract_answers`.

The merge lives in the tasks layer, beside the ``extract`` task whose :meth:`merge_labels` the
train stage calls; this module keeps the import path the extract stage, tests and third-party code
use (``from distil.extract.answers import merge_extract_labels``).
"""

from __future__ import annotations

from ..tasks.extract_answers import (
    merge_extract_labels,
    merge_record,
    resolve_subtask_answers,
    subtask_of,
)

__all__ = ["merge_extract_labels", "merge_record", "resolve_subtask_answers", "subtask_of"]
