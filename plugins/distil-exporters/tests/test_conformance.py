"""Every exporter of distil-exporters passes core's exporter conformance suite.

The class attributes say what each format keeps; the suite checks that it really does (and that a
format never loses a record, writes half a file or fails without naming what failed).
"""

from __future__ import annotations

import pytest

import distil
from distil.testing.exporters import ExporterConformance
from distil_exporters import ExportRecord

ALL = ("source", "confidence", "annotator", "answer", "pass_name")


class ExportersConformance(ExporterConformance):
    """The records are :class:`ExportRecord` objects, so provenance travels with them."""

    registered_name = ""

    @pytest.fixture
    def exporter_factory(self):
        return lambda: distil.get_host().create("exporters", self.registered_name)

    @pytest.fixture
    def make_record(self):
        return lambda example, output, **provenance: ExportRecord(example, output, **provenance)


class TestProdigyConformance(ExportersConformance):
    registered_name = "prodigy.jsonl.v1"
    # A task without an answer is an "accept" in Prodigy, so a teacher label comes back accepted.
    provenance = ("source", "confidence", "annotator", "pass_name")
    keeps_meta = True


class TestLabelStudioConformance(ExportersConformance):
    registered_name = "labelstudio.json.v1"
    suffix = ".json"
    provenance = ALL
    keeps_meta = True


class TestDoccanoConformance(ExportersConformance):
    registered_name = "doccano.jsonl.v1"
    provenance = ALL
    keeps_meta = True


class TestConllConformance(ExportersConformance):
    registered_name = "conll.iob.v1"
    suffix = ".conll"
    kinds = ("spans",)


class TestHfDatasetsConformance(ExportersConformance):
    registered_name = "hf.datasets.v1"
    provenance = ALL
    keeps_meta = True
