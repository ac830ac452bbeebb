"""The distil plugin module (entry point ``distil: csv``): registers ``csv.table.v1``.

An exporter plugin registers a factory whose keyword arguments are its options; the object it
builds has ``export(records, path) -> report`` and, when the format can be read back,
``import_(path) -> records``. This module is imported by every ``distil`` command, so a plugin
whose format needs a heavy library imports it inside the factory; this one needs only the
standard library's csv module.
"""

from __future__ import annotations

from typing import Any

import distil

from .table import CsvExporter


def make_csv(separator: str = "|", delimiter: str | None = None) -> CsvExporter:
    """``csv.table.v1``: one row per record, provenance in columns (TSV for ``.tsv`` paths)."""
    return CsvExporter(separator=separator, delimiter=delimiter)


@distil.hookimpl
def register_exporters(register: Any) -> None:
    register("csv.table.v1", make_csv)
