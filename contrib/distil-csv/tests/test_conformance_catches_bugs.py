"""The exporter conformance suite fails wrong exporters: each broken exporter below breaks one
rule, and the suite's check for that rule must fail on it (not pass, not crash elsewhere)."""

from __future__ import annotations

import inspect
import random
import re
from pathlib import Path
from typing import Any

import pytest

from distil.testing.exporters import ExporterConformance
from distil_csv import CsvExporter, TableRecord
from distil_csv.table import PROVENANCE


class DropsTheLast(CsvExporter):
    def export(self, records, path):
        report = super().export(records[:-1], path)
        return {**report, "records": len(records)}


class Duplicates(CsvExporter):
    def import_(self, path):
        records = super().import_(path)
        return records + records[-1:]


class Shuffles(CsvExporter):
    def import_(self, path):
        records = super().import_(path)
        random.Random(1).shuffle(records)
        return records


class LosesProvenance(CsvExporter):
    def import_(self, path):
        return [TableRecord(r.example, r.output) for r in super().import_(path)]


class LosesMeta(CsvExporter):
    def import_(self, path):
        return [
            TableRecord(r.example.model_copy(update={"meta": {}}), r.output, source=r.source)
            for r in super().import_(path)
        ]


class Streams(CsvExporter):
    """Writes each row straight into the target: a bad record leaves half a file."""

    def export(self, records, path):
        with open(path, "w", encoding="utf-8") as handle:
            for n, record in enumerate(records):
                handle.write(",".join(self._row(n, record)) + "\n")
        return {"records": len(records)}


class Appends(CsvExporter):
    def export(self, records, path):
        path = Path(path)
        old = path.read_text(encoding="utf-8") if path.exists() else None
        report = super().export(records, path)
        if old is not None:
            rows = path.read_text(encoding="utf-8").split("\n", 1)[1]
            path.write_text(old + rows, encoding="utf-8")
        return report


class VagueErrors(CsvExporter):
    def import_(self, path):
        try:
            return super().import_(path)
        except Exception:
            raise ValueError("could not read the file") from None


class NoCount(CsvExporter):
    def export(self, records, path):
        return {"path": str(path)}


class StripsText(CsvExporter):
    def _row(self, n, record):
        row = super()._row(n, record)
        row[1] = " ".join(row[1].split())
        return row


class Nondeterministic(CsvExporter):
    def export(self, records, path):
        report = super().export(records, path)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"# written {random.random()}\n")
        return report

    def import_(self, path):
        text = Path(path).read_text(encoding="utf-8")
        Path(path).write_text("\n".join(x for x in text.split("\n") if not x.startswith("#")))
        return super().import_(path)


class Suite(ExporterConformance):
    suffix = ".csv"
    provenance = PROVENANCE
    keeps_meta = True


SUITE = Suite()


@pytest.fixture(scope="module")
def data(shared_data: Path) -> dict[str, Any]:
    make_record = lambda example, output, **prov: TableRecord(example, output, **prov)  # noqa: E731
    get = lambda name: getattr(Suite, name).__wrapped__(SUITE, make_record, shared_data)  # noqa: E731
    categories = get("categories_records")
    return {
        "make_record": make_record,
        "categories_records": categories,
        "multilabel_records": get("multilabel_records"),
        "spans_records": get("spans_records"),
        "records": categories,
    }


def run_check(check: str, factory: Any, data: dict[str, Any], tmp_path: Path) -> None:
    """Call one suite check directly, passing the fixture values it asks for."""
    method = getattr(SUITE, check)
    wanted = inspect.signature(method).parameters
    values = {**data, "tmp_path": tmp_path, "exporter_factory": factory}
    method(**{k: v for k, v in values.items() if k in wanted})


CHECKS = sorted(n for n in dir(ExporterConformance) if n.startswith("test_"))


@pytest.mark.parametrize("check", CHECKS)
def test_the_suite_passes_the_correct_exporter(data, tmp_path, check):
    try:
        run_check(check, CsvExporter, data, tmp_path)
    except pytest.skip.Exception:
        assert check == "test_an_output_kind_the_format_cannot_hold_raises_naming_the_example"


@pytest.mark.parametrize(
    ("exporter", "check", "error"),
    [
        (DropsTheLast, "test_textcat_records_round_trip_once_each_in_order", "exactly once"),
        (Duplicates, "test_span_records_round_trip_with_exact_offsets", "exactly once"),
        (Shuffles, "test_multilabel_records_round_trip_with_every_label", "in order"),
        (LosesProvenance, "test_provenance_survives_the_round_trip", "came back as None"),
        (LosesMeta, "test_meta_survives_the_round_trip", "assert"),
        (
            Streams,
            "test_a_bad_record_raises_naming_it_and_keeps_the_old_file",
            "changed the existing",
        ),
        (Appends, "test_a_second_export_replaces_the_file", "exactly once"),
        (VagueErrors, "test_importing_a_missing_file_raises_naming_it", "could not read"),
        (VagueErrors, "test_importing_a_malformed_file_raises_naming_it", "could not read"),
        (NoCount, "test_export_reports_how_many_records_it_wrote", "report['records'] is None"),
        (
            StripsText,
            "test_textcat_records_round_trip_once_each_in_order",
            "changed in the round trip",
        ),
        (
            Nondeterministic,
            "test_export_is_deterministic_and_leaves_the_records_alone",
            "different files",
        ),
    ],
)
def test_the_suite_fails_an_exporter_that_breaks_its_rule(data, tmp_path, exporter, check, error):
    # VagueErrors raises a plain ValueError where the suite expects a DistilError naming the file.
    expected = ValueError if exporter is VagueErrors else AssertionError
    with pytest.raises(expected, match=re.escape(error)):
        run_check(check, exporter, data, tmp_path)
