"""The teacher loop: prompt → provider → parse, failures recorded, cache, concurrency, resume."""

from __future__ import annotations

import asyncio
import json

import pytest

import distil
from distil import Completion, Example, Prompt, PromptTeacher, Provider, TextCat, Usage
from distil.store.sqlite import Store
from distil.teach.runner import label_dataset


class ScriptedProvider(Provider):
    """An LLM stand-in that answers from a script keyed by the user message.

    It exercises the real prompt hook, parse hook, cache and store; what it cannot stand in for
    (a real model's answers) is covered by distil-local's tests and the end-to-end tests.
    """

    name = "test.scripted"

    def __init__(self, answers: dict[str, str | Completion], delay: float = 0.0) -> None:
        super().__init__("scripted-1")
        self.answers = answers
        self.delay = delay
        self.calls: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def complete(self, prompt: Prompt) -> Completion:
        text = prompt.messages[-1].content
        self.calls.append(text)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(self.delay)
        self.in_flight -= 1
        answer = self.answers.get(text, '{"labels": ["ham"]}')
        if isinstance(answer, Completion):
            return answer
        return Completion(text=answer, usage=Usage(input_tokens=10, output_tokens=3))


@pytest.fixture
def task() -> TextCat:
    return TextCat(["ham", "spam"], descriptions={"spam": "unsolicited advertising"})


def examples(n: int) -> list[Example]:
    return [Example(id=f"e{i}", text=f"text {i}") for i in range(n)]


def test_prompt_is_rendered_from_the_task_and_asks_for_json(isolated_host, task) -> None:
    teacher = PromptTeacher(ScriptedProvider({}))
    prompt = teacher.prompt_for(task, Example(id="1", text="WIN a prize", labels=["spam"]))
    system = prompt.messages[0].content
    assert "- spam: unsolicited advertising" in system and "- ham" in system
    assert prompt.messages[-1].content == "WIN a prize"
    assert prompt.json_schema["properties"]["labels"]["items"]["enum"] == ["ham", "spam"]


def test_unparsable_answers_become_failures_and_the_run_goes_on(isolated_host, task) -> None:
    provider = ScriptedProvider(
        {
            "text 0": '{"labels": ["spam"]}',
            "text 1": '{"labels": ["eggs"]}',
            "text 2": "I think it is spam",
            "text 3": '```json\n{"labels": ["ham"]}\n```',
            "text 4": Completion(text='{"labels": ["sp', finish_reason="length"),
            "text 5": Completion(text="", refusal="I can't help with that"),
            "text 6": '{"labels": ["ham", "spam"]}',
        }
    )
    # max_reasks=0: this test is about failures being recorded; re-asks are tested elsewhere
    preds = PromptTeacher(provider, max_reasks=0).label(task, examples(7))
    assert [p.example_id for p in preds] == [f"e{i}" for i in range(7)]
    assert preds[0].output == distil.Categories(labels=["spam"])
    assert preds[3].output == distil.Categories(labels=["ham"])
    assert "not in the task's labels" in (preds[1].error or "")
    assert preds[1].raw == '{"labels": ["eggs"]}'
    assert "not valid JSON" in (preds[2].error or "")
    assert "truncated" in (preds[4].error or "")
    assert "refused" in (preds[5].error or "")
    assert "exactly one label" in (preds[6].error or "")
    assert all(p.output is None for p in (preds[1], preds[2], preds[4], preds[5], preds[6]))
    assert all(p.source == preds[0].source for p in preds)
    assert preds[0].source.startswith("teacher:test.scripted/scripted-1#prompt=")


def test_concurrency_is_bounded(isolated_host, task) -> None:
    provider = ScriptedProvider({}, delay=0.01)
    PromptTeacher(provider, concurrency=3).label(task, examples(20))
    assert provider.max_in_flight == 3
    assert len(provider.calls) == 20


def test_cache_asks_nothing_twice_and_only_what_changed(isolated_host, task, tmp_path) -> None:
    store = Store(tmp_path / "p.db")
    provider = ScriptedProvider({})
    teacher = PromptTeacher(provider, cache=store)
    teacher.label(task, examples(5))
    assert len(provider.calls) == 5
    preds = teacher.label(task, examples(8))
    assert provider.calls[5:] == ["text 5", "text 6", "text 7"]  # only the new ones
    assert [p.usage.cached for p in preds] == [True] * 5 + [False] * 3
    edited = TextCat(["ham", "spam"], descriptions={"spam": "advertising"})
    teacher.label(edited, examples(8))
    assert len(provider.calls) == 16  # the prompt changed for every example
    teacher.label(task, examples(8))
    assert len(provider.calls) == 16  # back to the first prompt: all cached
    assert teacher.source(edited) != teacher.source(task)


def test_label_dataset_skips_answered_examples_and_commits_each_answer(
    isolated_host, task, tmp_path
) -> None:
    store = Store(tmp_path / "p.db")
    store.add_examples(examples(10), "train")
    provider = ScriptedProvider({"text 3": "nonsense"})
    teacher = PromptTeacher(provider, max_reasks=0)
    first = label_dataset(store, task, teacher, "train", limit=4)
    assert (first.labelled, first.failures, first.already_done) == (4, 1, 0)
    second = label_dataset(store, task, teacher, "train")
    assert (second.labelled, second.already_done, second.total) == (6, 4, 10)
    assert sorted(provider.calls) == sorted(f"text {i}" for i in range(10))
    stored = store.predictions(teacher.source(task))
    assert len(stored) == 10 and stored["e3"].error and stored["e3"].raw == "nonsense"
    assert json.loads(stored["e0"].model_dump_json())["output"]["labels"] == ["ham"]
