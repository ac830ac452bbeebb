"""The simulated LLM teacher, through the real OpenAI SDK and ``openai.chat.v1`` on a loopback server.

banking77's test split (1,000 rows, 77 intents) is labelled by the LLM teacher loop at accuracy
0.85 with systematic errors: exactly 850 answers are right, and every wrong one is one of its gold
label's three confusers. The same seed gives the same answers again and in another process;
another seed other answers; goemotions (multi-label) works too, and a project takes the simulated
model as its teacher from config overrides.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import distil
import distil.plugins
from distil.project import Project
from distil.records import Example
from distil.testing import SimulatedTeacher, load_split, simulated_llm
from distil.testing.simulated import name_similarity

distil_openai_plugin = pytest.importorskip("distil_openai.plugin")

CONFIG = """
[task]
@tasks = "textcat.v1"
labels = {labels}

[teacher]
@teachers = "local.zeroshot.v1"

[data]
train = "{gold}"
gold = "{gold}"
"""


@pytest.fixture(scope="module")
def host() -> Iterator[distil.PluginHost]:
    """Core's built-ins and the OpenAI plugin only (tests never load whatever is installed)."""
    host = distil.PluginHost(
        entry_points=False, modules=[("openai", distil_openai_plugin)], strict=True
    )
    distil.plugins.set_host(host)
    yield host
    distil.plugins.set_host(None)


@pytest.fixture(scope="module")
def banking_gold() -> Path:
    gold = load_split("banking77", "test")  # skips nothing: the file must be there
    assert len(gold) == 1000
    from distil.testing import shared_data_dir

    root = shared_data_dir() or shared_data_dir(Path(__file__))
    assert root is not None
    return root / "banking77" / "test.jsonl"


def labels_of(path: Path) -> list[str]:
    return sorted({label for line in path.open() for label in json.loads(line)["labels"]})


def label_with(
    host: distil.PluginHost,
    sim: Any,
    task: distil.Task,
    examples: list[Example],
    **params: Any,
) -> list[distil.Prediction]:
    provider = host.create(
        "providers",
        "openai.chat.v1",
        model=sim.model,
        base_url=sim.base_url,
        max_tokens=64,
        **params,
    )
    return distil.PromptTeacher(provider, concurrency=8).label(task, examples)


@pytest.fixture(scope="module")
def banking_run(host: distil.PluginHost, banking_gold: Path) -> dict[str, Any]:
    """banking77 test labelled once: the real SDK, ``openai.chat.v1``, the LLM teacher loop."""
    labels = labels_of(banking_gold)
    gold = load_split("banking77", "test")
    with simulated_llm(banking_gold, accuracy=0.85, errors="systematic", seed=0) as sim:
        preds = label_with(host, sim, distil.TextCat(labels), gold)
        source = preds[0].source
        requests = sum(1 for r in sim.server.requests if r.path == "/v1/chat/completions")
    return {
        "teacher": sim.teacher,
        "source": source,
        "preds": {p.example_id: p for p in preds},
        "gold": gold,
        "requests": requests,
        "labels": labels,
    }


def test_banking77_at_085_systematic_is_exactly_850_right(banking_run: dict[str, Any]) -> None:
    preds, gold = banking_run["preds"], banking_run["gold"]
    assert len(gold) == 1000 and len(preds) == 1000 and banking_run["requests"] == 1000
    assert all(p.ok for p in preds.values())
    right = sum(preds[ex.id].output.labels == ex.labels for ex in gold)
    assert right == 850
    wrong = {ex.id for ex in gold if preds[ex.id].output.labels != ex.labels}
    assert wrong == banking_run["teacher"].wrong_ids
    assert banking_run["source"].startswith("teacher:openai.chat/simulated-85-systematic#prompt=")


def test_every_wrong_answer_is_a_confuser_of_its_gold_label(banking_run: dict[str, Any]) -> None:
    teacher, preds = banking_run["teacher"], banking_run["preds"]
    wrong = [ex for ex in banking_run["gold"] if preds[ex.id].output.labels != ex.labels]
    assert len(wrong) == 150
    for ex in wrong:
        (answer,) = preds[ex.id].output.labels
        assert answer in teacher.confusions[ex.labels[0]], (ex.id, ex.labels, answer)
    # errors pile up on few pairs, as a real LLM's do: at most 3 wrong labels per gold label
    per_gold: dict[str, set[str]] = defaultdict(set)
    for ex in wrong:
        per_gold[ex.labels[0]].add(preds[ex.id].output.labels[0])
    assert max(len(s) for s in per_gold.values()) <= 3


def test_each_label_has_exactly_three_confusers_the_most_alike_by_name(
    banking_run: dict[str, Any],
) -> None:
    teacher, labels = banking_run["teacher"], banking_run["labels"]
    assert sorted(teacher.confusions) == labels and len(labels) == 77
    for label, confusers in teacher.confusions.items():
        assert len(confusers) == len(set(confusers)) == 3 and label not in confusers
        worst = min(name_similarity(label, c) for c in confusers)
        others = [o for o in labels if o != label and o not in confusers]
        assert all(name_similarity(label, o) <= worst for o in others), label
    assert set(teacher.confusions["pending_top_up"]) == {
        "verify_top_up",
        "top_up_failed",
        "top_up_limits",
    }
    assert "request_refund" in teacher.confusions["Refund_not_showing_up"]


def test_the_same_seed_answers_the_same_again_and_another_seed_differs(
    host: distil.PluginHost, banking_run: dict[str, Any], banking_gold: Path
) -> None:
    task = distil.TextCat(banking_run["labels"])
    first = list(banking_run["gold"])[:150]
    runs = {}
    for seed in (0, 1):
        with simulated_llm(banking_gold, accuracy=0.85, seed=seed) as sim:
            runs[seed] = [p.output.labels for p in label_with(host, sim, task, first)]
    before = [banking_run["preds"][ex.id].output.labels for ex in first]
    assert runs[0] == before
    assert runs[1] != before


def test_another_process_draws_the_same_answers_from_the_same_seed(
    banking_run: dict[str, Any], banking_gold: Path
) -> None:
    script = (
        "import json, sys\n"
        "from distil.testing import SimulatedTeacher\n"
        "for seed in (0, 1):\n"
        "    t = SimulatedTeacher(sys.argv[1], accuracy=0.85, seed=seed)\n"
        "    print(json.dumps({'wrong': sorted(t.wrong_ids), 'answers': t.answers,"
        " 'confusions': t.confusions}))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # other str hashes than this process
    out = subprocess.run(
        [sys.executable, "-c", script, str(banking_gold)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.splitlines()
    same, other = json.loads(out[0]), json.loads(out[1])
    teacher = banking_run["teacher"]
    assert same["wrong"] == sorted(teacher.wrong_ids)
    assert same["confusions"] == teacher.confusions
    preds = banking_run["preds"]
    assert same["answers"] == [preds[ex.id].output.labels for ex in teacher.examples]
    assert len(other["wrong"]) == 150 and other["wrong"] != same["wrong"]


def test_uniform_errors_spread_over_more_than_three_labels(
    host: distil.PluginHost, banking_gold: Path, tmp_path: Path
) -> None:
    labels = labels_of(banking_gold)
    gold = load_split("banking77", "test", limit=400)
    path = tmp_path / "banking77-400.jsonl"
    distil.write_jsonl(path, gold)
    with simulated_llm(path, accuracy=0.5, errors="uniform", seed=3, labels=labels) as sim:
        preds = label_with(host, sim, distil.TextCat(labels), gold)
    wrong: dict[str, set[str]] = defaultdict(set)
    for ex, p in zip(gold, preds, strict=True):
        if p.output.labels != ex.labels:
            wrong[ex.labels[0]].add(p.output.labels[0])
    assert sum(p.output.labels == ex.labels for ex, p in zip(gold, preds, strict=True)) == 200
    assert max(len(s) for s in wrong.values()) > 3
    assert len(set().union(*wrong.values())) > 60  # errors land all over the label set


def test_goemotions_multilabel_errors_replace_one_gold_label(
    host: distil.PluginHost, tmp_path: Path
) -> None:
    gold = load_split("goemotions", "test", limit=400)
    path = tmp_path / "goemotions.jsonl"
    distil.write_jsonl(path, gold)
    labels = sorted({label for ex in gold for label in ex.labels or []})
    task = distil.TextCat(labels, multilabel=True)
    with simulated_llm(path, accuracy=0.85, errors="systematic", seed=0) as sim:
        preds = label_with(host, sim, task, gold)
        confusions = sim.teacher.confusions
    assert sum(len(ex.labels or []) > 1 for ex in gold) > 40  # real multi-label rows
    right = [
        ex for ex, p in zip(gold, preds, strict=True) if set(p.output.labels) == set(ex.labels)
    ]
    assert len(right) == 340
    for ex, p in zip(gold, preds, strict=True):
        answer, truth = set(p.output.labels), set(ex.labels or [])
        if answer != truth:
            (removed,), (added,) = truth - answer, answer - truth
            assert len(answer) == len(truth) and added in confusions[removed]


def test_a_text_not_in_the_file_gets_a_seeded_label_and_is_counted(
    host: distil.PluginHost, banking_gold: Path
) -> None:
    labels = labels_of(banking_gold)
    unknown = [
        Example(id="u1", text="Mi tarjeta no llega 😡 ¿qué pasa?"),
        Example(id="u2", text="ok"),
        Example(id="u3", text="totally unrelated: what is the capital of France?"),
    ]
    with simulated_llm(banking_gold, accuracy=0.85, seed=0) as sim:
        first = label_with(host, sim, distil.TextCat(labels), unknown)
        again = label_with(host, sim, distil.TextCat(labels), unknown)
        assert sim.teacher.unmatched == 6
    assert all(p.ok and p.output.labels[0] in labels for p in first)
    assert [p.output.labels for p in first] == [p.output.labels for p in again]


def test_the_text_is_found_inside_a_wrapped_prompt_and_the_longest_text_wins() -> None:
    gold = [
        Example(id="x", text="top up", labels=["short"]),
        Example(id="x", text="how do I top up my card? 💳", labels=["long"]),
        Example(id="y", text="ok", labels=["short"]),
    ]
    teacher = SimulatedTeacher(gold, accuracy=1.0, labels=["long", "short"])

    def ask(*users: str) -> str:
        messages = [{"role": "user", "content": u} for u in users]
        return teacher.answer({"system": "", "messages": messages, "schema": None})

    assert ask("Classify:\n«how do I top up my card? 💳»\nAnswer:") == "long"
    assert ask("Can I top up here?") == "short"
    # a re-ask: the last user message is the complaint, the text is in an earlier one
    assert ask("how do I top up my card? 💳", "Your answer was invalid: ...") == "long"
    assert teacher.unmatched == 0


def test_the_answer_follows_the_schema_or_the_prompt() -> None:
    gold = [Example(id="a", text="WIN a prize now", labels=["spam"])]
    teacher = SimulatedTeacher(gold, accuracy=1.0, labels=["ham", "spam"])
    messages = [{"role": "user", "content": "WIN a prize now"}]
    schema = distil.TextCat(["ham", "spam"]).json_schema()
    assert json.loads(teacher.answer({"messages": messages, "schema": schema})) == {
        "labels": ["spam"]
    }
    one = {"type": "object", "properties": {"label": {"type": "string", "enum": ["ham", "spam"]}}}
    assert json.loads(teacher.answer({"messages": messages, "schema": one})) == {"label": "spam"}
    asks_json = {"system": 'Answer with JSON only, in the form {"labels": ["label"]}'}
    assert teacher.answer({**asks_json, "messages": messages, "schema": None}) == (
        '{"labels": ["spam"]}'
    )
    assert teacher.answer({"system": "Say the label.", "messages": messages}) == "spam"


def test_accuracy_is_exact_for_any_file_size_and_wrong_rows_nest() -> None:
    gold = [Example(id="dup", text=f"text {i} ✨", labels=[f"l{i % 5}"]) for i in range(37)]
    for accuracy in (0.0, 0.33, 0.85, 1.0):
        teacher = SimulatedTeacher(gold, accuracy=accuracy, seed="s")
        right = sum(a == ex.labels for a, ex in zip(teacher.answers, gold, strict=True))
        assert right == 37 - round((1 - accuracy) * 37)
    loose = SimulatedTeacher(gold, accuracy=0.5, seed="s").wrong_rows
    strict = SimulatedTeacher(gold, accuracy=0.9, seed="s").wrong_rows
    assert strict < loose


def test_a_measured_confusion_map_replaces_the_name_similarity() -> None:
    gold = [
        Example(id="1", text="When will my card arrive? 📬", labels=["card_arrival"]),
        Example(id="2", text="How long does delivery take?", labels=["card_delivery_estimate"]),
        Example(id="3", text="Can I link my card?", labels=["card_linking"]),
    ]
    measured = {
        "card_arrival": ["card_delivery_estimate"],
        "card_delivery_estimate": ["card_arrival"],
        "card_linking": ["card_arrival"],
    }
    teacher = SimulatedTeacher(gold, accuracy=0.0, confusions=measured)
    assert teacher.answers == [["card_delivery_estimate"], ["card_arrival"], ["card_arrival"]]
    assert teacher.confusions == measured and len(teacher.wrong_ids) == 3


def test_fake_logprobs_give_lower_confidence_to_wrong_answers(
    host: distil.PluginHost, banking_gold: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gold = load_split("banking77", "test", limit=200)
    labels = labels_of(banking_gold)
    with simulated_llm(banking_gold, accuracy=0.85, seed=0, logprobs=True) as sim:
        preds = label_with(host, sim, distil.TextCat(labels), gold, logprobs=True)
        wrong_ids = sim.teacher.wrong_ids
    conf: dict[bool, list[float]] = {True: [], False: []}
    for ex, p in zip(gold, preds, strict=True):
        assert p.confidence is not None
        conf[ex.id in wrong_ids].append(p.confidence)
        assert (p.output.labels != ex.labels) == (ex.id in wrong_ids)
    assert conf[True] and min(conf[False]) >= 0.75 - 1e-9 and max(conf[True]) <= 0.85 + 1e-9
    assert sum(conf[True]) / len(conf[True]) < sum(conf[False]) / len(conf[False])
    assert "returned no logprobs" not in caplog.text


def test_config_overrides_make_the_simulated_model_a_projects_teacher(
    host: distil.PluginHost, banking_gold: Path, tmp_path: Path
) -> None:
    cfg = tmp_path / "distil.cfg"
    text = CONFIG.format(labels=json.dumps(labels_of(banking_gold)), gold=banking_gold)
    cfg.write_text(text + "gold_limit = 120\n")
    with simulated_llm(banking_gold, accuracy=0.85, seed=0) as sim:
        with Project.from_config(cfg, overrides=sim.config_overrides(), host=host) as project:
            result = project.label("gold")
            preds = project.store.predictions(result.source)
            gold = project.store.examples("gold")
        teacher = sim.teacher
    assert result.source.startswith("teacher:openai.chat/simulated-85-systematic#prompt=")
    assert result.ledger["requests"] == len(gold) == len(preds) == 120
    rows = {ex.text: i for i, ex in enumerate(teacher.examples)}
    assert [preds[ex.id].output.labels for ex in gold] == [
        teacher.answers[rows[ex.text]] for ex in gold
    ]


def test_the_config_snippet_loads_as_an_llm_teacher_on_the_server(
    host: distil.PluginHost, banking_gold: Path, tmp_path: Path
) -> None:
    from distil.config import load_config

    labels = labels_of(banking_gold)
    with simulated_llm(banking_gold, accuracy=0.9, errors="uniform", seed=5) as sim:
        text = CONFIG.format(labels=json.dumps(labels), gold=banking_gold)
        text = text.replace('[teacher]\n@teachers = "local.zeroshot.v1"\n', sim.config_snippet())
        config = load_config(text, host=host)
        teacher = config.teacher
        assert isinstance(teacher, distil.PromptTeacher) and teacher.concurrency == 8
        provider = teacher.provider
        assert provider.describe() == "openai.chat/simulated-90-uniform"
        assert provider.params["base_url"] == sim.base_url
        gold = load_split("banking77", "test", limit=20)
        preds = teacher.label(config.task, gold)
    rows = {ex.text: i for i, ex in enumerate(sim.teacher.examples)}
    assert [p.output.labels for p in preds] == [sim.teacher.answers[rows[e.text]] for e in gold]


def test_bad_arguments_say_what_is_wrong(tmp_path: Path) -> None:
    gold = [Example(id="a", text="hi", labels=["x"]), Example(id="b", text="yo", labels=["y"])]
    with pytest.raises(ValueError, match="accuracy must be in"):
        SimulatedTeacher(gold, accuracy=1.5)
    with pytest.raises(ValueError, match="errors must be one of"):
        SimulatedTeacher(gold, accuracy=0.5, errors="random")
    with pytest.raises(ValueError, match=r"gold label\(s\) \['y'\]"):
        SimulatedTeacher(gold, accuracy=0.5, labels=["x", "z"])
    with pytest.raises(ValueError, match="have no labels"):
        SimulatedTeacher([Example(id="c", text="no gold")], accuracy=0.5)
    with pytest.raises(ValueError, match=r"no confusers for \['y'\]"):
        SimulatedTeacher(gold, accuracy=0.5, confusions={"x": ["y"]})
    with pytest.raises(ValueError, match=r"confusions name \['x', 'z'\]"):
        SimulatedTeacher(gold, accuracy=0.5, confusions={"x": ["x"], "y": ["z"]})
    bad = tmp_path / "gold.jsonl"
    bad.write_text('{"id": "a", "text": "hi", "labels": ["x"]}\n{not json\n')
    with pytest.raises(distil.DataError, match=r"gold.jsonl:2"):
        SimulatedTeacher(bad, accuracy=0.5)


def test_a_server_with_a_key_rejects_requests_without_it(
    host: distil.PluginHost, banking_gold: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = labels_of(banking_gold)
    gold = load_split("banking77", "test", limit=3)
    with simulated_llm(banking_gold, accuracy=1.0, api_key="sk-sim-key-000111") as sim:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-999")
        with pytest.raises(distil.ProviderError, match="HTTP 401"):
            label_with(host, sim, distil.TextCat(labels), gold)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-sim-key-000111")
        preds = label_with(host, sim, distil.TextCat(labels), gold)
    assert [p.output.labels for p in preds] == [ex.labels for ex in gold]


def test_the_simulated_names_are_exported_from_distil_testing() -> None:
    # Not from distil.testing.loopback: the loopback server sits below the simulated teacher,
    # and a re-export there was an import cycle (core/tests/test_import_graph.py).
    import distil.testing as testing

    assert testing.SimulatedTeacher is SimulatedTeacher
    assert testing.simulated_llm is simulated_llm
