"""distil-exporters: hand distil's records to Prodigy, Label Studio, doccano, CoNLL tools and
Hugging Face ``datasets``, and read the answers back.

Every exporter has ``export(records, path) -> report`` and ``import_(path) -> list[ExportRecord]``;
``records`` are :class:`ExportRecord` objects or plain ``(Example, output)`` pairs, as for
``spacy.docbin.v1``. Get one by name from the registry (``distil.get_host()``) or from
:mod:`distil_exporters.plugin`'s factories.
"""

from .records import ExportRecord, as_export_records, training_records

__all__ = ["ExportRecord", "as_export_records", "training_records"]
