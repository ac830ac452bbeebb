"""distil-contrib-ordinal: a new task kind from a plugin, ordinal ratings (1–5 stars)."""

from .plugin import make_ordinal
from .task import STARS, OrdinalTask

__all__ = ["STARS", "OrdinalTask", "make_ordinal"]
