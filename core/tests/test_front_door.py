"""The front door (issue 16, items 6 and 7): one room per stage, one name per span concept, and
typed exporter and executor contracts in the style of Student and Teacher."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest

import distil
from distil import builtins, parsing, prompting
from distil.errors import ParseError
from distil.records import Completion, Example

LABELS = ["PER", "LOC", "ORG", "MISC"]
TEXT = "Zoë flew from Zürich 🇨🇭 to São Paulo with Acme Corp. 🎉"


# -- one room per stage --------------------------------------------------------------------------
def test_builtins_registers_the_prompt_and_parse_defaults_of_their_own_modules() -> None:
    task = distil.NerTask(LABELS)
    example = Example(id="e1", text=TEXT)
    via_hook = builtins.distil_prompt(task=task, example=example, shots=[], style="chat")
    direct = prompting.default_prompt(task, example, [], "chat")
    assert via_hook == direct
    assert via_hook is not None and via_hook.messages[-1].content == TEXT
    assert builtins.distil_prompt(task=task, example=example, shots=[], style="completion") is None
    # the teacher renders a text-only prompt once per task: the mark survives the move
    assert getattr(builtins.distil_prompt, "distil_text_only", False) is True
    assert getattr(prompting.default_prompt, "distil_text_only", False) is True

    answer = '```json\n{"entities": [{"text": "São Paulo", "label": "LOC"}]}\n```'
    out = builtins.distil_parse(task=task, example=example, completion=Completion(text=answer))
    assert out == parsing.default_parse(task, example, Completion(text=answer))
    assert out is not None and [(TEXT[s.start : s.end], s.label) for s in out.spans] == [
        ("São Paulo", "LOC")
    ]


def test_the_old_import_paths_of_the_prompt_and_parse_helpers_still_work() -> None:
    assert builtins.render_chat is prompting.render_chat
    assert builtins.parse_json_answer is parsing.parse_json_answer
    assert builtins.TEMPLATES == prompting.TEMPLATES
    assert (prompting.TEMPLATES / "ner.jinja2").is_file()


def test_the_default_parser_refuses_refusals_truncations_and_prose() -> None:
    task = distil.TextCat(["spam", "ham"])
    example = Example(id="e1", text="WIN £5 now 🎉")
    with pytest.raises(ParseError, match="refused"):
        parsing.default_parse(task, example, Completion(text="", refusal="no"))
    with pytest.raises(ParseError, match="truncated"):
        parsing.default_parse(task, example, Completion(text='{"la', finish_reason="length"))
    with pytest.raises(ParseError, match="not valid JSON"):
        parsing.parse_json_answer("I think it is spam.")
    assert parsing.parse_json_answer('Sure! {"label": "spam"} hope that helps') == {"label": "spam"}


def test_docs_stages_names_a_module_for_each_of_the_five_stages() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "stages.md").read_text(encoding="utf-8")
    for stage, module in [
        ("prompt", "distil.prompting"),
        ("parse", "distil.parsing"),
        ("annotate", "distil.annotate"),
        ("train", "distil.train"),
        ("evaluate", "distil.evaluate"),
    ]:
        rows = [line for line in text.splitlines() if re.match(rf"\| \d\. {stage} \|", line)]
        assert rows and module in rows[0], f"docs/stages.md has no {stage} -> {module} row"


# -- one span-task name per concept ---------------------------------------------------------------
def test_ner_task_and_spans_task_are_the_names_and_build_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ner, spans = distil.NerTask(LABELS), distil.SpansTask(LABELS)
        again = type(ner).from_description({**ner.describe()})
        old_saved = distil.NerTask.from_description({"labels": LABELS, "allow_overlap": True})
    assert (ner.kind, spans.kind, again.kind, old_saved.kind) == ("ner", "spans", "ner", "spans")
    assert isinstance(ner, distil.SpanTask) and isinstance(spans, distil.SpanTask)


@pytest.mark.parametrize(
    ("kwargs", "built"), [({}, "NerTask"), ({"allow_overlap": True}, "SpansTask")]
)
def test_span_task_as_a_constructor_is_a_deprecated_alias_that_still_works(
    kwargs: dict[str, Any], built: str
) -> None:
    with pytest.warns(DeprecationWarning, match=f"use {built}"):
        task = distil.SpanTask(LABELS, **kwargs)
    assert type(task) is getattr(distil, built)
    example = Example(id="e1", text=TEXT)
    answer = {
        "entities": [{"text": "Zürich", "label": "LOC"}, {"text": "Acme Corp.", "label": "ORG"}]
    }
    spans = task.from_answer(answer, example).spans
    assert [(TEXT[s.start : s.end], s.label) for s in spans] == [
        ("Zürich", "LOC"),
        ("Acme Corp.", "ORG"),
    ]


# -- typed contracts ------------------------------------------------------------------------------
def test_executor_and_exporter_are_base_classes_exported_from_distil() -> None:
    assert "Executor" in distil.__all__ and "Exporter" in distil.__all__
    assert issubclass(distil.LocalExecutor, distil.Executor)
    for base in (distil.Executor, distil.Exporter):
        assert isinstance(base, type) and base.__module__.startswith("distil.")
    with pytest.raises(NotImplementedError):
        distil.Exporter().export([], "out.jsonl")


def test_an_executor_or_exporter_written_before_the_base_classes_still_counts() -> None:
    class DuckExecutor:
        name = "duck"

        def label(self, *args: Any, **kwargs: Any) -> Any: ...

        def predict(self, *args: Any, **kwargs: Any) -> Any: ...

    class DuckExporter:
        name = "duck.v1"

        def export(self, records: list[Any], path: str) -> dict[str, Any]:
            return {"records": len(records)}

    class NoPredict:
        name = "half"

        def label(self) -> None: ...

    assert isinstance(DuckExecutor(), distil.Executor)
    assert isinstance(DuckExporter(), distil.Exporter)
    assert not isinstance(NoPredict(), distil.Executor)
    assert not isinstance(DuckExecutor(), distil.Exporter)


def test_the_base_exporter_has_no_import_so_export_only_formats_stay_export_only() -> None:
    from distil.exporter import can_import

    class ExportOnly(distil.Exporter):
        name = "only.v1"

    class RoundTrip(distil.Exporter):
        name = "round.v1"

        def import_(self, path: str) -> list[Any]:
            return []

    assert not can_import(ExportOnly()) and can_import(RoundTrip())


def test_the_shipped_exporters_subclass_the_exporter_contract() -> None:
    host = distil.get_host()
    checked = []
    for name in host.names("exporters"):
        try:
            exporter = host.create("exporters", name)
        except Exception:  # an exporter with a required option or a missing optional library
            continue
        # subclassed, not only the right shape (isinstance would accept a duck)
        assert distil.Exporter in type(exporter).__mro__, name
        checked.append(name)
    if not checked:
        pytest.skip("no exporter plugin installed in this environment")
    assert distil.Executor in type(host.create("executors", "local.v1")).__mro__
