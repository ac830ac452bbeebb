"""Normalisers (a span of the text → a field's typed value): :mod:`distil.tasks.extract_normalise`.

They live in the tasks layer, below the extract stage, because the planner that picks them is
called by the ``extract`` task itself; this module keeps the import path the extract stage, tests
and third-party code use (``from distil.extract.normalise import Normaliser``). The classes are
the same objects, so a subclass of either name is a normaliser, and the built-in ones are
registered once, by :mod:`distil.builtins`, under the module they are defined in.
"""

from __future__ import annotations

from ..tasks.extract_normalise import (
    BUILTIN_NORMALISERS,
    MONEY_NAMES,
    DateNormaliser,
    MoneyNormaliser,
    Normaliser,
    NumberNormaliser,
    TextNormaliser,
    choose,
    get_normaliser,
    names,
    reference_of,
    use_registry,
)

__all__ = [
    "BUILTIN_NORMALISERS",
    "MONEY_NAMES",
    "DateNormaliser",
    "MoneyNormaliser",
    "Normaliser",
    "NumberNormaliser",
    "TextNormaliser",
    "choose",
    "get_normaliser",
    "names",
    "reference_of",
    "use_registry",
]
