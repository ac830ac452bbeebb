"""The simulated extraction teacher: per-field accuracy as asked, wrong values of the right kind,
and records served through the real ``openai.chat.v1`` provider on the loopback server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import distil
import distil.plugins
from distil.extract.examples.snips import SnipsQuery
from distil.records import Example, Extraction
from distil.tasks.extract import ExtractTask
from distil.testing import SimulatedExtractTeacher, load_split, simulated_extract_llm

distil_openai_plugin = pytest.importorskip("distil_openai.plugin")


@pytest.fixture(scope="module")
def snips() -> list[Example]:
    rows = load_split("snips", "train", limit=3000)
    assert len(rows) == 3000
    return rows


@pytest.fixture(scope="module")
def task() -> ExtractTask:
    return ExtractTask(SnipsQuery)


@pytest.fixture(scope="module")
def teacher85(snips: list[Example], task: ExtractTask) -> SimulatedExtractTeacher:
    return SimulatedExtractTeacher(snips, task, accuracy=0.85, empty=0.25, seed=0)


def filled(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if v not in (None, "", [])}


def test_per_field_accuracy_on_snips_is_what_was_asked(
    teacher85: SimulatedExtractTeacher, task: ExtractTask, snips: list[Example]
) -> None:
    right = total = intent_right = 0
    for ex, answer in zip(snips, teacher85.answers, strict=True):
        gold = task.reference(ex)
        assert isinstance(gold, Extraction)
        for name, value in filled(gold.data).items():
            total += 1
            right += answer[name] == value
            if name == "intent":
                intent_right += answer[name] == value
    # ~3000 intents and ~8000 slot values: 0.85 within three standard errors
    assert total > 8000
    assert abs(right / total - 0.85) < 0.02
    assert abs(intent_right / len(snips) - 0.85) < 0.025
    assert teacher85.overall_accuracy() == pytest.approx(right / total)
    per = teacher85.field_accuracy()
    for name in ("intent", "artist", "object_name", "playlist", "timeRange"):
        assert abs(per[name] - 0.85) < 0.06, (name, per[name])


def test_wrong_fields_are_other_records_values_or_empty_and_absent_fields_stay_absent(
    teacher85: SimulatedExtractTeacher, task: ExtractTask, snips: list[Example]
) -> None:
    pools = {name: {repr(v) for v in vals} for name, vals in teacher85.pool.items()}
    empties = wrong_values = 0
    for ex, answer in zip(snips, teacher85.answers, strict=True):
        gold = task.reference(ex)
        assert isinstance(gold, Extraction)
        for name, value in gold.data.items():
            if value in (None, []):
                assert answer[name] == value  # hallucinate=0: nothing is made up
            elif answer[name] != value:
                if answer[name] in (None, []):
                    empties += 1
                else:
                    wrong_values += 1
                    assert repr(answer[name]) in pools[name]
        SnipsQuery.model_validate(answer)  # every answer is a valid record
    assert 0.15 < empties / (empties + wrong_values) < 0.35  # empty=0.25 of the wrong slots
    counts = teacher85.tally
    assert sum(c["empty"] for c in counts.values()) == empties
    assert counts["intent"]["empty"] == 0  # a required field is never answered empty


def test_the_same_seed_answers_the_same_and_another_differs(
    snips: list[Example], task: ExtractTask, teacher85: SimulatedExtractTeacher
) -> None:
    rows = snips[:400]
    again = SimulatedExtractTeacher(rows, task, accuracy=0.85, seed=0)
    twice = SimulatedExtractTeacher(rows, task, accuracy=0.85, seed=0)
    other = SimulatedExtractTeacher(rows, task, accuracy=0.85, seed=1)
    assert twice.answers == again.answers

    # which fields are wrong is drawn per row and field, whatever the other rows are
    def wrong(answers: list[dict[str, Any]]) -> list[set[str]]:
        return [
            {k for k, v in filled(g).items() if a[k] != v}
            for a, g in zip(answers, again.gold, strict=False)
        ]

    assert wrong(again.answers) == wrong(teacher85.answers[:400])
    assert other.answers != again.answers
    perfect = SimulatedExtractTeacher(rows, task, accuracy=1.0, seed=3)
    assert perfect.answers == perfect.gold


@pytest.fixture
def host() -> Iterator[distil.PluginHost]:
    host = distil.PluginHost(
        entry_points=False, modules=[("openai", distil_openai_plugin)], strict=True
    )
    distil.plugins.set_host(host)
    yield host
    distil.plugins.set_host(None)


def test_the_llm_teacher_gets_the_simulated_records_through_openai_chat(
    host: distil.PluginHost, snips: list[Example], task: ExtractTask
) -> None:
    rows = [
        *snips[:30],
        Example(id="emoji", text="play 🎵 Ünïcode Sóng by Sơn Tùng 🎤", labels=["PlayMusic"]),
    ]
    with simulated_extract_llm(rows, task, accuracy=0.7, seed=2) as sim:
        provider = host.create(
            "providers",
            "openai.chat.v1",
            model=sim.model,
            base_url=sim.base_url,
            max_tokens=sim.max_tokens,
        )
        preds = distil.PromptTeacher(provider, concurrency=4).label(task, rows)
        answers = sim.teacher.answers
        assert sim.teacher.unmatched == 0
    assert preds[0].source.startswith("teacher:openai.chat/simulated-extract-70#")
    got = [p.output.data for p in preds]
    assert got == [task.validate_data(a) for a in answers]
    assert sum(g != task.validate_data(r) for g, r in zip(got, sim.teacher.gold, strict=True)) > 0


def test_bad_arguments_say_what_is_wrong(snips: list[Example], task: ExtractTask) -> None:
    with pytest.raises(ValueError, match="accuracy must be in"):
        SimulatedExtractTeacher(snips[:5], task, accuracy=1.5)
    with pytest.raises(ValueError, match="no gold record"):
        SimulatedExtractTeacher([Example(id="x", text="hi")], task, accuracy=0.9)
