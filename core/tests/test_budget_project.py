"""Budgets per project (issue 18, item 6): ``[label] budget`` caps what the project's store has
spent on a teacher model over every run, not what one run spends.

The end-to-end test is the real OpenAI SDK against the loopback server, through ``distil label``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

import distil
from distil import Completion, Example, PluginHost, Prompt, PromptTeacher, Provider, TextCat, Usage
from distil.records import Prediction
from distil.store.sqlite import Store
from distil.tasks import Task
from distil.teach.pricing import Price
from distil.teach.runner import label_dataset
from distil.teach.teacher import OnResults, Teacher
from distil.testing import run_cli as cli

TEXTS = [
    "WIN a FREE prize 🎉🎉 call 0800 now to claim your cash!!",
    "are we still on for lunch tomorrow? 🍕",
    "URGENT: your account 🏦 was selected, reply YES to claim",
    "lol that film was sooo long 😴 see you at 8",
    "Congratulations! You won a £1000 voucher 🎁 txt WIN to 80086",
    "can you pick up milk on the way home pls 🥛",
    "Free entry in 2 a wkly comp 🏆 to win FA Cup final tkts",
    "mum says hi 👋 and the cat is fine",
    "Claim your free ringtone 🎶 now, reply STOP to end",
    "running 10 min late, traffic on the A road 🚗",
    "You have been chosen 💰 for a cash prize, call now",
    "thanks for dinner last night, it was lovely ❤️",
]


def spam_or_ham(request: dict[str, object]) -> str:
    text = str(request["messages"][-1]["content"]).lower()  # type: ignore[index]
    spam = any(w in text for w in ("win", "free", "claim", "prize", "cash"))
    return json.dumps({"labels": ["spam" if spam else "ham"]})


CONFIG = """
[project]
store = "distil.db"

[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

[teacher]
@teachers = "llm.v1"

[teacher.provider]
@providers = "openai.chat.v1"
model = "gpt-test"
base_url = "{url}"
max_tokens = 16

[data]
train = "train.jsonl"
gold = "gold.jsonl"

[label]
concurrency = 1
{budget}

[prices]
"openai.chat/gpt-test" = {{"input": 1000, "output": 1000}}
"""


@pytest.fixture
def openai_host() -> Iterator[PluginHost]:
    pytest.importorskip("openai")
    plugin = pytest.importorskip("distil_openai.plugin")
    host = PluginHost(entry_points=False, modules=[("openai", plugin)], strict=True)
    distil.plugins.set_host(host)
    yield host
    distil.plugins.set_host(None)


def spend_rows(db: Path) -> list[tuple[str, str, float]]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT run_id, teacher, cost FROM spend ORDER BY updated_at").fetchall()


def test_a_second_run_under_a_spent_budget_sends_no_request(
    openai_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from distil.testing.loopback import LoopbackLLM
    from distil.testing.loopback_openai import install_openai

    rows = [{"id": f"t{i}", "text": t} for i, t in enumerate(TEXTS)]
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    gold = [{"id": "g0", "text": "free cash 💰", "labels": ["spam"]}]
    (tmp_path / "gold.jsonl").write_text(json.dumps(gold[0]) + "\n", encoding="utf-8")
    db = tmp_path / "distil.db"
    with LoopbackLLM(answer=spam_or_ham) as server:
        install_openai(server)
        url = server.url + "/v1"

        def chat_requests() -> int:
            return sum(1 for r in server.requests if r.path.endswith("/chat/completions"))

        free = tmp_path / "free.cfg"
        free.write_text(CONFIG.format(url=url, budget="budget = 100"), encoding="utf-8")
        # run 0, a large budget: two answers; their cost is the project's spend so far
        code, out, err = cli(monkeypatch, capsys, "label", str(free), "--limit", "2")
        assert code == 0, err
        per_answer = spend_rows(db)[0][2] / 2
        line = f"budget: spent ${2 * per_answer:.4f} of $100.00 budget on openai.chat/gpt-test"
        assert f"{line} in this project (${2 * per_answer:.4f} in this run)" in out
        assert spend_rows(db)[0][2] == pytest.approx(
            (server.billed["input_tokens"] + server.billed["output_tokens"]) * 0.001
        )
        budget = 10 * per_answer
        capped = tmp_path / "capped.cfg"
        capped.write_text(CONFIG.format(url=url, budget=f"budget = {budget}"), encoding="utf-8")

        # run 1: the two earlier answers count; it stops before the project passes the budget
        code, out, err = cli(monkeypatch, capsys, "label", str(capped))
        sent_1 = chat_requests() - 2
        assert code == 1 and "Traceback" not in err and "[E007]" in err
        assert 0 < sent_1 < len(TEXTS) - 2
        billed = (server.billed["input_tokens"] + server.billed["output_tokens"]) * 0.001
        spent = sum(cost for _, _, cost in spend_rows(db))
        assert spent == pytest.approx(billed) and spent <= budget
        assert f"spent ${spent:.4f} of ${budget:.4f} budget on openai.chat/gpt-test" in err
        assert "in earlier runs" in err

        # run 2: the budget is spent; no request goes out, and it says what was spent
        before = chat_requests()
        code, out, err = cli(monkeypatch, capsys, "label", str(capped))
        assert chat_requests() == before
    assert code == 1 and "Traceback" not in err
    assert f"spent ${spent:.4f} of ${budget:.4f} budget on openai.chat/gpt-test" in err
    assert "(0 in this run)" in err and "($0.00 in this run)" in err
    with sqlite3.connect(db) as con:
        statuses = [s for (s,) in con.execute("SELECT status FROM runs ORDER BY seq")]
        stored = con.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    assert statuses == ["finished", "budget", "budget"]
    assert stored == 2 + sent_1  # every answer paid for is stored, none twice


# -- the spend record, in process ----------------------------------------------------------------


class Watching(Provider):
    """Answers "spam" at $0.01 a request (1,000 tokens in, 0 out at $10/1M; a request is
    estimated at about $0.011), and reads the store's spend table (another connection) before
    each answer."""

    name = "test.watching"

    def __init__(self, db: Path | None = None) -> None:
        super().__init__("w-1", {"max_tokens": 0})
        self.db = db
        self.seen: list[float] = []

    async def complete(self, prompt: Prompt) -> Completion:
        if self.db is not None:
            with sqlite3.connect(self.db) as con:
                self.seen.append(
                    con.execute("SELECT COALESCE(SUM(cost), 0) FROM spend").fetchone()[0]
                )
        return Completion(text='{"labels": ["spam"]}', usage=Usage(input_tokens=1000))


PRICE = Price(input=10.0, output=10.0)


@pytest.fixture
def task() -> TextCat:
    return TextCat(labels=["ham", "spam"])


def fill(store: Store, n: int) -> None:
    store.add_examples(
        [Example(id=f"e{i}", text=f"{TEXTS[i % len(TEXTS)]} #{i}") for i in range(n)], "train"
    )


def test_the_spend_is_committed_with_each_batch_of_answers(tmp_path: Path, task: TextCat) -> None:
    """A run killed mid-way keeps its spend: it is in the store as soon as its answers are."""
    db = tmp_path / "distil.db"
    provider = Watching(db)
    teacher = PromptTeacher(provider, price=PRICE, budget=0.055, concurrency=1, max_reasks=0)
    teacher.write_rows = 1  # every answer is delivered (and its spend written) at once
    with Store(db) as store:
        fill(store, 8)
        with pytest.raises(distil.BudgetExceeded, match=r"spent \$0\.0500 of \$0\.0550"):
            label_dataset(store, task, teacher, "train")
        assert store.spent("test.watching/w-1") == pytest.approx(0.05)
    # before the k-th request the store already held the k-1 answers' spend
    assert provider.seen == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04])


class Wrapper(Teacher):
    """A teacher that asks an LLM one example at a time (as a cascade does, group by group)."""

    def __init__(self, llm: PromptTeacher) -> None:
        self.llm = llm

    def source(self, task: Task) -> str:
        return "wrapper:" + self.llm.source(task)

    def inner_teachers(self) -> list[Teacher]:
        return [self.llm]

    async def alabel(
        self, task: Task, examples: Sequence[Example], on_results: OnResults | None = None
    ) -> list[Prediction]:
        out = []
        for ex in examples:
            [p] = await self.llm.alabel(task, [ex])
            out.append(p.model_copy(update={"source": self.source(task)}))
            if on_results is not None:
                on_results(out[-1:])
        return out


def test_an_inner_llm_budget_counts_every_call_and_every_run(tmp_path: Path, task: TextCat) -> None:
    """Page-by-page calls each start a ledger: the budget still counts the whole run, and the
    next run starts from what the project spent (a changed prompt keeps the same budget)."""
    provider = Watching()
    llm = PromptTeacher(provider, price=PRICE, budget=0.035, concurrency=1, max_reasks=0)
    with Store(tmp_path / "distil.db") as store:
        fill(store, 6)
        with pytest.raises(distil.BudgetExceeded):
            label_dataset(store, task, Wrapper(llm), "train", page_size=2)
        assert store.spent("test.watching/w-1") == pytest.approx(0.03)
        first = Wrapper(llm).source(task)
        assert store.count_answered(first, "train") == 3
        # another prompt (new shots: a new source) is the same model: the same budget
        llm.shots = [Example(id="s", text="free cash 💰", labels=["spam"])]
        llm.execution.budget = 0.045
        assert Wrapper(llm).source(task) != first
        with pytest.raises(distil.BudgetExceeded, match=r"spent \$0\.0400 of \$0\.0450"):
            label_dataset(store, task, Wrapper(llm), "train", page_size=2)
        assert store.spent("test.watching/w-1") == pytest.approx(0.04)
