"""The report of a small real run: its numbers checked against scikit-learn and numpy, its
break-even arithmetic, report.html rendered in headless chromium, and ``distil compare``."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from distil.evaluate.html import render_html
from distil.project import Project
from distil.testing import load_split

pytest.importorskip("distil_sklearn")
pytest.importorskip("distil_local")
np = pytest.importorskip("numpy")
metrics = pytest.importorskip("sklearn.metrics")

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """sms_spam: a student trained on 300 gold train rows (imported as human answers), the
    zero-shot MiniLM teacher on 150 gold test rows; `evaluate` writes the report."""
    root = tmp_path_factory.mktemp("report-run")
    train = load_split("sms_spam", "train", limit=300)
    gold = load_split("sms_spam", "test", limit=150)
    for name, rows in (("train", train), ("gold", gold)):
        (root / f"{name}.jsonl").write_text(
            "".join(ex.model_dump_json(exclude_none=True) + "\n" for ex in rows)
        )
    (root / "answers.jsonl").write_text(
        "".join(json.dumps({"id": ex.id, "labels": ex.labels}) + "\n" for ex in train)
    )
    cfg = root / "distil.cfg"
    cfg.write_text(
        '[task]\n@tasks = "textcat.v1"\nlabels = ["ham", "spam"]\n\n'
        '[teacher]\n@teachers = "local.zeroshot.v1"\n\n'
        '[student]\n@students = "sklearn.textcat.v1"\n\n'
        '[data]\ntrain = "train.jsonl"\ngold = "gold.jsonl"\n\n'
        "[evaluate]\nn_boot = 200\ncpu_hour_cost = 0.1\nannotation_hour_cost = 30\n"
        "seconds_per_annotation = 6\n"
    )
    with Project.from_config(cfg) as project:
        project.import_data()
        assert project.import_answers(root / "answers.jsonl")["stored"] == 300
        trained = project.train()
        report, paths = project.evaluate(root / "report")
        ids = [ex.id for ex in gold]
        preds = {s["name"]: project.store.predictions(s["source"], ids) for s in report["sources"]}
    return {
        "root": root,
        "report": report,
        "paths": paths,
        "gold": gold,
        "preds": preds,
        "train_seconds": trained.seconds,
    }


def test_scores_match_scikit_learn_and_a_numpy_ece(run: dict[str, Any]) -> None:
    gold = [ex.labels[0] for ex in run["gold"]]
    for source in run["report"]["sources"]:
        preds = run["preds"][source["name"]]
        chosen = [preds[ex.id].output.labels[0] for ex in run["gold"]]
        scores = source["scores"]
        assert scores["failure_rate"] == 0
        assert scores["accuracy"] == pytest.approx(metrics.accuracy_score(gold, chosen))
        assert scores["macro_f1"] == pytest.approx(
            metrics.f1_score(gold, chosen, average="macro", zero_division=0)
        )
        assert scores["positive_f1"] == pytest.approx(
            metrics.f1_score(gold, chosen, pos_label="spam", zero_division=0)
        )
        cm = metrics.confusion_matrix(gold, chosen, labels=["ham", "spam"])
        ours = scores["confusion_matrix"]
        for i, g in enumerate(["ham", "spam"]):
            for j, p in enumerate(["ham", "spam"]):
                assert ours.get(g, {}).get(p, 0) == cm[i, j]
        conf = np.array([preds[ex.id].confidence for ex in run["gold"]], dtype=float)
        hit = np.array(gold) == np.array(chosen)
        bins = np.minimum((conf * 10).astype(int), 9)
        ece = sum(
            (bins == b).mean() * abs(hit[bins == b].mean() - conf[bins == b].mean())
            for b in range(10)
            if (bins == b).any()
        )
        assert scores["calibration"]["n"] == 150
        assert scores["calibration"]["ece"] == pytest.approx(ece)


def test_utility_has_latency_memory_cost_and_break_even(run: dict[str, Any]) -> None:
    teacher, student = run["report"]["sources"]
    assert run["report"]["assumptions"] == {
        "cpu_hour_cost": 0.1,
        "annotation_hour_cost": 30.0,
        "seconds_per_annotation": 6.0,
    }
    for source in (teacher, student):
        u = source["utility"]
        assert 0 < u["p50_latency_ms"] <= u["p95_latency_ms"]
        assert u["cost_basis"] == "compute"  # both are local: measured seconds × $/CPU-hour
        assert u["cost_per_1m_docs"] == pytest.approx(u["seconds"] / 150 * 0.1 / 3600 * 1e6)
    assert student["utility"]["peak_memory_bytes"] > 0
    be = student["utility"]["break_even"]
    # 300 human answers × 6 s = 0.5 h at $30/h, plus the training seconds at $0.1/CPU-hour.
    fixed = 15.0 + run["train_seconds"] * 0.1 / 3600
    assert be["fixed_cost"] == pytest.approx(fixed)
    saving = (teacher["utility"]["cost_per_1m_docs"] - student["utility"]["cost_per_1m_docs"]) / 1e6
    assert be["saving_per_doc"] == pytest.approx(saving)
    assert be["break_even_docs"] == pytest.approx(fixed / saving)
    md = run["paths"]["md"].read_text()
    for row in ("p50 latency (ms)", "peak memory (MB)", "break-even (docs)", "ECE"):
        assert row in md
    assert f"{be['break_even_docs']:,.0f}" in md
    eces = [f"{s['scores']['calibration']['ece']:.3f}" for s in (teacher, student)]
    assert f"| ECE (calibration) | {eces[0]} | {eces[1]} |" in md


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (make install-dev installs it)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def test_report_html_renders_its_plots_in_chromium(run: dict[str, Any], browser: Any) -> None:
    pytest.importorskip("matplotlib")
    html = run["paths"]["html"].read_text()
    assert "http://" not in html and "https://" not in html  # self-contained
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(run["paths"]["html"].resolve().as_uri())
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete && i.naturalWidth)")
    alts = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.alt)")
    if os.environ.get("DISTIL_SCREENSHOTS") == "1":  # refresh the docs' picture on request only
        page.screenshot(path=str(REPO / "docs" / "img" / "report.png"), full_page=True)
    page.close()
    assert errors == []
    assert len(widths) >= 4 and all(w and w > 0 for w in widths)
    for name in ("macro-F1 per source", "Speed vs macro-F1", "Cost vs volume", "Confusion matrix"):
        assert name in alts
    assert "Reliability curve" in alts


def test_report_html_without_matplotlib_says_so_and_escapes_text(
    run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib → ImportError
    report = json.loads(json.dumps(run["report"]))
    report["sources"][0]["name"] = "<script>alert(1)</script>"
    html = render_html(report)
    assert "No plots: matplotlib is not installed" in html
    assert "<img" not in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_distil_compare_prints_both_runs(run: dict[str, Any], tmp_path: Path) -> None:
    from distil.cli import app

    a = run["root"] / "report"
    b = tmp_path / "run-b"
    shutil.copytree(a, b)
    out = tmp_path / "compare.md"
    result = CliRunner().invoke(app, ["compare", str(a), str(b / "report.json"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    teacher, student = run["report"]["sources"]
    for name in (teacher["name"], student["name"]):
        assert f"| {name} | report |" in result.output
        assert f"| {name} | run-b |" in result.output
    score = student["scores"]["macro_f1"]
    assert f"{score:.3f} [" in result.output
    assert out.read_text() in result.output
    missing = CliRunner().invoke(app, ["compare", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no report.json" in missing.output
