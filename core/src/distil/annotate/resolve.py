"""How answer events become one answer per example, and the names annotators answer under.

The rules that read the append-only answer events back into decisions (undo, per-pass re-answers,
several passes of one annotator, several annotators with a review pass) are
:mod:`distil.tasks.resolve`, re-exported here for the annotation app, the report and callers that
import them from the annotate stage:

1. **Undo** is an event too (``pass_name=UNDO_PASS``, answer ``ignore``): it cancels that
   annotator's most recent live answer on that example;
2. **re-answers**: within one pass an annotator's later answer replaces the earlier one;
3. **one annotator, several passes**: the latest ``correct`` wins unless a ``reject`` or
   ``ignore`` came after it; otherwise any ``reject`` makes the answer a reject, any ``ignore`` an
   ignore, and only when every pass accepted is it an accept;
4. **several annotators**: the latest answer of the ``review`` pass wins; without one, the
   annotator whose resolved answer was given last wins.

They live in the tasks layer because training reads them too, through a task's own merge (the
``extract`` task's per-subtask merge, :mod:`distil.tasks.extract_answers`), and the tasks sit
below this stage. See :mod:`distil.tasks.resolve` for the details.

Annotator (session) names are checked by :func:`check_annotator`: a string of 1 to 64 characters
(surrounding whitespace dropped) with no control, line-separator or bidirectional-override
characters, so a name shows as what it is in the app, the report and exports.
"""

from __future__ import annotations

import unicodedata

from ..tasks.resolve import (
    REVIEW_PASS,
    UNDO_PASS,
    Resolved,
    effective_events,
    is_undo,
    resolve_annotator,
    resolve_answers,
    undo_event,
)

__all__ = [
    "REVIEW_PASS",
    "UNDO_PASS",
    "Resolved",
    "check_annotator",
    "effective_events",
    "is_undo",
    "resolve_annotator",
    "resolve_answers",
    "undo_event",
]

#: The longest annotator name (characters).
MAX_ANNOTATOR = 64
#: Characters that would make a name show as something else (bidirectional overrides, isolates).
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}


def check_annotator(name: object) -> str:
    """``name`` as an annotator name (stripped), or ValueError saying what is wrong with it."""
    if not isinstance(name, str):
        raise ValueError(f"a session name is a string, not {type(name).__name__}")
    value = name.strip()
    if not 1 <= len(value) <= MAX_ANNOTATOR:
        raise ValueError(f"session names are 1 to {MAX_ANNOTATOR} characters, not {len(value)}")
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ch in _BIDI:
            raise ValueError(
                f"session names may not hold control characters (found U+{ord(ch):04X})"
            )
    return value
