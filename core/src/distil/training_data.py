"""The labelled pairs a student is fitted on, and where each label came from.

Its own module, below both the train stage (:func:`distil.train.merge_labels`) and the extract
task's per-subtask merge (:func:`distil.tasks.extract_answers.merge_extract_labels`), so that
each builds one without importing the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .records import Example, TaskOutput


@dataclass
class TrainingData:
    pairs: list[tuple[Example, TaskOutput]]
    from_teacher: int = 0
    from_humans: int = 0
    from_answers: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    #: Ids of the pairs whose label is a human answer (never flagged or dropped by trust).
    human_ids: set[str] = field(default_factory=set)
