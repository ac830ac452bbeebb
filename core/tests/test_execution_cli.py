"""The execution settings as a user meets them: config keys, `distil label`, `--dry-run`, budget."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from distil import Completion, Prompt, Provider, Usage, hookimpl
from distil.config import load_config
from distil.errors import ConfigError
from distil.plugins import PluginHost, set_host
from distil.testing import run_cli as cli

DISTIL = str(Path(sys.executable).with_name("distil"))


class ScriptedLLM(Provider):
    """Answers "spam" to everything with 100 input and 5 output tokens; may have a batch API."""

    name = "test.scripted"

    def __init__(self, model: str, max_tokens: int) -> None:
        super().__init__(model, {"max_tokens": max_tokens})

    async def complete(self, prompt: Prompt) -> Completion:
        return Completion(
            text='{"labels": ["spam"]}', usage=Usage(input_tokens=100, output_tokens=5)
        )


def make_scripted(model: str = "scripted-1", max_tokens: int = 50) -> ScriptedLLM:
    return ScriptedLLM(model, max_tokens)


class ScriptedPlugin:
    @hookimpl
    def register_providers(self, register) -> None:  # type: ignore[no-untyped-def]
        register("test.scripted.v1", make_scripted)


@pytest.fixture
def host():
    host = PluginHost(entry_points=False, strict=True, modules=[("scripted", ScriptedPlugin())])
    set_host(host)
    yield host
    set_host(None)


CONFIG = """
[project]
store = "distil.db"

[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

[teacher]
@teachers = "llm.v1"

[teacher.provider]
@providers = "{provider}"

[data]
train = "train.jsonl"
gold = "gold.jsonl"

[label]
{label}

[prices]
{prices}
"""
PRICE = '"test.scripted/scripted-1" = {"input": 1000, "output": 1000, "batch_discount": 0.5}'


def project(
    tmp_path: Path, label: str = "", prices: str = PRICE, provider: str = "test.scripted.v1"
) -> Path:
    rows = [{"id": f"t{i}", "text": f"message number {i}"} for i in range(10)]
    # Gold rows carry their reference answer (an unlabelled gold row is refused at import).
    gold = [{**r, "labels": ["spam" if i % 3 == 0 else "ham"]} for i, r in enumerate(rows)]
    for name, data in (("train", rows), ("gold", gold)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(CONFIG.format(label=label, prices=prices, provider=provider))
    return cfg


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as con:
        return int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


# -- config -----------------------------------------------------------------------------------


def test_label_keys_reach_the_teacher(host, tmp_path) -> None:
    cfg = project(
        tmp_path,
        label="concurrency = 3\nrpm = 600\ntpm = 90000\nmax_retries = 2\n"
        "max_retry_wait = 60\nmax_reasks = 0\nbudget = 1.5",
    )
    teacher = load_config(cfg).teacher
    execution = teacher.execution  # type: ignore[attr-defined]
    assert teacher.concurrency == 3 and teacher.max_reasks == 0  # type: ignore[attr-defined]
    assert execution.limiter.requests.rate == 10 and execution.limiter.tokens.rate == 1500
    assert (execution.retry.max_retries, execution.retry.max_retry_wait) == (2, 60)
    assert execution.budget == 1.5 and execution.price.input == 1000


@pytest.mark.parametrize(
    ("label", "prices", "message"),
    [
        ("rpmm = 3", PRICE, r"label\.rpmm: unknown key"),
        ("rpm = 0", PRICE, r"label\.rpm: Input should be greater than 0"),
        ('mode = "offline"', PRICE, r"label\.mode: Input should be 'online' or 'batch'"),
        (
            "",
            '"test.scripted/x" = {"input": 1, "outptu": 2}',
            r'prices\."test\.scripted/x"\.outptu',
        ),
        (
            "",
            'gpt = {"input": 1, "output": 2}',
            r"prices\.\"gpt\": a price key is 'provider/model'",
        ),
        ("budget = 2.5", "", r"label\.budget: no price known for test\.scripted/scripted-1"),
        ('mode = "batch"', PRICE, r"label\.mode: provider test\.scripted/scripted-1 has no batch"),
    ],
)
def test_bad_execution_settings_name_their_dotted_path(host, tmp_path, label, prices, message):
    with pytest.raises(ConfigError, match=message):
        load_config(project(tmp_path, label=label, prices=prices))


# -- distil label ---------------------------------------------------------------------------------


def test_label_prints_the_ledger_and_stores_it_in_the_run(host, tmp_path, monkeypatch, capsys):
    cfg = project(tmp_path)
    code, out, err = cli(monkeypatch, capsys, "label", str(cfg))
    assert code == 0, err
    assert (
        "ledger: 10 request(s) (0 retried, 0 re-asked, 0 from cache), 1,000 tokens in / 50 out, "
        "cost $1.05" in out
    )
    with sqlite3.connect(tmp_path / "distil.db") as con:
        stats = json.loads(con.execute("SELECT stats FROM runs").fetchone()[0])
    assert stats["ledger"]["cost"] == pytest.approx(1.05)
    assert stats["ledger"]["input_tokens"] == 1000 and stats["ledger"]["requests"] == 10


def test_budget_stop_is_an_error_without_traceback_and_keeps_the_answers(
    host, tmp_path, monkeypatch, capsys
) -> None:
    cfg = project(tmp_path, label="concurrency = 1\nbudget = 0.5")
    code, _, err = cli(monkeypatch, capsys, "label", str(cfg))
    assert code == 1
    assert "Traceback" not in err and "[E007]" in err
    stored = count(tmp_path / "distil.db", "predictions")
    assert 0 < stored < 10
    assert f"{stored} of 10 'train' examples are labelled ({stored} in this run)" in err
    assert f"spent ${stored * 0.105:.2f}" in err
    with sqlite3.connect(tmp_path / "distil.db") as con:
        status, stats = con.execute("SELECT status, stats FROM runs").fetchone()
    assert status == "budget" and json.loads(stats)["labelled"] == stored


def test_dry_run_prints_prompts_and_cost_and_writes_nothing(host, tmp_path, monkeypatch, capsys):
    cfg = project(tmp_path)
    code, out, err = cli(monkeypatch, capsys, "label", str(cfg), "--dry-run", "--n", "2")
    assert code == 0, err
    assert "example t0" in out and "example t1" in out and "example t2" not in out
    assert "message number 1" in out and "system:" in out and "JSON schema" in out
    assert '"enum": [' in out
    assert "10 of 10 'train' examples pending" in out
    assert "(max_tokens 50 per answer)" in out
    assert "estimated cost: at most $" in out
    assert count(tmp_path / "distil.db", "predictions") == 0
    assert count(tmp_path / "distil.db", "runs") == 0


def test_dry_run_without_a_price_says_so(host, tmp_path, monkeypatch, capsys) -> None:
    cfg = project(tmp_path, prices="")
    code, out, _ = cli(monkeypatch, capsys, "label", str(cfg), "--dry-run")
    assert code == 0
    assert "no price known for test.scripted/scripted-1" in out


def test_dry_run_through_the_installed_cli_with_the_llama_provider(tmp_path) -> None:
    pytest.importorskip("distil_local")
    cfg = project(
        tmp_path,
        provider="local.llama.v1",
        prices='"local.llama/smollm2-135m" = {"input": 0.5, "output": 1.0}',
    )
    result = subprocess.run(
        [DISTIL, "label", str(cfg), "--dry-run", "--n", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "example t0" in out and "example t1" not in out
    assert "message number 0" in out and "JSON schema" in out
    assert "requests to local.llama/smollm2-135m" in out or "request(s) to local.llama" in out
    assert "(max_tokens 64 per answer)" in out and "estimated cost: at most $" in out
    assert count(tmp_path / "distil.db", "predictions") == 0
