"""Batch mode: jobs are stored when submitted, collected when done, never submitted twice."""

from __future__ import annotations

import pytest

from distil import (
    Completion,
    Example,
    Prompt,
    PromptTeacher,
    Provider,
    ProviderError,
    TextCat,
    Usage,
)
from distil.store.sqlite import Store
from distil.teach.pricing import Price
from distil.teach.runner import label_dataset


class Killed(Exception):
    """Stands in for the process dying (not a DistilError: nothing handles it)."""


class BatchServer:
    """The provider's side of the batch API; it outlives provider objects, as a real one does."""

    def __init__(self, polls_until_done: int = 2) -> None:
        self.jobs: dict[str, list[tuple[str, Prompt]]] = {}
        self.polls: dict[str, int] = {}
        self.polls_until_done = polls_until_done
        self.submitted_texts: list[str] = []
        self.status_override: dict[str, str] = {}


class BatchProvider(Provider):
    name = "test.batch"
    supports_batch = True

    def __init__(
        self,
        server: BatchServer,
        *,
        kill_on_submit: int | None = None,
        kill_on_poll: bool = False,
        fail_texts: tuple[str, ...] = (),
        answers: dict[str, str] | None = None,
    ) -> None:
        super().__init__("batch-1", {"max_tokens": 16})
        self.server = server
        self.kill_on_submit = kill_on_submit
        self.kill_on_poll = kill_on_poll
        self.fail_texts = fail_texts
        self.answers = answers or {}
        self.submits = 0
        self.online: list[str] = []

    async def complete(self, prompt: Prompt) -> Completion:
        self.online.append(prompt.messages[-1].content)
        return Completion(text='{"labels": ["ham"]}', usage=Usage(input_tokens=7, output_tokens=2))

    async def submit_batch(self, requests: list[tuple[str, Prompt]]) -> str:
        self.submits += 1
        if self.kill_on_submit is not None and self.submits >= self.kill_on_submit:
            raise Killed
        job_id = f"batch_{len(self.server.jobs)}"
        self.server.jobs[job_id] = list(requests)
        self.server.polls[job_id] = 0
        self.server.submitted_texts += [p.messages[1].content for _, p in requests]
        return job_id

    async def batch_status(self, job_id: str) -> str:
        if self.kill_on_poll:
            raise Killed
        if job_id in self.server.status_override:
            return self.server.status_override[job_id]
        self.server.polls[job_id] += 1
        return "done" if self.server.polls[job_id] >= self.server.polls_until_done else "pending"

    async def batch_results(self, job_id: str) -> dict[str, Completion | Exception]:
        out: dict[str, Completion | Exception] = {}
        for custom_id, prompt in self.server.jobs[job_id]:
            text = prompt.messages[1].content
            if text in self.fail_texts:
                out[custom_id] = ProviderError("invalid_request: the input is too long")
                continue
            answer = self.answers.get(text, '{"labels": ["spam"]}')
            out[custom_id] = Completion(
                text=answer, usage=Usage(input_tokens=100, output_tokens=10)
            )
        return out


@pytest.fixture
def task() -> TextCat:
    return TextCat(["ham", "spam"])


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(tmp_path / "p.db")
    store.add_examples([Example(id=f"e{i}", text=f"text {i}") for i in range(7)], "train")
    return store


def run(store: Store, task: TextCat, provider: BatchProvider, **kwargs):
    teacher = PromptTeacher(provider, price=Price(input=1.0, output=2.0, batch_discount=0.5))
    result = label_dataset(
        store, task, teacher, "train", mode="batch", batch_size_jobs=3, poll_interval=0.01, **kwargs
    )
    return teacher, result


def test_batch_mode_labels_everything_through_jobs_at_the_batch_price(store, task) -> None:
    server = BatchServer()
    provider = BatchProvider(server, fail_texts=("text 4",))
    teacher, result = run(store, task, provider)
    assert provider.submits == 3  # 7 examples in jobs of 3
    assert sorted(server.submitted_texts) == sorted(f"text {i}" for i in range(7))
    assert provider.online == []
    preds = store.predictions(teacher.source(task))
    assert len(preds) == 7 and result.failures == 1
    assert preds["e4"].error == "the batch request failed: invalid_request: the input is too long"
    ok = preds["e0"]
    assert ok.output is not None and ok.output.labels == ["spam"]
    assert ok.usage.cost == pytest.approx((100 * 1.0 + 10 * 2.0) / 1e6 * 0.5)
    assert result.ledger["batch_jobs"] == 3 and result.ledger["requests"] == 7
    assert result.ledger["cost"] == pytest.approx(6 * 60e-6)
    jobs = store.batch_jobs(teacher.source(task))
    assert [j.status for j in jobs] == ["done"] * 3
    assert jobs[0].requests == {"r0": "e0", "r1": "e1", "r2": "e2"}


def test_a_run_killed_while_submitting_resumes_its_jobs_and_submits_only_the_rest(
    store, task
) -> None:
    server = BatchServer()
    with pytest.raises(Killed):
        run(store, task, BatchProvider(server, kill_on_submit=3))
    assert len(server.jobs) == 2
    source = PromptTeacher(BatchProvider(server)).source(task)
    assert [j.status for j in store.batch_jobs(source)] == ["submitted", "submitted"]

    resumed = BatchProvider(server)
    run(store, task, resumed)
    assert resumed.submits == 1  # only the third job; the first two were collected
    assert sorted(server.submitted_texts) == sorted(f"text {i}" for i in range(7))  # once each
    assert len(store.predictions(source)) == 7
    assert [j.status for j in store.batch_jobs(source)] == ["done"] * 3

    again = BatchProvider(server)
    _, result = run(store, task, again)
    assert again.submits == 0 and result.labelled == 0


def test_a_run_killed_while_polling_collects_its_jobs_without_submitting(store, task) -> None:
    server = BatchServer()
    with pytest.raises(Killed):
        run(store, task, BatchProvider(server, kill_on_poll=True))
    assert len(server.jobs) == 3
    resumed = BatchProvider(server)
    _, result = run(store, task, resumed)
    assert resumed.submits == 0
    assert result.labelled == 7 and len(server.submitted_texts) == 7


def test_an_expired_job_records_its_examples_as_failures(store, task) -> None:
    server = BatchServer()
    server.status_override["batch_1"] = "expired"
    teacher, result = run(store, task, BatchProvider(server))
    preds = store.predictions(teacher.source(task))
    assert result.failures == 3
    assert preds["e3"].error == "batch job batch_1 ended as 'expired'"
    assert [j.status for j in store.batch_jobs()] == ["done", "expired", "done"]


def test_invalid_batch_answers_are_reasked_online(store, task) -> None:
    provider = BatchProvider(BatchServer(), answers={"text 2": '{"labels": ["eggs"]}'})
    teacher, result = run(store, task, provider)
    assert len(provider.online) == 1 and provider.online[0].startswith("Your answer was invalid")
    pred = store.predictions(teacher.source(task))["e2"]
    assert pred.ok and pred.usage.input_tokens == 107
    assert result.ledger["reasks"] == 1


def test_batch_budget_stops_before_submitting_a_job_it_cannot_pay(store, task) -> None:
    from distil import BudgetExceeded

    provider = BatchProvider(BatchServer())
    price = Price(input=1000.0, output=1000.0, batch_discount=0.5)
    probe = PromptTeacher(provider, price=price)
    job = [probe.prompt_for(task, Example(id=f"e{i}", text=f"text {i}")) for i in range(3)]
    tokens_in, tokens_out = probe.execution.estimate(job)
    per_job = price.cost(tokens_in, tokens_out, batch=True)
    teacher = PromptTeacher(provider, price=price, budget=per_job * 1.5)
    with pytest.raises(BudgetExceeded, match="3 of 7 'train' examples are labelled"):
        label_dataset(
            store, task, teacher, "train", mode="batch", batch_size_jobs=3, poll_interval=0.01
        )
    assert provider.submits == 1  # the submitted job was still collected
    assert len(store.answered_ids(teacher.source(task))) == 3


class PagingStore(Store):
    """The real store, recording how many pages of pending examples were read so far."""

    pages_read = 0

    def pending_examples(self, *args, **kwargs):  # type: ignore[override]
        for page in super().pending_examples(*args, **kwargs):
            self.pages_read += 1
            yield page


def test_batch_mode_submits_each_job_as_its_pages_are_read(tmp_path, task) -> None:
    store = PagingStore(tmp_path / "paged.db")
    store.add_examples([Example(id=f"e{i}", text=f"text {i} 🦀") for i in range(10)], "train")
    server = BatchServer()
    pages_at_submit: list[int] = []

    class Watching(BatchProvider):
        async def submit_batch(self, requests):
            pages_at_submit.append(store.pages_read)
            return await super().submit_batch(requests)

    teacher = PromptTeacher(Watching(server))
    result = label_dataset(
        store,
        task,
        teacher,
        "train",
        mode="batch",
        batch_size_jobs=4,
        poll_interval=0.01,
        page_size=2,
    )
    # jobs of 4 from pages of 2: each job goes out once its second page is read, not after
    # the whole data set was loaded (5 pages)
    assert pages_at_submit == [2, 4, 5]
    assert result.labelled == 10 and len(store.answered_ids(teacher.source(task))) == 10
    assert sorted(server.submitted_texts) == sorted(f"text {i} 🦀" for i in range(10))


def test_a_store_written_before_batch_jobs_is_migrated_keeping_its_data(tmp_path) -> None:
    import sqlite3

    from distil.store.sqlite import _MIGRATIONS, SCHEMA_VERSION

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    for statement in _MIGRATIONS[0]:
        con.execute(statement)
    con.execute(
        "INSERT INTO examples (dataset, id, data) VALUES ('train', 'a', ?)",
        (Example(id="a", text="kept").model_dump_json(),),
    )
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.examples("train")[0].text == "kept"
        store.add_batch_job("p/m", "job-1", "teacher:x", {"r0": "a"})
        [job] = store.batch_jobs(unfinished=True)
        assert (job.job_id, job.requests, job.status) == ("job-1", {"r0": "a"}, "submitted")
        store.finish_batch_job("p/m", "job-1", "done")
        assert store.batch_jobs(unfinished=True) == []
