"""The distil plugin module (entry point ``distil: exporters``).

Registers the exporters. Cheap to import: each format's module is imported when its factory is
called, and pyarrow only when Parquet is written or read (a test checks both).
"""

from __future__ import annotations

from typing import Any, Literal

import distil


def make_prodigy(
    style: Literal["auto", "binary", "choice"] = "auto",
    labels: list[str] | None = None,
    tokens: bool = True,
) -> Any:
    """``prodigy.jsonl.v1``: Prodigy tasks (binary or choice textcat, ner_manual spans)."""
    from .prodigy import ProdigyExporter

    return ProdigyExporter(style=style, labels=labels, tokens=tokens)


def make_labelstudio(
    from_name: str = "label",
    to_name: str = "text",
    text_key: str = "text",
    kind: Literal["auto", "categories", "spans"] = "auto",
) -> Any:
    """``labelstudio.json.v1``: tasks with pre-annotations out, Label Studio's JSON export in."""
    from .labelstudio import LabelStudioExporter

    return LabelStudioExporter(from_name=from_name, to_name=to_name, text_key=text_key, kind=kind)


def make_doccano(kind: Literal["auto", "categories", "spans"] = "auto") -> Any:
    """``doccano.jsonl.v1``: doccano text classification and sequence labelling JSONL."""
    from .doccano import DoccanoExporter

    return DoccanoExporter(kind=kind)


def make_conll(ids: bool = True, delimiter: str = " ") -> Any:
    """``conll.iob.v1``: NER as ``token TAG`` lines with IOB2 tags (``delimiter="\\t"`` for
    doccano)."""
    from .conll import ConllExporter

    return ConllExporter(ids=ids, delimiter=delimiter)


def make_hf_datasets(format: Literal["auto", "jsonl", "parquet"] = "auto") -> Any:
    """``hf.datasets.v1``: a Hugging Face ``datasets``-ready JSONL or Parquet table."""
    from .hf import HfDatasetsExporter

    return HfDatasetsExporter(format=format)


@distil.hookimpl
def register_exporters(register: Any) -> None:
    register("prodigy.jsonl.v1", make_prodigy)
    register("labelstudio.json.v1", make_labelstudio)
    register("doccano.jsonl.v1", make_doccano)
    register("conll.iob.v1", make_conll)
    register("hf.datasets.v1", make_hf_datasets)
