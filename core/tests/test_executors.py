"""The executor seam: the label and predict stages run through the configured executor.

A scripted provider is the teacher and a small word-count student (real fit, predict, save and
load) the student, so the stages run for real in this process without any plugin.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from distil import Categories, Completion, Example, Prediction, Prompt, Provider, Usage, hookimpl
from distil.config import load_config
from distil.errors import ConfigError, DataError, RegistryError
from distil.execute import Executor, LocalExecutor, PredictResult
from distil.plugins import PluginHost, set_host
from distil.project import Project
from distil.store.sqlite import Store
from distil.student import Student, StudentPrediction
from distil.tasks import Task, TextCat

SPAMMY = {"free", "win", "prize", "call", "txt", "claim", "cash"}


class KeywordLLM(Provider):
    """Answers "spam" when the text has a spammy word, else "ham"; counts what it was asked."""

    name = "test.keyword"

    def __init__(self, model: str = "keyword-1") -> None:
        super().__init__(model, {})
        self.asked: Counter[str] = Counter()

    async def complete(self, prompt: Prompt) -> Completion:
        text = prompt.messages[-1].content
        self.asked[text] += 1
        label = "spam" if set(text.lower().split()) & SPAMMY else "ham"
        return Completion(text=json.dumps({"labels": [label]}), usage=Usage(input_tokens=10))


class WordCountStudent(Student):
    """Per-label word counts; predicts the label whose words the text shares most."""

    name = "test.words"
    task_kinds = frozenset({"textcat"})

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = {}
        self.calls = 0
        self.fail_on_call: int | None = None

    def fit(self, task: Task, train: list[Any], dev: list[Any] | None = None) -> dict[str, Any]:
        for ex, output in train:
            for word in ex.text.lower().split():
                label = output.labels[0]
                self.counts.setdefault(label, {})
                self.counts[label][word] = self.counts[label].get(word, 0) + 1
        return {"labels": sorted(self.counts)}

    def predict(self, examples: list[Example]) -> list[StudentPrediction]:
        self.calls += 1
        if self.fail_on_call == self.calls:
            raise KeyboardInterrupt  # a run killed in the middle
        out = []
        for ex in examples:
            words = ex.text.lower().split()
            scores = {lab: sum(c.get(w, 0) for w in words) for lab, c in self.counts.items()}
            best = max(sorted(scores), key=lambda lab: scores[lab])
            out.append(StudentPrediction(Categories(labels=[best]), 1.0))
        return out

    def save(self, path: str | Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "counts.json").write_text(json.dumps(self.counts))

    @classmethod
    def load(cls, path: str | Path) -> WordCountStudent:
        student = cls()
        student.counts = json.loads((Path(path) / "counts.json").read_text())
        return student


class Recording(LocalExecutor):
    """The local executor, noting each stage it ran (a stand-in for a remote executor)."""

    name = "recording"
    calls: list[tuple[str, str]] = []

    def label(self, store, task, teacher, dataset, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(("label", dataset))
        return super().label(store, task, teacher, dataset, **kwargs)

    def predict(self, store, task, student, dataset, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(("predict", dataset))
        return super().predict(store, task, student, dataset, **kwargs)


class TestPlugin:
    @hookimpl
    def register_providers(self, register: Any) -> None:
        register("test.keyword.v1", KeywordLLM)

    @hookimpl
    def register_students(self, register: Any) -> None:
        register("test.words.v1", WordCountStudent)

    @hookimpl
    def register_executors(self, register: Any) -> None:
        register("test.recording.v1", lambda batch_size=1024: Recording(batch_size))
        register("test.broken.v1", lambda: object())


@pytest.fixture(autouse=True)
def host() -> Any:
    host = PluginHost(entry_points=False, strict=True, modules=[("test", TestPlugin())])
    set_host(host)
    yield host
    set_host(None)


TEXTS = [
    "free prize call now",
    "see you at lunch",
    "win cash txt claim",
    "the meeting moved",
    "claim your free gift",
    "are you coming home",
]


def project_dir(tmp_path: Path, executor: str = "") -> Path:
    rows = [
        {"id": f"t{i}", "text": f"{text} {i}", "labels": ["spam" if i % 2 == 0 else "ham"]}
        for i, text in enumerate(TEXTS * 5)
    ]
    lines = "\n".join(json.dumps(r) for r in rows) + "\n"
    (tmp_path / "train.jsonl").write_text(lines)
    (tmp_path / "gold.jsonl").write_text(lines)
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(
        f"""
[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

[teacher]
@providers = "test.keyword.v1"

[student]
@students = "test.words.v1"

[data]
train = "train.jsonl"
gold = "gold.jsonl"
{executor}
"""
    )
    return cfg


def test_without_an_executor_section_the_stages_run_locally(tmp_path: Path) -> None:
    config = load_config(project_dir(tmp_path))
    assert isinstance(config.executor, LocalExecutor)
    assert isinstance(config.executor, Executor)
    assert config.executor.batch_size == 1024


def test_the_executor_section_picks_a_registered_executor_with_its_keys(tmp_path: Path) -> None:
    cfg = project_dir(tmp_path, '[executor]\n@executors = "local.v1"\nbatch_size = 7')
    config = load_config(cfg)
    assert isinstance(config.executor, LocalExecutor) and config.executor.batch_size == 7


def test_an_unknown_executor_names_the_package_that_provides_it(tmp_path: Path) -> None:
    cfg = project_dir(tmp_path, '[executor]\n@executors = "ray.v1"')
    with pytest.raises(RegistryError) as err:
        load_config(cfg)
    assert "ray.v1" in str(err.value) and "distil-ray" in str(err.value)


def test_a_bad_executor_key_or_factory_is_a_config_error_naming_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"executor\.bogus"):
        load_config(project_dir(tmp_path, '[executor]\n@executors = "local.v1"\nbogus = 1'))
    with pytest.raises(ConfigError, match="@executors must build an executor"):
        load_config(project_dir(tmp_path, '[executor]\n@executors = "test.broken.v1"'))


def test_label_and_predict_go_through_the_configured_executor(tmp_path: Path) -> None:
    Recording.calls = []
    cfg = project_dir(tmp_path, '[executor]\n@executors = "test.recording.v1"\nbatch_size = 4')
    with Project.from_config(cfg) as project:
        teacher = project.config.teacher
        labelled = project.label("train")
        project.train()
        predicted = project.predict("gold")
        again = project.predict("gold")
        _student, source, _ = project.latest_student()  # type: ignore[misc]
        stored = project.store.predictions(source, dataset="gold")
        runs = [r["status"] for r in project.store.runs("predict")]
    assert Recording.calls == [("label", "train"), ("predict", "gold"), ("predict", "gold")]
    assert labelled.labelled == 30 and max(teacher.provider.asked.values()) == 1  # type: ignore[attr-defined]
    assert isinstance(predicted, PredictResult)
    assert (predicted.predicted, predicted.already_done, predicted.total) == (30, 0, 30)
    assert (again.predicted, again.already_done) == (0, 30)
    assert sorted(stored) == sorted(f"t{i}" for i in range(30))
    assert runs == ["finished", "finished"]


def test_predict_without_a_trained_student_says_what_to_run(tmp_path: Path) -> None:
    with (
        Project.from_config(project_dir(tmp_path)) as project,
        pytest.raises(DataError, match="distil train"),
    ):
        project.predict("gold")


def test_a_killed_local_predict_run_resumes_without_predicting_anything_twice(
    tmp_path: Path,
) -> None:
    task = TextCat(["ham", "spam"])
    examples = [Example(id=f"e{i}", text=TEXTS[i % 6], labels=["ham"]) for i in range(25)]
    student = WordCountStudent()
    student.fit(
        task, [(ex, Categories(labels=["spam" if "free" in ex.text else "ham"])) for ex in examples]
    )
    student.fail_on_call = 3  # dies on the third batch of 10
    progress: list[int] = []
    with Store(tmp_path / "distil.db") as store:
        store.add_examples(examples, "test")
        executor = LocalExecutor(batch_size=10)
        with pytest.raises(KeyboardInterrupt):
            executor.predict(store, task, student, "test", source="s", progress=progress.append)
        assert len(store.predictions("s")) == 20 and progress == [10, 10]  # two batches stored
        student.fail_on_call = None
        student.calls = 0
        result = executor.predict(store, task, student, "test", source="s")
        stored = store.predictions("s")
    assert (result.predicted, result.already_done, result.total) == (5, 20, 25)
    assert student.calls == 1 and len(stored) == 25
    assert stored["e0"].output == Categories(labels=["spam"])
    assert stored["e1"].output == Categories(labels=["ham"])


def test_the_local_predict_pass_reads_the_store_page_by_page(tmp_path: Path) -> None:
    """Each batch is read when the previous one is stored: memory holds a batch, not the set."""

    class PagingStore(Store):
        pages_read = 0

        def pending_examples(self, *args, **kwargs):  # type: ignore[no-untyped-def,override]
            for page in super().pending_examples(*args, **kwargs):
                self.pages_read += 1
                yield page

    task = TextCat(["ham", "spam"])
    examples = [Example(id=f"e{i}", text=f"{TEXTS[i % 6]} 🦀 {i}") for i in range(25)]
    student = WordCountStudent()
    student.fit(task, [(ex, Categories(labels=["ham"])) for ex in examples[:3]])
    seen: list[tuple[int, int]] = []

    class Watching(WordCountStudent):
        def predict(self, batch: list[Example]) -> list[StudentPrediction]:
            seen.append((store.pages_read, len(store.predictions("s"))))
            return super().predict(batch)

    watching = Watching()
    watching.counts = student.counts
    with PagingStore(tmp_path / "distil.db") as store:
        store.add_examples(examples, "test")
        store.add_predictions(
            [Prediction(example_id="e3", source="s", output=Categories(labels=["ham"]))], "test"
        )  # answered before: skipped
        result = LocalExecutor(batch_size=10).predict(
            store, task, watching, "test", source="s", limit=22
        )
        stored = store.predictions("s")
    # pages of 10 among the first 22, less e3: 10, 10, 1; each read after the last was stored
    assert seen == [(1, 1), (2, 11), (3, 21)]
    assert (result.total, result.already_done, result.predicted) == (22, 1, 21)
    assert len(stored) == 22 and "e22" not in stored
