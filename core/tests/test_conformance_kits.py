"""The executor and queue-order conformance suites: they pass for core's own implementations and
fail, with a message that says why, for implementations that break the contract.

A suite that passes everything proves nothing, so each broken implementation below breaks one
rule and the matching check is run against it (through pytest itself, as a plugin author's
test run would)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import distil
from distil.execute import LocalExecutor, PredictResult
from distil.testing.executors import ExecutorConformance
from distil.testing.queue import QueueOrderConformance

pytest_plugins = ["pytester"]


# -- executors --------------------------------------------------------------------------------
class TestLocalExecutorConformance(ExecutorConformance):
    @pytest.fixture
    def executor_factory(self) -> Any:
        return lambda: LocalExecutor(batch_size=7)  # several batches per run


class TestLocalExecutorDefaultsConformance(ExecutorConformance):
    @pytest.fixture
    def executor_factory(self) -> Any:
        return distil.get_host().get("executors", "local.v1").factory


# -- queue order ------------------------------------------------------------------------------
class MostConfidentFirst:
    """A real routing policy: agreement before disagreement, the most confident first, and cards
    without a student prediction left out."""

    @distil.hookimpl
    def distil_queue_order(self, cards: list[Any]) -> list[Any]:
        kept = [c for c in cards if c.student is not None]
        return sorted(kept, key=lambda c: (c.disagree, -(c.confidence or 0.0), c.position))


class KeepsDefault:
    @distil.hookimpl
    def distil_queue_order(self) -> None:
        return None


class TestMostConfidentFirstConformance(QueueOrderConformance):
    @pytest.fixture
    def plugin(self) -> Any:
        return MostConfidentFirst()


class TestKeepsDefaultConformance(QueueOrderConformance):
    @pytest.fixture
    def plugin(self) -> Any:
        return KeepsDefault()


# -- the suites catch broken implementations --------------------------------------------------
BROKEN_QUEUES = {
    "copies": (
        "return [dataclasses.replace(c) for c in cards]",
        "test_the_queue_holds_only_the_given_cards_each_at_most_once",
        "not among those given",
    ),
    "duplicates": (
        "return cards + cards[:1]",
        "test_the_queue_holds_only_the_given_cards_each_at_most_once",
        "a card is queued twice",
    ),
    "mutates": (
        "[setattr(c, 'confidence', 0.0) for c in cards]; return cards",
        "test_the_cards_are_not_changed",
        "the hook changed the cards",
    ),
    "shuffles": (
        "return random.sample(cards, len(cards))",
        "test_the_same_cards_give_the_same_order",
        "the same cards came back in another order",
    ),
}


@pytest.mark.parametrize("flaw", sorted(BROKEN_QUEUES))
def test_the_queue_suite_fails_a_broken_plugin(pytester: pytest.Pytester, flaw: str) -> None:
    body, check, message = BROKEN_QUEUES[flaw]
    pytester.makepyfile(
        f"""
        import dataclasses, random
        import pytest
        import distil
        from distil.testing.queue import QueueOrderConformance

        class Broken:
            @distil.hookimpl
            def distil_queue_order(self, cards):
                {body}

        class TestBroken(QueueOrderConformance):
            @pytest.fixture
            def plugin(self):
                return Broken()
        """
    )
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "-k", check)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1, result.stdout.str()
    assert message in result.stdout.str()


class RelabelsEverything(LocalExecutor):
    """Forgets what is stored: a restarted job would pay for every example again."""

    def predict(self, store: Any, task: Any, student: Any, dataset: str, **kw: Any) -> Any:
        source = kw["source"]
        examples = store.examples(dataset, limit=kw.get("limit"))
        preds = [
            distil.Prediction(example_id=ex.id, source=source, output=o.output)
            for ex, o in zip(examples, student.predict(examples), strict=True)
        ]
        store.add_predictions(preds)
        return PredictResult(source, dataset, len(examples), 0, len(examples), 0.1)


class DropsTheLastBatch(LocalExecutor):
    def label(self, store: Any, task: Any, teacher: Any, dataset: str, **kw: Any) -> Any:
        limit = kw.pop("limit", None)
        total = len(store.examples(dataset, limit=limit))
        return super().label(store, task, teacher, dataset, limit=max(total - 5, 0), **kw)


@pytest.mark.parametrize(
    ("executor", "check"),
    [
        (RelabelsEverything, ExecutorConformance.test_a_second_predict_run_predicts_nothing_again),
        (
            DropsTheLastBatch,
            ExecutorConformance.test_label_stores_what_the_teacher_answers_for_every_example,
        ),
    ],
)
def test_the_executor_suite_fails_a_broken_executor(
    executor: type[LocalExecutor], check: Any, tmp_path: Path, shared_data: Path
) -> None:
    from distil.store.sqlite import Store
    from distil.testing.data import load_split
    from distil.testing.executors import DATASET, KeywordStudent, KeywordTeacher

    suite = ExecutorConformance()
    task = distil.TextCat(["ham", "spam"])
    examples = load_split("sms_spam", "train", limit=suite.rows)
    student = KeywordStudent()
    student.fit(task, [(ex, distil.Categories(labels=ex.labels or [])) for ex in examples])
    with Store(tmp_path / "distil.db") as store:
        store.add_examples(examples, DATASET)
        kwargs: dict[str, Any] = {"executor_factory": executor, "store": store, "task": task}
        kwargs["examples"] = examples
        if "label" in check.__name__:
            kwargs["teacher"] = KeywordTeacher()
        else:
            kwargs["student"] = student
        with pytest.raises(AssertionError):
            check(suite, **kwargs)


# -- the fixtures distil's pytest plugin gives plugin authors ---------------------------------
def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    import json
    import urllib.request

    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-api-key": "test"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def test_loopback_llm_answers_both_wire_formats_by_keyword(loopback_llm: Any) -> None:
    spam = {"role": "user", "content": "WIN a free prize, txt now"}
    ham = {"role": "user", "content": "see you at lunch"}
    chat = _post(loopback_llm.url + "/v1/chat/completions", {"model": "m", "messages": [spam]})
    assert chat["choices"][0]["message"]["content"] == '{"labels": ["spam"]}'
    body = {"model": "m", "max_tokens": 50, "messages": [ham]}
    message = _post(loopback_llm.url + "/v1/messages", body)
    assert message["content"][0]["text"] == '{"labels": ["ham"]}'
    assert loopback_llm.url.startswith("http://127.0.0.1:")
    assert [r.path for r in loopback_llm.requests] == ["/v1/chat/completions", "/v1/messages"]


def test_small_store_holds_the_sample_examples(
    small_store: Any, sample_examples: list[distil.Example]
) -> None:
    assert len(sample_examples) == 40 and all(ex.labels for ex in sample_examples)
    assert [ex.id for ex in small_store.examples("train")] == [ex.id for ex in sample_examples]
