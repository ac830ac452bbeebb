"""The shared rate budget, the result log and the shards, as plain objects (no Ray needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from distil import Categories, Example, Prediction
from distil.store.sqlite import Store
from distil_ray.services import ResultLog, SharedBudget
from distil_ray.shards import merge_results, result_key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_shared_budget_spreads_requests_at_the_rate_first_come_first_served() -> None:
    clock = Clock()
    budget = SharedBudget(rpm=60, tpm=None, clock=clock)  # 1/s, a bucket of 1
    waits = [budget.reserve() for _ in range(4)]  # four workers ask at the same moment
    assert waits == [0.0, 1.0, 2.0, 3.0]
    clock.now += 10  # idle time refills the bucket, up to its capacity only
    assert budget.reserve() == 0.0 and budget.reserve() == 1.0
    assert budget.stats()["granted"] == 6


def test_the_shared_budget_counts_tokens_and_settles_them_with_the_real_usage() -> None:
    clock = Clock()
    budget = SharedBudget(rpm=None, tpm=600, clock=clock)  # 10 tokens/s, a bucket of 10
    assert budget.reserve(10) == 0.0
    assert budget.reserve(10) == pytest.approx(1.0)
    budget.settle(estimated=10, actual=2)  # the second request used 2 of its 10: 8 back
    assert budget.reserve(8) == pytest.approx(1.0)  # unsettled it would be 1.8
    assert budget.reserve(50) == pytest.approx(2.0)  # larger than the bucket: wait for a full one


def test_a_retry_after_pauses_every_worker() -> None:
    clock = Clock()
    budget = SharedBudget(rpm=6000, tpm=None, clock=clock)
    budget.pause(5.0)
    assert budget.reserve() == pytest.approx(5.0)
    budget.pause(1.0)  # never shortens a pause
    assert budget.reserve() == pytest.approx(5.0)


def pred(i: int) -> dict:
    return Prediction(
        example_id=f"e{i}", source="teacher:x", output=Categories(labels=["ham"])
    ).model_dump(mode="json")


def test_the_result_log_survives_a_restart_and_skips_a_line_cut_short(tmp_path: Path) -> None:
    log = ResultLog(str(tmp_path))
    assert log.add([{"key": "a", "prediction": pred(1)}, {"key": "b", "prediction": pred(2)}]) == 2
    assert log.add([{"key": "a", "prediction": pred(1)}]) == 0  # logged once only
    log.close()
    with log.path.open("a") as fh:
        fh.write('{"key": "c", "predic')  # a kill in the middle of a write
    again = ResultLog(str(tmp_path))  # the restarted job's log
    assert set(again.lookup(["a", "b", "c", "d"])) == {"a", "b"}
    assert again.count() == 2


def test_merging_results_is_idempotent_and_fills_the_store_cache(tmp_path: Path) -> None:
    log = ResultLog(str(tmp_path / "results"))
    ex = Example(id="e1", text="free prize")
    record = {
        "key": result_key("teacher:x", ex),
        "prediction": pred(1),
        "cache": [["k1", {"text": "{}"}]],
    }
    log.add([record])
    log.close()
    with Store(tmp_path / "distil.db") as store:
        assert merge_results(tmp_path / "results", store, "teacher:x") == 1
        assert merge_results(tmp_path / "results", store, "teacher:x") == 1  # again: same row
        assert merge_results(tmp_path / "results", store, "teacher:other") == 0
        assert list(store.predictions("teacher:x")) == ["e1"]
        assert store.cache_get("k1") == {"text": "{}"}


def test_the_result_key_changes_with_the_text_and_the_source() -> None:
    a = Example(id="1", text="hello")
    assert result_key("s", a) == result_key("s", Example(id="1", text="hello", meta={"x": 1}))
    assert result_key("s", a) != result_key("s", Example(id="1", text="hello!"))
    assert result_key("s", a) != result_key("t", a)


def test_distil_help_and_the_plugin_do_not_import_ray() -> None:
    code = (
        "import json, sys\n"
        "from distil.cli import main\n"
        "from distil.plugins import get_host\n"
        "sys.argv = ['distil', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "assert 'ray.v1' in get_host().names('executors')\n"
        "loaded = [m for m in sys.modules if m == 'ray' or m.startswith(('ray.', 'pyarrow'))]\n"
        "print(json.dumps(sorted(loaded)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"DISTIL_PLUGINS": "ray", "PATH": "/usr/bin:/bin"},
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
