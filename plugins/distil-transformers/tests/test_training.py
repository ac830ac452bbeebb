"""The training loop: the learning-rate schedule, length batches, dev evaluation with early
stopping and best-weight restore, truncation sized to the data, and the epoch-cap keys.

Every fit here is tiny (16 to 32 texts, batches of 8, one torch thread): seconds each.
"""

from __future__ import annotations

import math
import random
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

import distil
from distil.testing import load_split
from distil.testing.students import gold_pairs
from distil_transformers import EncoderConfig, TransformersTextcat
from distil_transformers.config import default_model_path
from distil_transformers.encoder import Encoder
from distil_transformers.plugin import make_ner, make_textcat
from distil_transformers.training import build_optimizer, length_batches

TINY = {"lr": 2e-4, "batch_size": 8, "n_threads": 1}


# -- the learning-rate schedule, read from the optimizer -------------------------------------------
@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder.start(EncoderConfig(freeze_embeddings=False), n_outputs=77)


def rates_by_step(encoder: Encoder, config: EncoderConfig, total: int) -> list[list[float]]:
    """The learning rate of every parameter group before each of ``total`` optimizer steps, and
    after the last one, as the optimizer holds them while its scheduler steps."""
    optimizer, scheduler = build_optimizer(encoder, config, total)
    seen = []
    for _ in range(total):
        seen.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()  # no gradients: the weights stay, the step counts for the scheduler
        scheduler.step()
    seen.append([group["lr"] for group in optimizer.param_groups])
    return seen


def test_linear_schedule_warms_up_peaks_after_warmup_and_ends_near_zero(encoder: Encoder):
    config = EncoderConfig(lr=1e-4, head_lr=2e-3, warmup_ratio=0.1, schedule="linear")
    rates = rates_by_step(encoder, config, total=20)  # warmup: int(20 * 0.1) = 2 steps
    body, head = [r[0] for r in rates], [r[2] for r in rates]
    assert body[0] == pytest.approx(1e-4 / 3) and head[0] == pytest.approx(2e-3 / 3)
    assert body[1] == pytest.approx(2e-4 / 3)
    assert body[2] == pytest.approx(1e-4) and head[2] == pytest.approx(2e-3)  # the peak
    assert all(a > b for a, b in pairwise(body[2:]))  # decays every step
    assert body[19] == pytest.approx(1e-4 / 18)  # the last step still learns a little
    assert body[20] == 0.0 and head[20] == 0.0
    assert all(r[0] == r[1] for r in rates)  # decayed and undecayed body weights move alike


def test_cosine_schedule_follows_half_a_cosine_after_warmup(encoder: Encoder):
    config = EncoderConfig(lr=1e-4, head_lr=2e-3, warmup_ratio=0.1, schedule="cosine")
    rates = rates_by_step(encoder, config, total=20)
    assert rates[0][0] == pytest.approx(1e-4 / 3)
    assert rates[2][0] == pytest.approx(1e-4)
    assert rates[11][0] == pytest.approx(1e-4 * 0.5 * (1 + math.cos(math.pi * 9 / 18)))
    assert rates[19][2] == pytest.approx(2e-3 * 0.5 * (1 + math.cos(math.pi * 17 / 18)))
    assert rates[20][0] == pytest.approx(0.0, abs=1e-20)


def test_the_head_learns_at_head_lr_without_weight_decay_and_frozen_embeddings_are_left_out(
    encoder: Encoder,
):
    optimizer, _ = build_optimizer(encoder, EncoderConfig(weight_decay=0.05), 10)  # all trained
    decayed, undecayed, head = optimizer.param_groups
    assert decayed["weight_decay"] == 0.05 and undecayed["weight_decay"] == 0.0
    assert head["weight_decay"] == 0.0
    assert [p.shape for p in head["params"]] == [(77, 384), (77,)]
    embeddings = encoder.body.get_input_embeddings().weight
    assert any(p is embeddings for p in decayed["params"])

    frozen = Encoder.start(EncoderConfig(freeze_embeddings=True), n_outputs=77)
    optimizer, _ = build_optimizer(frozen, EncoderConfig(freeze_embeddings=True), 10)
    trained = [p for group in optimizer.param_groups for p in group["params"]]
    assert not any(p is frozen.body.get_input_embeddings().weight for p in trained)
    assert len(trained) == len(list(encoder.parameters())) - 1


# -- batches of similar length ---------------------------------------------------------------------
def test_length_batches_cover_every_row_once_and_pad_far_less_than_a_shuffled_order():
    rng = random.Random(1)
    lengths = [rng.randint(3, 90) for _ in range(1600)]
    batches = length_batches(lengths, 16, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(1600))
    assert batches == length_batches(lengths, 16, random.Random(0))  # seeded

    def padding(groups: list[list[int]]) -> int:
        return sum(max(lengths[i] for i in g) * len(g) - sum(lengths[i] for i in g) for g in groups)

    order = list(range(1600))
    random.Random(0).shuffle(order)
    shuffled = [order[i : i + 16] for i in range(0, 1600, 16)]
    assert padding(batches) * 10 < padding(shuffled)
    longest = [max(lengths[i] for i in b) for b in batches]
    assert longest != sorted(longest)  # still a random order of batches, not short-to-long


# -- early stopping on dev -------------------------------------------------------------------------
def flipped(pairs: list[distil.TrainPair]) -> list[distil.TrainPair]:
    other = {"ham": "spam", "spam": "ham"}
    return [(e, distil.Categories(labels=[other[o.labels[0]]])) for e, o in pairs]  # type: ignore[union-attr]


def macro_f1(gold: list[str], predicted: list[str]) -> float:
    labels = set(gold) | set(predicted)
    f1s = []
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, predicted, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(labels)


def test_training_stops_when_dev_stops_improving_and_keeps_the_best_epochs_weights(
    shared_data: Path, tmp_path: Path
):
    task = distil.TextCat(["ham", "spam"])
    train = gold_pairs(task, load_split("sms_spam", "train", limit=32))
    # Dev is the training texts with the other label: the better the student fits its training
    # data, the worse it scores here, so dev stops improving after the first epochs.
    dev = flipped(train[:16])
    student = make_textcat(max_epochs=6, patience=2, max_length=32, **TINY)
    report = student.fit(task, train, dev)

    curve = report["curve"]
    scores = [point["dev_score"] for point in curve]
    best = scores.index(max(scores))
    assert report["stopped_early"] is True
    assert len(curve) == best + 1 + 2 < 6  # two evaluations without gain, then stop
    assert [point["epoch"] for point in curve] == [float(n) for n in range(1, len(curve) + 1)]
    assert report["best_epoch"] == curve[best]["epoch"] and report["best_dev_score"] == max(scores)
    assert report["steps"] == 4 * len(curve) and report["planned_steps"] == 24
    assert report["epochs_run"] == len(curve) and report["max_epochs"] == 6

    student.save(tmp_path / "model")
    loaded = TransformersTextcat.load(tmp_path / "model")
    inputs = [e.without_answer() for e, _ in dev]
    gold = [o.labels[0] for _, o in dev]  # type: ignore[union-attr]
    predictions = loaded.predict(inputs)
    chosen = [p.output.labels[0] for p in predictions]  # type: ignore[union-attr]
    assert macro_f1(gold, chosen) == pytest.approx(curve[best]["dev_score"], abs=1e-4)
    loss = -sum(
        math.log(p.output.scores[g])  # type: ignore[union-attr]
        for p, g in zip(predictions, gold, strict=True)
    ) / len(gold)
    assert loss == pytest.approx(curve[best]["dev_loss"], abs=1e-4)
    # the weights kept are the best epoch's, not the last epoch's
    assert abs(curve[-1]["dev_loss"] - curve[best]["dev_loss"]) > 1e-3
    assert loaded.report["best_epoch"] == report["best_epoch"]


def test_eval_steps_evaluates_every_n_steps_and_after_the_last_and_patience_0_never_stops(
    shared_data: Path, tmp_path: Path
):
    rows = load_split("banking77", "train", limit=16)
    labels = sorted({e.labels[0] for e in load_split("banking77", "train")})  # type: ignore[index]
    task = distil.TextCat(labels)
    assert len(labels) == 77
    student = make_textcat(max_epochs=2, eval_steps=3, patience=0, **TINY)
    report = student.fit(task, gold_pairs(task, rows), gold_pairs(task, rows[:8]))
    assert [(p["step"], p["epoch"]) for p in report["curve"]] == [(3, 1.5), (4, 2.0)]
    assert report["stopped_early"] is False and report["steps"] == report["planned_steps"] == 4
    assert report["dev_metric"] == "macro_f1" and 0.0 <= report["dev_macro_f1"] <= 1.0

    # max_length = None (the default): sized to the longest training text, kept by save/load
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(default_model_path()), local_files_only=True)
    longest = max(len(tokenizer(e.text)["input_ids"]) for e in rows)
    assert report["max_length"] == student.max_length == longest
    student.save(tmp_path / "model")
    assert TransformersTextcat.load(tmp_path / "model").max_length == longest


def test_without_a_dev_set_every_epoch_runs_and_the_report_has_no_curve(shared_data: Path):
    task = distil.NerTask(["PER", "LOC", "ORG", "MISC"])
    student = make_ner(max_epochs=2, max_length=32, **TINY)
    report = student.fit(task, gold_pairs(task, load_split("wikigold", "train", limit=16)))
    assert report["steps"] == report["planned_steps"] == 4
    assert len(report["epoch_loss"]) == 2 and "curve" not in report
    assert 0.0 <= report["pad_share"] < 1.0 and report["train_cpu_s"] > 0


# -- the epoch-cap keys ----------------------------------------------------------------------------
def test_epochs_is_the_old_name_of_max_epochs_and_both_resolve_to_one_cap():
    assert make_textcat(epochs=2).config == make_textcat(max_epochs=2).config
    assert make_textcat(epochs=2).config.epochs_for(5000) == 2
    assert make_textcat(max_epochs=4, epochs=4).config.epochs_for(100) == 4


def test_an_unset_cap_plans_about_a_thousand_steps_within_4_to_10_epochs():
    config = make_ner().config
    assert config.max_epochs is None and config.epochs is None
    assert config.epochs_for(5000) == 4  # 313 batches of 16 per epoch: 1,252 steps
    assert config.epochs_for(2000) == 8  # 125 per epoch: 1,000 steps
    assert config.epochs_for(600) == 10  # 38 per epoch: capped at 10 (380 steps)
    assert config.epochs_for(1) == 10
    assert make_ner(batch_size=32).config.epochs_for(5000) == 7  # 157 per epoch
    with pytest.raises(distil.ConfigError, match=r"max_epochs \(4\) and its old name epochs \(3\)"):
        make_textcat(max_epochs=4, epochs=3)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"max_epochs": 0}, "max_epochs must be >= 1, not 0"),
        ({"patience": -1}, "patience must be >= 0 (0: never stop early), not -1"),
        ({"eval_steps": -5}, "eval_steps must be >= 0 (0: once per epoch), not -5"),
        ({"schedule": "step"}, "schedule must be one of linear, cosine, constant, not 'step'"),
    ],
)
def test_bad_training_keys_are_config_errors_that_say_what_is_allowed(
    keys: dict[str, Any], message: str
):
    with pytest.raises(distil.ConfigError) as caught:
        make_textcat(**keys)
    assert message in str(caught.value)


def test_a_config_saved_by_the_previous_version_still_loads():
    old = {
        "model_path": None,
        "epochs": 3,
        "lr": 5e-5,
        "head_lr": 1e-3,
        "batch_size": 16,
        "max_length": 128,
        "seed": 0,
        "pretrained": True,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "n_threads": 2,
        "threshold": 0.5,
        "tune_threshold": True,
    }
    config = EncoderConfig.from_dict(old)
    assert config.epochs_for(5000) == 3 and config.max_length == 128 and config.lr == 5e-5
