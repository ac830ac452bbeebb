"""The ordinal task kind: registered by its entry point, scored with MAE, worded passes."""

from __future__ import annotations

import pytest
from distil_ordinal import OrdinalTask

import distil

C = distil.Categories


def test_the_entry_point_registers_the_task_factory():
    host = distil.PluginHost(
        entry_points=False, modules=[("ordinal", "distil_ordinal.plugin")], strict=True
    )
    task = host.create("tasks", "ordinal.v1", scale=["bad", "ok", "good"])
    assert isinstance(task, OrdinalTask) and task.labels == ["bad", "ok", "good"]
    assert task.kind == "ordinal" and "textcat" in task.kinds and task.exclusive


def test_a_one_point_scale_is_a_config_error():
    host = distil.PluginHost(
        entry_points=False, modules=[("ordinal", "distil_ordinal.plugin")], strict=True
    )
    with pytest.raises(distil.ConfigError, match="at least two points"):
        host.create("tasks", "ordinal.v1", scale=["5"])


def test_mae_counts_scale_steps_and_a_failure_as_the_widest_error():
    task = OrdinalTask()
    gold = [C(labels=["5"]), C(labels=["1"]), C(labels=["3"]), C(labels=["4"])]
    predicted = [C(labels=["4"]), C(labels=["1"]), None, C(labels=["1"])]
    scores = task.score(gold, predicted, n_boot=200)
    assert task.errors(gold, predicted) == [1, 0, 4, 3]
    assert scores["mae"] == pytest.approx(2.0)
    assert scores["within_one"] == pytest.approx(0.5)
    low, high = scores["ci"]["mae"]
    assert 0.0 <= low <= 2.0 <= high <= 4.0
    assert scores["accuracy"] == pytest.approx(0.25)  # the textcat scores stay


def test_the_passes_are_worded_for_ratings():
    passes = OrdinalTask().annotation_passes()
    assert [p.name for p in passes] == ["check", "fix", "review"]
    assert passes[0].title == "Is the teacher's rating right?"
    assert passes[1].mode == "choice" and passes[1].title == "Choose the right rating (1–5)"


def test_a_saved_student_gets_its_ordinal_task_back():
    described = OrdinalTask(["1", "2", "3"]).describe()
    rebuilt = distil.task_from_description(described)
    assert type(rebuilt) is OrdinalTask and rebuilt.labels == ["1", "2", "3"]
