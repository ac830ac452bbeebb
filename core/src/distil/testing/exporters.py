"""The exporter conformance suite: behaviour every exporter plugin must show.

An exporter hands distil's records to another tool and, where the tool has a format to read
back, takes them home again (``export(records, path) -> report``, optional
``import_(path) -> records``). A plugin's tests subclass :class:`ExporterConformance`, provide one
fixture, ``exporter_factory`` (a zero-argument callable returning a fresh exporter), and say with
class attributes what their format can hold::

    from distil.testing.exporters import ExporterConformance

    class TestMyExporter(ExporterConformance):
        suffix = ".csv"
        kinds = ("categories",)                 # the output kinds the format holds
        provenance = ("source", "confidence")   # record attributes that survive a round trip
        keeps_meta = True                       # Example.meta survives a round trip

        @pytest.fixture
        def exporter_factory(self):
            return MyExporter

The contract, derived from the exporters of distil-exporters:

* ``export`` takes a list of records, each an ``(Example, output)`` pair or an object that
  unpacks as one (``example, output = record``) and may carry provenance as attributes
  (``source``, ``confidence``, ``annotator``, ``answer``, ``pass_name``); it returns a JSON-able
  report whose ``records`` is the number of records written.
* A round trip (``import_(export(records))``) gives back every record exactly once, in order,
  with the same id, text and output, and the provenance and meta the format declares it keeps.
* The file is written whole or not at all: a failed export leaves an existing file as it was and
  no stray temporary file beside it; a second export replaces the file, never appends.
* A bad record, an output kind the format cannot hold, a missing or malformed file each raise a
  :class:`distil.DistilError` that names the record (its index or example id) or the file.
* Exporting the same records twice gives the same bytes (exports are diffable and cacheable),
  and the caller's records are not changed.

Records are built by the ``make_record`` fixture: ``make_record(example, output, **provenance)``.
Its default returns the plain pair (dropping provenance); a plugin with its own record type (like
``distil_exporters.ExportRecord``) overrides it. Sample data (``categories_records``,
``multilabel_records``, ``spans_records``) comes from the shared sms_spam, goemotions and wikigold
test splits, with meta, provenance and a text full of characters that break naive writers (the
``shared_data`` fixture skips the suite with a reason where the data sets are missing, and fails
it under CI).
The suite never imports a plugin: it drives the exporter only through that interface.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ..errors import DistilError
from ..records import Categories, Example, Spans, TaskOutput, output_from_example
from .data import load_split

ExporterFactory = Callable[[], Any]
MakeRecord = Callable[..., Any]

#: Record attributes an exporter may keep, in the order the suite compares them.
PROVENANCE_FIELDS = ("source", "confidence", "annotator", "answer", "pass_name")
TEACHER_SOURCE = "teacher:openai.chat/gpt-4o-mini#prompt=3f2a9c1e"
#: A text that breaks naive CSV, JSON and line-based writers.
AWKWARD_TEXT = 'She said "win, a prize!"\nnew line\ttab, \\ backslash; émoji 🎉 and £5 '
ROWS = 30


# -- sample data --------------------------------------------------------------------------------
@cache
def _split(dataset: str, limit: int) -> tuple[Example, ...]:
    return tuple(load_split(dataset, "test", limit=limit))


def provenance_for(n: int) -> dict[str, Any]:
    """Provenance of sample record ``n``: every third a human's accepted answer, the rest a
    teacher's label with a confidence, as they come out of ``distil train``'s merge."""
    if n % 3 == 0:
        return {
            "source": "human:alice#pass=review",
            "annotator": "alice",
            "answer": "accept",
            "pass_name": "review",
        }
    return {"source": TEACHER_SOURCE, "confidence": round(0.5 + n / 1000, 3)}


def sample_pairs(dataset: str, limit: int = ROWS) -> list[tuple[Example, TaskOutput]]:
    """The first ``limit`` test rows of a shared data set as (bare example, reference output);
    every other example gets meta (a number, a string with non-ASCII, a nested object)."""
    pairs = []
    for n, example in enumerate(_split(dataset, limit)):
        output = output_from_example(example)
        if output is None:
            raise ValueError(f"{dataset} test row {example.id!r} has no reference answer")
        bare = example.without_answer()
        if n % 2:
            bare = bare.model_copy(update={"meta": {"batch": n, "note": "café", "tags": {"a": 1}}})
        pairs.append((bare, output))
    return pairs


def essence(record: Any) -> tuple[Any, ...]:
    """What a round trip must keep of any record: id, text, output kind and answer."""
    example, output = record
    answer: frozenset[Any]
    if isinstance(output, Spans):
        answer = frozenset((s.start, s.end, s.label) for s in output.spans)
    else:
        assert isinstance(output, Categories), f"output {type(output).__name__} is not a TaskOutput"
        answer = frozenset(output.labels)
    return (example.id, example.text, output.kind, answer)


def _dump(records: Sequence[Any]) -> list[Any]:
    out = []
    for record in records:
        example, output = record
        out.append((example.model_dump(), output.model_dump()))
    return out


def example_of(record: Any) -> Example:
    """The example of a record (records unpack as ``(example, output)``)."""
    example, _ = record
    assert isinstance(example, Example), f"a record's example is {type(example).__name__}"
    return example


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- the suite ----------------------------------------------------------------------------------
class ExporterConformance:
    """Subclass, provide ``exporter_factory`` and set the class attributes; see the module doc."""

    #: File name suffix the format uses (the suite writes ``<tmp>/out<suffix>``).
    suffix: ClassVar[str] = ".jsonl"
    #: Output kinds the format holds: ``"categories"`` and/or ``"spans"``.
    kinds: ClassVar[tuple[str, ...]] = ("categories", "spans")
    #: Record attributes (of :data:`PROVENANCE_FIELDS`) that survive a round trip.
    provenance: ClassVar[tuple[str, ...]] = ()
    #: Whether ``Example.meta`` survives a round trip.
    keeps_meta: ClassVar[bool] = False

    @pytest.fixture
    def exporter_factory(self) -> ExporterFactory:
        pytest.fail(
            f"{type(self).__name__} must define an `exporter_factory` fixture returning a "
            "zero-argument callable that builds a fresh exporter"
        )

    @pytest.fixture
    def make_record(self) -> MakeRecord:
        return lambda example, output, **provenance: (example, output)

    @pytest.fixture
    def categories_records(self, make_record: MakeRecord, shared_data: Path) -> list[Any]:
        pairs = sample_pairs("sms_spam")
        awkward = Example(id='awkward,"id"', text=AWKWARD_TEXT, meta={"quote": 'a "b", c'})
        pairs.append((awkward, Categories(labels=["spam"])))
        return [
            make_record(example, output, **provenance_for(n))
            for n, (example, output) in enumerate(pairs)
        ]

    @pytest.fixture
    def multilabel_records(self, make_record: MakeRecord, shared_data: Path) -> list[Any]:
        pairs = sample_pairs("goemotions")
        assert any(len(o.labels) > 1 for _, o in pairs if isinstance(o, Categories))
        pairs.append((Example(id="no-label", text="Nothing applies here."), Categories(labels=[])))
        return [make_record(e, o, **provenance_for(n)) for n, (e, o) in enumerate(pairs)]

    @pytest.fixture
    def spans_records(self, make_record: MakeRecord, shared_data: Path) -> list[Any]:
        pairs = sample_pairs("wikigold")
        assert any(isinstance(o, Spans) and len(o.spans) > 1 for _, o in pairs)
        return [make_record(e, o, **provenance_for(n)) for n, (e, o) in enumerate(pairs)]

    @pytest.fixture
    def records(
        self,
        categories_records: list[Any],
        spans_records: list[Any],
    ) -> list[Any]:
        """Records of the first kind the format holds (the general checks use these)."""
        return categories_records if "categories" in self.kinds else spans_records

    # -- helpers -----------------------------------------------------------------------------
    def path(self, folder: Path, name: str = "out") -> Path:
        return folder / f"{name}{self.suffix}"

    def importer(self, exporter_factory: ExporterFactory) -> Any:
        """A fresh exporter that can import, or skip: export-only formats have no round trip."""
        exporter = exporter_factory()
        if not callable(getattr(exporter, "import_", None)):
            pytest.skip(f"{type(exporter).__name__} has no import_: export only")
        return exporter

    def export(self, factory: ExporterFactory, records: list[Any], path: Path) -> dict[str, Any]:
        report = factory().export(records, path)
        assert isinstance(report, dict), f"export must return a dict report, got {type(report)}"
        return report

    def round_trip(self, factory: ExporterFactory, records: list[Any], folder: Path) -> list[Any]:
        importer = self.importer(factory)
        path = self.path(folder)
        self.export(factory, records, path)
        back = importer.import_(path)
        assert isinstance(back, list), f"import_ must return a list, got {type(back)}"
        return back

    def assert_same_records(self, original: list[Any], back: list[Any]) -> None:
        want = [essence(r) for r in original]
        got = [essence(r) for r in back]
        assert [g[0] for g in got] == [w[0] for w in want], (
            "ids after the round trip differ: every record must come back exactly once, in order"
        )
        for w, g in zip(want, got, strict=True):
            assert g == w, f"example {w[0]!r} changed in the round trip: {w} became {g}"

    def assert_same_provenance(self, original: list[Any], back: list[Any]) -> None:
        for name in self.provenance:
            assert name in PROVENANCE_FIELDS, f"unknown provenance field {name!r}"
            want = [getattr(r, name, None) for r in original]
            got = [getattr(r, name, None) for r in back]
            assert any(v is not None for v in want), f"the sample records carry no {name!r}"
            for record, w, g in zip(original, want, got, strict=True):
                assert g == w, (
                    f"{name} of example {example_of(record).id!r}: {w!r} came back as {g!r}"
                )

    # -- export --------------------------------------------------------------------------------
    def test_export_reports_how_many_records_it_wrote(
        self, exporter_factory: ExporterFactory, records: list[Any], tmp_path: Path
    ) -> None:
        path = self.path(tmp_path)
        report = self.export(exporter_factory, records, path)
        json.dumps(report)  # raises TypeError when the report is not JSON-able
        assert report.get("records") == len(records), (
            f"report['records'] is {report.get('records')!r}, {len(records)} records were given"
        )
        assert path.is_file() and path.stat().st_size > 0, f"export wrote nothing to {path}"

    def test_export_creates_missing_parent_folders(
        self, exporter_factory: ExporterFactory, records: list[Any], tmp_path: Path
    ) -> None:
        path = self.path(tmp_path / "a" / "b")
        self.export(exporter_factory, records[:3], path)
        assert path.is_file()

    def test_export_is_deterministic_and_leaves_the_records_alone(
        self, exporter_factory: ExporterFactory, records: list[Any], tmp_path: Path
    ) -> None:
        before = _dump(records)
        first, second = self.path(tmp_path, "first"), self.path(tmp_path, "second")
        self.export(exporter_factory, records, first)
        self.export(exporter_factory, records, second)
        assert first.read_bytes() == second.read_bytes(), "the same records gave different files"
        assert _dump(records) == before, "export changed the records it was given"

    def test_a_bad_record_raises_naming_it_and_keeps_the_old_file(
        self, exporter_factory: ExporterFactory, records: list[Any], tmp_path: Path
    ) -> None:
        path = self.path(tmp_path)
        self.export(exporter_factory, records, path)
        old = path.read_bytes()
        example = Example(id="bad-record-7", text="an output that is not a task output")
        bad = [*records[:5], (example, "spam")]
        with pytest.raises(DistilError) as info:
            exporter_factory().export(bad, path)
        message = str(info.value)
        assert "bad-record-7" in message or re.search(r"\b5\b", message), (
            f"the error does not name the bad record (index 5, id 'bad-record-7'): {message}"
        )
        assert path.read_bytes() == old, "a failed export changed the existing file"
        assert _files(tmp_path) == [path.name], f"a failed export left files: {_files(tmp_path)}"

    def test_an_output_kind_the_format_cannot_hold_raises_naming_the_example(
        self,
        exporter_factory: ExporterFactory,
        records: list[Any],
        categories_records: list[Any],
        spans_records: list[Any],
        tmp_path: Path,
    ) -> None:
        if set(self.kinds) >= {"categories", "spans"}:
            pytest.skip("the format holds both output kinds")
        other = spans_records if "categories" in self.kinds else categories_records
        path = self.path(tmp_path)
        self.export(exporter_factory, records, path)
        old = path.read_bytes()
        stray = other[1]
        with pytest.raises(DistilError) as info:
            exporter_factory().export([*records[:3], stray], path)
        assert example_of(stray).id in str(info.value), (
            f"the error does not name the example: {info.value}"
        )
        assert path.read_bytes() == old, "a failed export changed the existing file"
        assert _files(tmp_path) == [path.name], f"a failed export left files: {_files(tmp_path)}"

    # -- round trip ----------------------------------------------------------------------------
    def test_textcat_records_round_trip_once_each_in_order(
        self, exporter_factory: ExporterFactory, categories_records: list[Any], tmp_path: Path
    ) -> None:
        if "categories" not in self.kinds:
            pytest.skip("the format holds no text classification records")
        back = self.round_trip(exporter_factory, categories_records, tmp_path)
        self.assert_same_records(categories_records, back)

    def test_multilabel_records_round_trip_with_every_label(
        self, exporter_factory: ExporterFactory, multilabel_records: list[Any], tmp_path: Path
    ) -> None:
        if "categories" not in self.kinds:
            pytest.skip("the format holds no text classification records")
        back = self.round_trip(exporter_factory, multilabel_records, tmp_path)
        self.assert_same_records(multilabel_records, back)

    def test_span_records_round_trip_with_exact_offsets(
        self, exporter_factory: ExporterFactory, spans_records: list[Any], tmp_path: Path
    ) -> None:
        if "spans" not in self.kinds:
            pytest.skip("the format holds no span records")
        back = self.round_trip(exporter_factory, spans_records, tmp_path)
        self.assert_same_records(spans_records, back)

    def test_provenance_survives_the_round_trip(
        self, exporter_factory: ExporterFactory, records: list[Any], tmp_path: Path
    ) -> None:
        if not self.provenance:
            pytest.skip("the format declares no provenance it keeps")
        back = self.round_trip(exporter_factory, records, tmp_path)
        self.assert_same_provenance(records, back)

    def test_meta_survives_the_round_trip(
        self, exporter_factory: ExporterFactory, records: list[Any], tmp_path: Path
    ) -> None:
        if not self.keeps_meta:
            pytest.skip("the format declares it does not keep example meta")
        back = self.round_trip(exporter_factory, records, tmp_path)
        want = [example_of(r).meta for r in records]
        assert any(want), "the sample records carry no meta"
        assert [example_of(r).meta for r in back] == want

    def test_no_records_round_trip_to_no_records(
        self, exporter_factory: ExporterFactory, tmp_path: Path
    ) -> None:
        assert self.round_trip(exporter_factory, [], tmp_path) == []

    def test_a_second_export_replaces_the_file(
        self, exporter_factory: ExporterFactory, records: list[Any], tmp_path: Path
    ) -> None:
        importer = self.importer(exporter_factory)
        path = self.path(tmp_path)
        self.export(exporter_factory, records, path)
        self.export(exporter_factory, records[:2], path)
        self.assert_same_records(records[:2], importer.import_(path))
        assert _files(tmp_path) == [path.name], f"export left files: {_files(tmp_path)}"

    # -- import errors -------------------------------------------------------------------------
    def test_importing_a_missing_file_raises_naming_it(
        self, exporter_factory: ExporterFactory, tmp_path: Path
    ) -> None:
        importer = self.importer(exporter_factory)
        path = self.path(tmp_path, "missing")
        with pytest.raises(DistilError) as info:
            importer.import_(path)
        assert str(path) in str(info.value), f"the error does not name the file: {info.value}"

    def test_importing_a_malformed_file_raises_naming_it(
        self, exporter_factory: ExporterFactory, tmp_path: Path
    ) -> None:
        importer = self.importer(exporter_factory)
        path = self.path(tmp_path, "malformed")
        path.write_text("this is not an export of this format {[\n", encoding="utf-8")
        with pytest.raises(DistilError) as info:
            importer.import_(path)
        assert str(path) in str(info.value), f"the error does not name the file: {info.value}"


__all__ = [
    "AWKWARD_TEXT",
    "PROVENANCE_FIELDS",
    "ExporterConformance",
    "ExporterFactory",
    "MakeRecord",
    "essence",
    "example_of",
    "provenance_for",
    "sample_pairs",
]
