"""Did-you-mean: the one way distil guesses what a misspelled name meant.

Registry names, config sections and keys, task labels, table columns and export formats all go
through :func:`did_you_mean`, so the hint reads and behaves the same everywhere: a name that
differs only in case or surrounding spaces is that name; otherwise the closest by
:func:`difflib.get_close_matches` above ``cutoff``; otherwise no guess.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(name: str, choices: Iterable[str], cutoff: float = 0.75) -> str | None:
    """The choice ``name`` probably meant (``SPAM`` → ``spam``, ``sklearn.textcat.v2`` →
    ``sklearn.textcat.v1``), or None when nothing is close enough to be a likely typo.

    Short names (config keys) need a lower ``cutoff``: one swapped pair in ``dve`` already costs a
    third of its letters.
    """
    folded: dict[str, str] = {}
    for choice in choices:
        folded.setdefault(choice.casefold().strip(), choice)
    key = name.casefold().strip()
    if key in folded:
        return folded[key]
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=cutoff)
    return folded[close[0]] if close else None
