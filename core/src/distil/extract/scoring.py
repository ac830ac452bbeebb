"""Scores of extracted records, per field and per record: :mod:`distil.tasks.extract_scoring`.

The scorer lives in the tasks layer, beside the ``extract`` task whose :meth:`score` calls it (as
the other tasks' scorers live in :mod:`distil.tasks.scoring`); this module keeps the import path
the extract stage, tests and third-party code use.
"""

from __future__ import annotations

from ..tasks.extract_scoring import OUTCOMES, paired_records, score_records

__all__ = ["OUTCOMES", "paired_records", "score_records"]
