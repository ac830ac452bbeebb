"""A user's CSV straight into the loop: `distil init` reads the header, `distil run` labels,
trains and evaluates from the CSV files, and an edited gold file is re-imported. No conversion.

banking77 rows from shared/data written as `text,label` CSVs (every one of the 77 intents in
both files); the teacher is the simulated 85%-accurate LLM behind the real OpenAI SDK on a
loopback server (distil.testing), the student scikit-learn's TF-IDF model.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import run_distil
from distil.records import Example
from distil.testing import load_split, simulated_llm

pytest.importorskip("distil_openai")
pytest.importorskip("distil_sklearn")


def covering(rows: list[Example], n: int) -> list[Example]:
    """The first row of every label, then the next rows in file order, ``n`` in all."""
    firsts: dict[str, Example] = {}
    for ex in rows:
        firsts.setdefault((ex.labels or [""])[0], ex)
    chosen = list(firsts.values())
    picked = {ex.id for ex in chosen}
    chosen += [ex for ex in rows if ex.id not in picked][: n - len(chosen)]
    return chosen


def write_csv(path: Path, rows: list[Example], mode: str = "w") -> None:
    with path.open(mode, encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        if mode == "w":
            writer.writerow(["text", "label"])
        writer.writerows([ex.text, (ex.labels or [""])[0]] for ex in rows)


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> Iterator[dict[str, Any]]:
    """`distil init` on the two CSVs, then `distil run`, with the simulated teacher serving."""
    root = tmp_path_factory.mktemp("csv-project")
    train = covering(load_split("banking77", "train"), 300)
    test = load_split("banking77", "test")
    gold, extra = covering(test, 200), test[-2:]
    write_csv(root / "train.csv", train)
    write_csv(root / "gold.csv", gold)
    init = run_distil(
        "init",
        "--train",
        "train.csv",
        "--gold",
        "gold.csv",
        "--teacher",
        "openai",
        "--student",
        "sklearn",
        cwd=root,
    )
    assert init.returncode == 0, init.stderr
    with simulated_llm([*train, *gold, *extra], accuracy=0.85, seed=0) as sim:
        overrides = [
            f"teacher.provider.base_url={sim.base_url}",
            f"teacher.provider.model={sim.model}",
        ]
        env = {"OPENAI_API_KEY": "sk-loopback-test"}

        def distil(*args: str) -> Any:
            sets = [x for o in overrides for x in ("--set", o)]
            return run_distil(*args, "distil.cfg", *sets, env=env, cwd=root)

        ran = distil("run", "--output", "report")
        assert ran.returncode == 0, ran.stderr
        yield {
            "root": root,
            "train": train,
            "gold": gold,
            "extra": extra,
            "ran": ran,
            "cli": distil,
        }


def test_init_maps_the_csv_columns_and_collects_the_77_labels(project: dict[str, Any]) -> None:
    text = (project["root"] / "distil.cfg").read_text()
    match = re.search(r"^labels = (.*)$", text, re.MULTILINE)
    assert match is not None
    banking = {label for ex in load_split("banking77", "train") for label in ex.labels or []}
    assert len(banking) == 77
    assert json.loads(match.group(1)) == sorted(banking)
    assert '[data]\ntrain = "train.csv"\ngold = "gold.csv"\ntext_column = "text"\n' in text
    assert 'label_column = "label"\n' in text


def test_run_reads_the_csvs_and_scores_every_gold_row(project: dict[str, Any]) -> None:
    root, ran = project["root"], project["ran"]
    assert "invalid JSON" not in ran.stderr
    assert "labelled 300 of 300 'train' examples" in ran.stdout
    report = json.loads((root / "report" / "report.json").read_text())
    assert report["gold"]["n"] == len(project["gold"]) == 200
    teacher = next(s for s in report["sources"] if s["role"] == "teacher")
    assert teacher["source"].startswith("teacher:openai.chat/simulated-85-systematic")
    # The simulated teacher is right on 85% of the rows it knows: far above chance on 77 labels.
    assert teacher["scores"]["accuracy"] > 0.7
    assert {s["role"] for s in report["sources"]} == {"teacher", "student"}


def test_an_edited_gold_csv_is_reimported_by_the_next_command(project: dict[str, Any]) -> None:
    root = project["root"]
    gold = root / "gold.csv"
    write_csv(gold, project["extra"], mode="a")
    with gold.open("a", encoding="utf-8", newline="") as handle:
        handle.write(',"a row without text"\n')
    evaluated = project["cli"]("evaluate", "--output", "after")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "data.gold: gold.csv changed since import (200 -> 202 rows): re-imported" in (
        evaluated.stderr
    )
    qpath = root / "quarantine" / "gold.gold.csv.quarantine.jsonl"
    assert f"{gold}:204: empty text in column 'text'" in evaluated.stderr
    assert f"they are in {qpath}" in evaluated.stderr
    report = json.loads((root / "after" / "report.json").read_text())
    assert report["gold"]["n"] == 202
