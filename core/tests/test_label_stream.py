"""The streaming label pass: pages from the store, bulk cache look-ups, batched writes.

A label run reads its pending examples by an anti-join, a page at a time, answers a page's cache
hits from one look-up, and writes answers (with their cache entries) in batched transactions.
These tests pin what that must keep: every answer stored once, nothing asked twice, old cache
keys still found, prompts that depend on more than the text still rendered per example.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from distil import Completion, Example, Prompt, PromptTeacher, Provider, TextCat, Usage
from distil.plugins import PluginHost, hookimpl, set_host
from distil.store.sqlite import Store
from distil.teach.runner import forget_failures, label_dataset

#: 77 labels, like banking77, with an emoji and an accent in a few of them.
LABELS = [f"intent_{i:02d}" for i in range(74)] + ["carte_refusée", "top_up 💳", "other"]


class Instant(Provider):
    """Answers at once, with the label at the text's index (``text N ...``); records each text."""

    name = "test.instant"

    def __init__(self, fail: set[int] | None = None, stop_at: int | None = None) -> None:
        super().__init__("instant-1")
        self.calls: list[str] = []
        self.fail = fail or set()
        self.stop_at = stop_at

    async def complete(self, prompt: Prompt) -> Completion:
        text = prompt.messages[-1].content
        if self.stop_at is not None and len(self.calls) >= self.stop_at:
            raise KeyboardInterrupt
        self.calls.append(text)
        index = int(text.split()[1])
        label = "eggs" if index in self.fail else LABELS[index % len(LABELS)]
        return Completion(
            text=json.dumps({"labels": [label]}, ensure_ascii=False),
            usage=Usage(input_tokens=50, output_tokens=5),
        )


def rows(n: int, start: int = 0) -> list[Example]:
    # real-looking text: emoji, accents, quotes and a newline
    return [
        Example(id=f"e{i}", text=f'text {i} — my card 💳 was "declined" at the café\nhelp?')
        for i in range(start, start + n)
    ]


@pytest.fixture
def task() -> TextCat:
    return TextCat(LABELS)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "p.db")
    yield s
    s.close()


def no_full_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the label pass read the whole data set")

    monkeypatch.setattr(Store, "examples", refuse)
    monkeypatch.setattr(Store, "answered_ids", refuse)


def test_a_cached_relabel_asks_nothing_and_reads_the_cache_a_page_at_a_time(
    isolated_host, task, store, monkeypatch
) -> None:
    store.add_examples(rows(250), "train")
    provider = Instant()
    first = label_dataset(store, task, PromptTeacher(provider), "train", page_size=100)
    assert (first.labelled, len(provider.calls)) == (250, 250)
    teacher = PromptTeacher(provider)
    before = store.predictions(teacher.source(task), dataset="train")
    store.delete_predictions(teacher.source(task), "train")

    no_full_reads(monkeypatch)
    lookups: list[int] = []
    many = Store.cache_get_many_json
    monkeypatch.setattr(Store, "cache_get", lambda *a: pytest.fail("one cache look-up per row"))
    monkeypatch.setattr(
        Store,
        "cache_get_many_json",
        lambda self, keys: lookups.append(len(keys)) or many(self, keys),
    )
    again = label_dataset(store, task, teacher, "train", page_size=100)

    assert len(provider.calls) == 250  # nothing asked again
    assert lookups == [100, 100, 50]  # one look-up per page
    assert (again.labelled, again.ledger["cache_hits"], again.ledger["requests"]) == (250, 250, 0)
    after = store.predictions(teacher.source(task), dataset="train")
    assert {k: (p.output, p.raw) for k, p in after.items()} == {
        k: (p.output, p.raw) for k, p in before.items()
    }
    assert after["e74"].output.labels == ["carte_refusée"]
    assert all(p.usage.cached and p.usage.attempts == 0 for p in after.values())


def test_a_rerun_with_nothing_pending_reads_no_example(isolated_host, task, store, monkeypatch):
    store.add_examples(rows(30), "train")
    provider = Instant()
    label_dataset(store, task, PromptTeacher(provider), "train")
    no_full_reads(monkeypatch)
    monkeypatch.setattr(Store, "pending_examples", lambda *a, **k: pytest.fail("paged"))
    result = label_dataset(store, task, PromptTeacher(provider), "train")
    assert (result.total, result.already_done, result.labelled) == (30, 30, 0)
    assert len(provider.calls) == 30


def test_limit_and_resume_label_the_first_rows_then_only_the_rest(isolated_host, task, store):
    store.add_examples(rows(40), "train")
    store.add_examples(rows(5), "gold")  # same ids in another data set: never mixed up
    provider = Instant()
    first = label_dataset(store, task, PromptTeacher(provider), "train", limit=15, page_size=4)
    assert (first.total, first.labelled) == (15, 15)
    second = label_dataset(store, task, PromptTeacher(provider), "train", page_size=7)
    assert (second.total, second.already_done, second.labelled) == (40, 15, 25)
    assert sorted(provider.calls) == sorted(ex.text for ex in rows(40))
    assert store.count_answered(PromptTeacher(provider).source(task), "gold") == 0


def test_pages_are_pulled_as_workers_need_them(isolated_host, task) -> None:
    pulled = []

    class Counting(Instant):
        async def complete(self, prompt: Prompt) -> Completion:
            self.seen = getattr(self, "seen", None) or len(pulled)
            await asyncio.sleep(0)
            return await super().complete(prompt)

    def pages():
        for start in range(0, 500, 10):
            pulled.append(start)
            yield rows(10, start)

    provider = Counting()
    teacher = PromptTeacher(provider, concurrency=2)
    got: list[str] = []
    asyncio.run(
        teacher.astream(task, pages(), lambda preds: got.extend(p.example_id for p in preds))
    )
    assert len(got) == len(set(got)) == 500
    assert provider.seen <= 2  # the first request went out before a third page was read


def test_answers_and_their_cache_entries_are_written_in_batches(
    isolated_host, task, store, monkeypatch
) -> None:
    store.add_examples(rows(300), "train")
    writes: list[tuple[int, int]] = []
    add = Store.add_predictions

    def spy(self, preds, dataset=None, *, cache=(), **kwargs):
        preds = list(preds)
        writes.append((len(preds), len(cache)))
        return add(self, preds, dataset, cache=cache, **kwargs)

    monkeypatch.setattr(Store, "add_predictions", spy)
    monkeypatch.setattr(Store, "cache_put", lambda *a: pytest.fail("a commit per answer"))
    teacher = PromptTeacher(Instant(), concurrency=4)
    teacher.write_rows = 100
    label_dataset(store, task, teacher, "train")
    assert sum(n for n, _ in writes) == 300 and sum(c for _, c in writes) == 300
    assert len(writes) <= 10  # not one transaction per answer
    assert store.cache_stats()["entries"] == 300


def test_an_interrupted_run_stores_every_answer_it_got_and_resumes(isolated_host, task, store):
    store.add_examples(rows(20), "train")
    provider = Instant(stop_at=7)
    with pytest.raises(KeyboardInterrupt):
        label_dataset(store, task, PromptTeacher(provider, concurrency=1), "train")
    source = PromptTeacher(provider).source(task)
    assert store.count_answered(source, "train") == 7
    assert store.cache_stats()["entries"] == 7
    provider.stop_at = None
    again = label_dataset(store, task, PromptTeacher(provider), "train")
    assert (again.already_done, again.labelled) == (7, 13)
    assert len(provider.calls) == 20  # nothing answered was asked again


def test_the_text_only_key_stays_content_addressed(isolated_host, task, store) -> None:
    provider = Instant()
    teacher = PromptTeacher(provider, cache=store)
    teacher.label(task, rows(6))
    changed = rows(6)
    changed[2] = Example(id="e2", text="text 2 is now different 🙂")
    teacher.label(task, changed)
    assert provider.calls[6:] == ["text 2 is now different 🙂"]  # only what changed
    edited = TextCat(LABELS, descriptions={"other": "none of the above"})
    teacher.label(edited, rows(6))
    assert len(provider.calls) == 13  # the prompt changed: every example is asked
    provider.params = {"temperature": 0.5}  # another identity: asked again
    teacher.label(task, rows(2))
    assert len(provider.calls) == 15


def test_the_framed_prompt_is_the_prompt_the_hook_builds(isolated_host, task) -> None:
    teacher = PromptTeacher(Instant(), shots=[Example(id="s", text="shot 💳", labels=["other"])])
    frame = teacher.frame(task)
    assert frame is not None
    for ex in [*rows(3), Example(id="x", text=""), Example(id="y", text="{{ task }} \\n ✨")]:
        assert frame.prompt(ex.text).model_dump() == teacher.prompt_for(task, ex).model_dump()


def test_the_frame_s_whole_prompt_key_is_the_key_of_the_whole_prompt(isolated_host, task) -> None:
    """The old key a miss looks up comes from the frame's cut dump: it must be cache_key's."""
    teacher = PromptTeacher(Instant(), shots=[Example(id="s", text="shot 💳", labels=["other"])])
    frame = teacher.frame(task)
    assert frame is not None and frame.whole is not None
    marker = "\u2063distil whole-key slot\u2063"
    for text in ["", 'a "quote" \\ \n', "carte_refusée 💳 \u2063", marker, "\ud800", "x" * 3000]:
        assert frame.whole_key(text) == teacher.cache_key(frame.prompt(text))
    ex = Example(id="e", text="text 1 lost card")
    assert teacher.keys_for(task, ex) == [
        frame.key(ex.text),
        teacher.cache_key(teacher.prompt_for(task, ex)),
    ]


def test_an_old_store_s_cache_keys_are_still_found(isolated_host, task, store) -> None:
    """Entries written under the whole-prompt key (before the text-only key) answer the run."""
    store.add_examples(rows(12), "train")
    provider = Instant(fail={3})
    old = PromptTeacher(provider, cache=store, max_reasks=0)
    for ex in rows(12):  # what the earlier distil stored: sha256 of provider + whole prompt
        prompt = old.prompt_for(task, ex)
        completion = asyncio.run(provider.complete(prompt))
        store.cache_put(old.cache_key(prompt), completion.model_dump(mode="json"))
    asked = len(provider.calls)
    teacher = PromptTeacher(provider, max_reasks=0)
    result = label_dataset(store, task, teacher, "train")
    assert len(provider.calls) == asked  # every answer came from the old keys
    assert (result.labelled, result.failures, result.ledger["cache_hits"]) == (12, 1, 12)

    # --retry-failed drops the old entry of the failure too, so it is asked again
    assert forget_failures(store, task, teacher, "train") == 1
    provider.fail = set()
    retry = label_dataset(store, task, teacher, "train")
    assert retry.labelled == 1 and provider.calls[asked:] == [rows(12)[3].text]


class MetaPrompt:
    """A prompt plugin that reads the example's meta: its prompts must not be framed."""

    @staticmethod
    @hookimpl
    def distil_prompt(task, example, shots, style):  # type: ignore[no-untyped-def]
        if style != "chat":
            return None
        tone = example.meta.get("tone", "plain")
        from distil.records import Message

        return Prompt(
            messages=[
                Message(role="system", content=f"Answer in a {tone} tone."),
                Message(role="user", content=example.text),
            ]
        )


def test_a_prompt_that_reads_more_than_the_text_is_rendered_per_example(task, store) -> None:
    host = PluginHost(entry_points=False, strict=True)
    host.pm.register(MetaPrompt, name="meta-prompt")
    set_host(host)
    try:
        seen: list[str] = []

        class Recording(Instant):
            async def complete(self, prompt: Prompt) -> Completion:
                seen.append(prompt.messages[0].content)
                return await super().complete(prompt)

        teacher = PromptTeacher(Recording(), cache=store)
        assert teacher.frame(task) is None
        examples = [
            Example(id="a", text="text 1 hi", meta={"tone": "formal"}),
            Example(id="b", text="text 1 hi", meta={"tone": "casual"}),
        ]
        teacher.label(task, examples)
        assert seen == ["Answer in a formal tone.", "Answer in a casual tone."]
    finally:
        set_host(None)


def test_the_store_gains_the_paging_index(tmp_path: Path) -> None:
    with Store(tmp_path / "p.db"):
        pass
    con = sqlite3.connect(tmp_path / "p.db")
    names = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    plan = " ".join(
        str(row[-1])
        for row in con.execute(
            "EXPLAIN QUERY PLAN SELECT seq FROM examples WHERE dataset = 'x' AND seq > 5"
            " ORDER BY seq LIMIT 10"
        )
    )
    con.close()
    assert "examples_dataset_seq" in names and "examples_dataset_seq" in plan


def test_a_cached_invalid_answer_is_reasked_once_and_the_fix_is_cached(
    isolated_host, task, store
) -> None:
    class Fixable(Provider):
        name = "test.fixable"

        def __init__(self) -> None:
            super().__init__("fixable-1")
            self.asked: list[str] = []

        async def complete(self, prompt: Prompt) -> Completion:
            last = prompt.messages[-1].content
            self.asked.append(last)
            good = last.startswith("Your answer was invalid")
            label = "other" if good else "not-a-label"
            return Completion(text=json.dumps({"labels": [label]}), usage=Usage(input_tokens=9))

    store.add_examples(rows(3), "train")
    provider = Fixable()
    first = label_dataset(store, task, PromptTeacher(provider, max_reasks=0), "train")
    assert first.failures == 3 and len(provider.asked) == 3  # the invalid answers are cached
    teacher = PromptTeacher(provider, max_reasks=1)
    assert forget_failures(store, task, PromptTeacher(provider, max_reasks=0), "train") == 3
    store.cache_put(teacher.key_for(task, rows(3)[0]), {"text": '{"labels": ["nope"]}'})
    again = label_dataset(store, task, teacher, "train")
    # e0's cached invalid answer is re-asked online (one request); e1, e2 are asked afresh
    assert (again.labelled, again.failures, again.ledger["reasks"]) == (3, 0, 3)
    assert again.ledger["cache_hits"] == 1
    assert len(provider.asked) == 3 + 1 + 2 * 2
    preds = store.predictions(teacher.source(task), dataset="train")
    assert {p.output.labels[0] for p in preds.values()} == {"other"}
    assert not preds["e0"].usage.cached and preds["e0"].usage.attempts == 1


def test_a_timed_write_in_progress_when_the_run_ends_is_finished_not_dropped(
    isolated_host, task
) -> None:
    """The timer's write may be mid-delivery (on_results awaiting a slow store or a remote log)
    when the last answer arrives; ending the run must let it finish, not cancel it with the
    batch it holds (which lost the answers of a Ray worker's batch)."""

    class Slowish(Instant):
        async def complete(self, prompt: Prompt) -> Completion:
            await asyncio.sleep(0.001)
            return await super().complete(prompt)

    teacher = PromptTeacher(Slowish(), concurrency=3)
    teacher.write_rows, teacher.write_s = 10_000, 0.002  # only the timer delivers
    got: list[str] = []

    async def slow_store(preds: list[Any]) -> None:
        await asyncio.sleep(0.02)  # still delivering when the run's last answer is in
        got.extend(p.example_id for p in preds)

    out = asyncio.run(teacher.alabel(task, rows(40), on_results=slow_store))
    assert len(out) == 40
    assert sorted(got) == sorted(f"e{i}" for i in range(40))  # every answer delivered, once
