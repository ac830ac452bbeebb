"""The exporter contract: distil's records out to another tool's file, and (optionally) back.

Exporters are registered with ``register_exporters`` and driven by :mod:`distil.exchange`
(``distil export`` / ``distil import --format``); :class:`distil.testing.exporters.ExporterConformance`
is the behaviour every one must show. This module is the typed seam, in the same style as
:class:`~distil.Student` and :class:`~distil.Teacher`: a base class to subclass.
"""

from __future__ import annotations

from abc import ABC
from pathlib import Path
from typing import Any, ClassVar


class Exporter(ABC):  # noqa: B024 (no abstract method: ``export`` raises instead)
    """Base class of exporters.

    ``export(records, path)`` writes ``records`` (each an ``(Example, output)`` pair, or an object
    that unpacks as one and may carry ``source``, ``confidence``, ``annotator``, ``answer`` and
    ``pass_name``) to ``path``, whole or not at all, and returns a JSON-able report whose
    ``records`` is the number written. A format that can be read back also defines
    ``import_(path) -> list[record]``; the base class deliberately has no ``import_``, because
    ``distil import`` and the conformance suite tell an export-only format by its absence.

    An exporter written before this was a base class (any object with a callable ``export``)
    still counts as one: ``isinstance`` checks the shape.
    """

    #: Registered name, e.g. "prodigy.jsonl.v1".
    name: ClassVar[str] = "exporter"

    def export(self, records: list[Any], path: str | Path) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def __subclasshook__(cls, other: type) -> Any:
        if cls is Exporter and callable(getattr(other, "export", None)):
            return True
        return NotImplemented


def can_import(exporter: Any) -> bool:
    """Whether ``exporter`` reads its format back (it has a callable ``import_``)."""
    return callable(getattr(exporter, "import_", None))
