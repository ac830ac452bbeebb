"""csv.table.v1 passes core's exporter conformance suite: CSV and TSV, its own records and
distil-exporters' ExportRecord (provenance is read from attributes, so both work)."""

from __future__ import annotations

import pytest

import distil
from distil.testing.exporters import ExporterConformance
from distil_csv import TableRecord


class TestCsvConformance(ExporterConformance):
    suffix = ".csv"
    provenance = ("source", "confidence", "annotator", "answer", "pass_name")
    keeps_meta = True

    @pytest.fixture
    def exporter_factory(self):
        return lambda: distil.get_host().create("exporters", "csv.table.v1")

    @pytest.fixture
    def make_record(self):
        return lambda example, output, **provenance: TableRecord(example, output, **provenance)


class TestTsvConformance(TestCsvConformance):
    suffix = ".tsv"


class TestCsvWithExportRecordsConformance(TestCsvConformance):
    @pytest.fixture
    def make_record(self):
        exporters = pytest.importorskip("distil_exporters")
        return lambda example, output, **prov: exporters.ExportRecord(example, output, **prov)
