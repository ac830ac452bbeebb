"""The zero-shot teacher hands its dev tuning to the project store and takes it back.

``tuned_state()`` / ``load_tuned_state()`` let ``Project.prepare_teacher`` tune once per dev set
instead of once per process (encoding the dev set was most of a ``label``/``train`` run).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import distil
import distil.plugins
import distil_local.plugin
from distil.testing import load_split
from distil_local.minilm import ZeroShotTeacher


@pytest.fixture(autouse=True, scope="module")
def host() -> Iterator[distil.PluginHost]:
    host = distil.PluginHost(
        entry_points=False, modules=[("local", distil_local.plugin)], strict=True
    )
    distil.plugins.set_host(host)
    yield host
    distil.plugins.set_host(None)


CONFIG = """\
[task]
@tasks = "textcat.v1"
labels = {labels}
{multilabel}

[teacher]
@teachers = "local.zeroshot.v1"
{teacher}

[data]
train = "train.jsonl"
dev = "dev.jsonl"
gold = "dev.jsonl"
"""


def project(root: Path, dataset: str, n_dev: int, teacher: str = "") -> Path:
    rows = [ex.model_dump(exclude_none=True) for ex in load_split(dataset, "dev", limit=n_dev)]
    (root / "dev.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8"
    )
    (root / "train.jsonl").write_text((root / "dev.jsonl").read_text("utf-8"), "utf-8")
    labels = sorted({label for ex in load_split(dataset, "train") for label in ex.labels or []})
    multilabel = "multilabel = true" if dataset == "goemotions" else ""
    cfg = root / "distil.cfg"
    cfg.write_text(
        CONFIG.format(labels=json.dumps(labels), multilabel=multilabel, teacher=teacher), "utf-8"
    )
    return cfg


def no_encoding(*args: object, **kwargs: object) -> None:
    raise AssertionError("the dev set was encoded again")


@pytest.mark.parametrize(
    ("dataset", "key"), [("sms_spam", "temperature"), ("goemotions", "threshold")]
)
def test_a_second_project_reuses_the_tuning_without_encoding_dev(
    tmp_path, monkeypatch, dataset, key
) -> None:
    cfg = project(tmp_path, dataset, 24)
    with distil.Project.from_config(cfg) as first:
        source = first.teacher_source
        state = first.config.teacher.tuned_state()  # type: ignore[attr-defined]
    assert list(state) == [key]
    assert "&params=" in source
    monkeypatch.setattr(ZeroShotTeacher, "cosines", no_encoding)
    with distil.Project.from_config(cfg) as second:
        assert second.teacher_source == source
        assert second.config.teacher.tuned_state() == state  # type: ignore[attr-defined]


def test_a_configured_value_is_neither_stored_nor_overridden(tmp_path) -> None:
    cfg = project(tmp_path, "sms_spam", 12, teacher="temperature = 0.07")
    with distil.Project.from_config(cfg) as project_:
        project_.prepare_teacher()
        teacher = project_.config.teacher
        assert teacher.tuned_state() is None  # type: ignore[attr-defined]
        teacher.load_tuned_state({"temperature": 0.5, "bogus": 1.0})  # type: ignore[attr-defined]
        assert teacher.provider.params == {"temperature": 0.07}  # type: ignore[attr-defined]
