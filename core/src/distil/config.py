"""Project config: confection syntax, validated by pydantic, resolved against the plugin registries.

A ``distil.cfg`` composes a project from registered names::

    [task]
    @tasks = "textcat.v1"
    labels = ["ham", "spam"]

    [teacher]
    @teachers = "local.zeroshot.v1"

    [student]
    @students = "sklearn.textcat.v1"

    [data]
    train = "data/train.jsonl"
    gold = "data/test.jsonl"

Every error names the dotted path of the bad key (``student.bogus``); an unknown registered name lists
the available names and the package that may provide it. Relative paths are relative to the config
file. Secrets never go in the file: providers read them from the environment.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

from confection import Config, ConfigValidationError
from confection import registry as confection_registry
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from .errors import ConfigError, DistilError, RegistryError, StudentTaskError
from .execute import Executor, LocalExecutor
from .plugins import REGISTRIES, PluginHost, did_you_mean, get_host
from .student import Student
from .tasks import Task
from .teach.execution import Execution
from .teach.pricing import PriceTable
from .teach.provider import Provider
from .teach.retry import RetryPolicy
from .teach.teacher import PromptTeacher, Teacher

PACKAGE_DATA_PREFIX = "distil:"


def package_data_path(value: str) -> Path:
    """The file behind ``distil:quickstart/...``: data shipped inside the distil package."""
    rel = value[len(PACKAGE_DATA_PREFIX) :].lstrip("/")
    path = Path(__file__).parent / "data" / rel
    if ".." in Path(rel).parts:
        raise ConfigError(f"package data paths may not leave the package: {value}")
    return path


SECTIONS = {
    "paths",
    "project",
    "task",
    "teacher",
    "student",
    "data",
    "evaluate",
    "label",
    "prices",
    "executor",
    "train",
    "annotate",
}
REQUIRED = ("task", "teacher", "data")
#: How close a misspelled section or key must be to a real one for "did you mean" (difflib).
KEY_CUTOFF = 0.6


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectSection(_Section):
    """``[project]``: where the store and outputs live."""

    name: str = "distil-project"
    store: str = "distil.db"
    output: str = "output"


class DataSection(_Section):
    """``[data]``: the data files. ``gold`` is the evaluation set; ``dev`` is optional.

    Files are JSONL, CSV, TSV, Parquet, plain text or a saved Hugging Face dataset folder;
    ``format`` (default ``auto``: from the suffix) applies to every file. The ``*_column`` keys and
    ``label_separator`` (multi-label cells, e.g. ``"|"``) map the columns of tables; unset, they
    are found by name (``text``, ``label``, ``id``, ...). See docs/data.md.
    """

    train: str
    gold: str
    dev: str | None = None
    train_limit: int | None = None
    gold_limit: int | None = None
    format: Literal["auto", "jsonl", "csv", "tsv", "parquet", "hf", "text"] = "auto"
    text_column: str | None = None
    label_column: str | None = None
    label_separator: str | None = Field(default=None, min_length=1)
    id_column: str | None = None


class LabelSection(_Section):
    """``[label]``: how the teacher loop runs (see docs/config.md for each key).

    ``concurrency`` overrides the teacher's own; ``rpm`` / ``tpm`` are requests and tokens per
    minute (None: unlimited); ``rate_limit_pause`` is what a 429's ``Retry-After`` holds:
    ``"all"`` requests of the teacher (the default) or only the refused ``"request"``;
    ``budget`` caps in dollars what the project has spent on the teacher model over every run
    (needs a ``[prices]`` entry);
    ``mode = "batch"`` uses the provider's batch API in jobs of ``batch_size_jobs`` requests,
    polled every ``poll_interval`` seconds.
    """

    batch_size: int = 64
    concurrency: int | None = Field(default=None, ge=1)
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)
    max_retries: int = Field(default=6, ge=0)
    max_retry_wait: float = Field(default=600.0, ge=0)
    max_reasks: int = Field(default=1, ge=0)
    rate_limit_pause: Literal["all", "request"] = "all"
    budget: float | None = Field(default=None, ge=0)
    mode: Literal["online", "batch"] = "online"
    poll_interval: float = Field(default=30.0, gt=0)
    batch_size_jobs: int = Field(default=1000, ge=1)


class EvaluateSection(_Section):
    """``[evaluate]``: bootstrap settings and the money assumptions behind the utility figures.

    ``cpu_hour_cost`` ($ per CPU-hour) prices measured compute time for models without a price
    (local teachers, students, training); the default 0.05 is an assumption (roughly one vCPU-hour
    on a cloud VM), not a measurement. ``annotation_hour_cost`` ($ per hour of human annotation)
    and ``seconds_per_annotation`` price the human answers a student was trained on. Together they
    give the student's fixed cost and its break-even volume against the teacher (docs/report.md).
    """

    n_boot: int = 1000
    seed: int = 0
    cpu_hour_cost: float = Field(default=0.05, ge=0)
    annotation_hour_cost: float = Field(default=30.0, ge=0)
    seconds_per_annotation: float = Field(default=5.0, ge=0)


class TrainSection(_Section):
    """``[train]``: trust scores for the training labels (docs/annotate.md, "Trust scores").

    ``trust`` scores every teacher label from out-of-fold student predictions with cleanlab (the
    ``distil[trust]`` extra); unset, it is on when cleanlab is installed and the task is a
    ``textcat`` (``true`` makes a missing cleanlab an error). It costs ``folds`` more fits of the
    student. ``drop_label_issues`` leaves the teacher labels cleanlab flags out of the final fit
    (human answers are never flagged or dropped); ``seed`` seeds the folds. ``human_weight``
    counts each human answer that many times in the final fit (1: as much as a teacher label).
    ``teacher_weight`` (0 < w <= 1) weighs each teacher label in the final fit against a human
    answer's ``human_weight``: below 1 the human answers decide where they speak and the teacher's
    labels only fill in, which is what a weak teacher needs (docs/distill.md, "A weak teacher").
    ``"auto"`` chooses it on the dev split among 1, 0.1, 0.01 and 0 (the human answers alone),
    one extra fit each, and the train report says which won and their dev scores.
    It needs a student that takes example weights (``supports_weights``: the embeddings, static
    and scikit-learn students); other students are refused with a message naming them.
    """

    trust: bool | None = None
    folds: int = Field(default=5, ge=2, le=20)
    drop_label_issues: bool = False
    human_weight: int = Field(default=1, ge=1, le=100)
    teacher_weight: Annotated[float, Field(gt=0.0, le=1.0)] | Literal["auto"] = 1.0
    seed: int = 0


#: A session name in ``[annotate] reviewers`` (the app checks names the same way).
ReviewerName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$"
    ),
]
#: The queue strategies of ``[annotate] queue`` (see :mod:`distil.annotate.queue`).
QueueStrategy = Literal["label_issues", "disagreement", "confidence", "uncertainty", "random"]


class AnnotateSection(_Section):
    """``[annotate]``: the order of the cards in each annotation pass (docs/annotate.md).

    ``queue``: ``label_issues`` (lowest trust score first), ``disagreement`` (teacher–student
    disagreement, then lowest teacher confidence), ``confidence`` (lowest teacher confidence),
    ``uncertainty`` (the student's smallest margin first: active learning, for a weak teacher) or
    ``random`` (shuffled with ``seed``). Unset: ``label_issues`` when the newest ``distil train``
    stored trust scores, else ``disagreement``. The ``distil_queue_order`` hook still goes last.

    ``multilabel``: ``card`` (one card per text: keep, drop and add labels together) or
    ``per_label`` (one binary pass per label, then a fix pass). ``reviewers``: the sessions that
    may take the review pass (empty: anyone not part of the conflict; ``distil annotate
    --reviewer`` adds names). ``lease_seconds``: how long a card shown in one tab is kept from the
    session's other tabs. ``max_body_bytes``: the largest request body the app accepts (413 above).
    """

    queue: QueueStrategy | None = None
    seed: int = 0
    multilabel: Literal["card", "per_label"] = "card"
    reviewers: list[ReviewerName] = Field(default_factory=list)
    lease_seconds: float = Field(default=300.0, gt=0)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)


class _RegistryView:
    """What confection sees as one registry: the host's entries, with our error for a miss."""

    def __init__(self, host: PluginHost, kind: str) -> None:
        self.host, self.kind = host, kind

    def __contains__(self, name: str) -> bool:
        return name in self.host.registries[self.kind]

    def get(self, name: str) -> Any:
        return self.host.get(self.kind, name).factory


def confection_registry_for(host: PluginHost) -> type:
    """A confection registry class whose registries are the host's."""
    attrs = {kind: _RegistryView(host, kind) for kind in REGISTRIES}
    return type("DistilRegistry", (confection_registry,), attrs)


def _dotted(loc: Any) -> str:
    parts = [str(p).strip(".") for p in (loc or []) if str(p).strip(".")]
    return ".".join(".".join(x for x in p.split(".") if x) for p in parts)


def _format_confection(
    section: str, exc: ConfigValidationError, params: Callable[[list[str]], list[str]] | None = None
) -> str:
    """One ``path: message`` per error; an unknown key gets the closest parameter of its block's
    function (``params`` gives them for the block at a path below the section)."""
    lines = []
    for err in exc.errors or []:
        path = _dotted(err.get("loc"))
        if not path.startswith(section):
            path = f"{section}.{path}" if path else section
        msg = str(err.get("msg"))
        parts = path.split(".")[1:]
        if params is not None and parts and msg.startswith("unexpected argument"):
            close = did_you_mean(parts[-1], params(parts[:-1]), KEY_CUTOFF)
            if close:
                msg += f"; did you mean '{close}'?"
        lines.append(f"{path}: {msg}")
    return "; ".join(lines) or str(exc)


def _format_pydantic(section: str, exc: ValidationError, fields: Iterable[str] = ()) -> str:
    lines = []
    for err in exc.errors():
        path = ".".join([section, *(str(x) for x in err["loc"])])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            close = did_you_mean(str(err["loc"][-1]), fields, KEY_CUTOFF) if err["loc"] else None
            msg = f"unknown key; did you mean '{close}'?" if close else "unknown key"
        lines.append(f"{path}: {msg}")
    return "; ".join(lines)


def _block_params(host: PluginHost, block: Any, parts: list[str]) -> list[str]:
    """The parameter names of the registered function of the block at ``parts`` in ``block``."""
    import inspect

    node = block
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return []
        node = node[part]
    if not isinstance(node, dict):
        return []
    for key, value in node.items():
        if str(key).startswith("@") and isinstance(value, str):
            try:
                factory = host.get(str(key)[1:], value).factory
                return list(inspect.signature(factory).parameters)
            except (DistilError, TypeError, ValueError):
                return []
    return []


@dataclass
class ProjectConfig:
    """A loaded, validated and resolved project config."""

    path: Path | None
    base_dir: Path
    raw: Config
    project: ProjectSection
    data: DataSection
    label: LabelSection
    evaluate: EvaluateSection
    task: Task
    teacher: Teacher
    student: Student | None
    prices: PriceTable = field(default_factory=PriceTable)
    #: ``[train]``: trust scores and label-issue dropping.
    train: TrainSection = field(default_factory=TrainSection)
    #: ``[annotate]``: the queue strategy of the annotation app.
    annotate: AnnotateSection = field(default_factory=AnnotateSection)
    #: Where the label and predict stages run: ``[executor]``, by default ``local.v1``.
    executor: Executor = field(default_factory=LocalExecutor)

    def resolve_path(self, value: str) -> Path:
        """A config path: ``distil:...`` is data shipped in the package; relative is to the file."""
        if value.startswith(PACKAGE_DATA_PREFIX):
            return package_data_path(value)
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def store_path(self) -> Path:
        return self.resolve_path(self.project.store)


def resolve_section(host: PluginHost, name: str, block: Any, where: str = "") -> Any:
    """Resolve one ``@registry`` block, turning confection's errors into ConfigErrors."""
    if not isinstance(block, dict) or not any(str(k).startswith("@") for k in block):
        kinds = ", ".join(f"@{k}" for k in REGISTRIES)
        raise ConfigError(f"{where}[{name}] must name a registered function ({kinds})")
    reg: Any = confection_registry_for(host)
    try:
        resolved = reg.resolve({name: block}, validate=True)
    except ConfigValidationError as exc:
        params = partial(_block_params, host, block)
        raise ConfigError(f"{where}{_format_confection(name, exc, params)}") from None
    except RegistryError as exc:
        raise RegistryError(f"{where}{name}: {exc.args[0]}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}{name}: {exc}") from None
    return resolved[name]


def _anchor_paths(block: Any, base_dir: Path) -> None:
    """Make relative ``*_path`` values in registered blocks relative to the config file.

    ``shots_path``, ``student_path``, ``model_path``...: a config means the same thing wherever it
    is run from, as the ``[data]`` and ``[project]`` paths do. ``distil:`` package paths are kept.
    """
    if not isinstance(block, dict):
        return
    for key, value in block.items():
        if isinstance(value, dict):
            _anchor_paths(value, base_dir)
        elif (
            isinstance(key, str)
            and key.endswith("_path")
            and isinstance(value, str)
            and value
            and not value.startswith(PACKAGE_DATA_PREFIX)
            and not Path(value).expanduser().is_absolute()
        ):
            block[key] = str(base_dir / value)


def strip_inline_comments(text: str) -> str:
    """``text`` without inline comments: a ``#`` after whitespace, outside quotes, ends
    the value (``schema = "a:B"   # why`` is ``schema = "a:B"``). Whole-line comments are left to
    the parser. Without this, configparser keeps the comment as part of the value."""
    out = []
    for line in text.splitlines():
        quote: str | None = None
        cut = len(line)
        for i, ch in enumerate(line):
            if quote:
                if ch == quote and line[i - 1] != "\\":
                    quote = None
            elif ch in "\"'":
                quote = ch
            elif ch == "#" and i > 0 and line[i - 1] in " \t" and line[:i].strip():
                cut = i
                break
        out.append(line[:cut].rstrip() if cut < len(line) else line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def load_config(
    source: str | Path | Config | dict[str, Any],
    *,
    overrides: dict[str, Any] | None = None,
    host: PluginHost | None = None,
) -> ProjectConfig:
    """Read, validate and resolve a project config (a path, a config string's Config, or a dict)."""
    host = host or get_host()
    path: Path | None = None
    if isinstance(source, str | Path) and not str(source).lstrip().startswith("["):
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            text = strip_inline_comments(path.read_text(encoding="utf-8"))
            raw = Config().from_str(text, overrides=overrides or {}, interpolate=True)
        except Exception as exc:
            raise ConfigError(f"{path}: cannot read the config: {exc}") from None
        base_dir = path.resolve().parent
        # A schema (or other module) named in the config is found beside it, as paths are.
        if str(base_dir) not in sys.path:
            sys.path.append(str(base_dir))
    elif isinstance(source, str):
        raw = Config().from_str(
            strip_inline_comments(source), overrides=overrides or {}, interpolate=True
        )
        base_dir = Path.cwd()
    else:
        assert not isinstance(source, Path)
        raw = Config(source).interpolate()
        base_dir = Path.cwd()
    where = f"{path}: " if path else ""
    unknown = sorted(set(raw) - SECTIONS)
    if unknown:
        guesses = [f"[{c}]" for u in unknown if (c := did_you_mean(u, SECTIONS, KEY_CUTOFF))]
        guess = f" (did you mean {', '.join(guesses)}?)" if guesses else ""
        raise ConfigError(
            f"{where}unknown section(s) {', '.join(f'[{u}]' for u in unknown)}{guess}; "
            f"sections are {', '.join(sorted(SECTIONS))}"
        )
    missing = [s for s in REQUIRED if s not in raw]
    if missing:
        raise ConfigError(f"{where}missing section(s) {', '.join(f'[{m}]' for m in missing)}")

    def section(model: type[BaseModel], name: str) -> Any:
        try:
            return model.model_validate(dict(raw.get(name, {}) or {}))
        except ValidationError as exc:
            fields = model.model_fields
            raise ConfigError(f"{where}{_format_pydantic(name, exc, fields)}") from None

    project = section(ProjectSection, "project")
    data = section(DataSection, "data")
    label = section(LabelSection, "label")
    evaluate = section(EvaluateSection, "evaluate")
    train = section(TrainSection, "train")
    annotate = section(AnnotateSection, "annotate")

    for name in ("task", "teacher", "student", "executor"):
        if name in raw:
            _anchor_paths(raw[name], base_dir)
    task = resolve_section(host, "task", raw["task"], where)
    if not isinstance(task, Task):
        raise ConfigError(f"{where}task: @tasks must build a Task, got {type(task).__name__}")
    teacher = resolve_section(host, "teacher", raw["teacher"], where)
    if isinstance(teacher, Provider):  # `[teacher] @providers = ...` is the LLM teacher
        teacher = PromptTeacher(teacher)
    if not isinstance(teacher, Teacher):
        raise ConfigError(f"{where}teacher: expected a teacher or provider, got {teacher!r}")
    student = None
    if "student" in raw:
        student = resolve_section(host, "student", raw["student"], where)
        if not isinstance(student, Student):
            raise ConfigError(f"{where}student: @students must build a Student, got {student!r}")
        check_student_task(student, task, raw, where)
    prices = PriceTable.from_config(dict(raw.get("prices", {}) or {}), where)
    configure_teacher(teacher, label, prices, where)
    executor: Executor = LocalExecutor()
    if "executor" in raw:
        executor = resolve_section(host, "executor", raw["executor"], where)
        if not isinstance(executor, Executor):
            raise ConfigError(
                f"{where}executor: @executors must build an executor, got {executor!r}"
            )
    return ProjectConfig(
        path=path,
        base_dir=base_dir,
        raw=raw,
        project=project,
        data=data,
        label=label,
        evaluate=evaluate,
        task=task,
        teacher=teacher,
        student=student,
        prices=prices,
        executor=executor,
        train=train,
        annotate=annotate,
    )


def check_student_task(student: Student, task: Task, raw: Any, where: str = "") -> None:
    """A student that cannot learn the task is a config error naming both registered names."""
    try:
        student.check_task(task)
    except (ValueError, TypeError) as exc:
        names = {
            s: next((v for k, v in dict(raw.get(s) or {}).items() if str(k).startswith("@")), "?")
            for s in ("student", "task")
        }
        raise StudentTaskError(
            f"{where}student: '{names['student']}' cannot learn the task '{names['task']}': "
            f"{exc}. Pick a student for {task.kind} tasks (`distil plugins` lists them) or "
            "change [task]"
        ) from None


def _llm_teachers(teacher: Teacher) -> list[PromptTeacher]:
    """The LLM teachers inside ``teacher`` (a cascade's, at any depth)."""
    found: list[PromptTeacher] = []
    for inner in teacher.inner_teachers():
        found += [inner] if isinstance(inner, PromptTeacher) else _llm_teachers(inner)
    return found


def configure_teacher(
    teacher: Teacher, label: LabelSection, prices: PriceTable, where: str = ""
) -> None:
    """Apply ``[label]`` and ``[prices]`` to an LLM teacher; reject what cannot work.

    A budget needs a price (an unknown cost cannot be capped), and batch mode needs a provider
    with a batch API; both are config errors before any request is sent.
    """
    if not isinstance(teacher, PromptTeacher):
        llms = _llm_teachers(teacher)
        for llm in llms:  # a cascade: its LLM runs under the project's [label] settings
            configure_teacher(llm, label, prices, where)
        if llms:
            return
        if label.budget is not None:
            raise ConfigError(f"{where}label.budget: only LLM teachers (llm.v1) have a cost")
        if label.mode == "batch":
            raise ConfigError(f'{where}label.mode: "batch" needs an LLM teacher (llm.v1)')
        return
    provider = teacher.provider
    price = prices.for_provider(provider)
    key = provider.describe()
    if label.budget is not None and price is None:
        raise ConfigError(
            f"{where}label.budget: no price known for {key}; add it to [prices] "
            f'("{key}" = {{"input": <$ per 1M tokens>, "output": <$ per 1M tokens>}}) '
            "or remove the budget"
        )
    if label.mode == "batch" and not provider.supports_batch:
        raise ConfigError(
            f'{where}label.mode: provider {key} has no batch API; use mode = "online"'
        )
    if label.concurrency is not None:
        teacher.concurrency = label.concurrency
    teacher.max_reasks = label.max_reasks
    teacher.execution = Execution(
        provider,
        rpm=label.rpm,
        tpm=label.tpm,
        retry=RetryPolicy(max_retries=label.max_retries, max_retry_wait=label.max_retry_wait),
        budget=label.budget,
        price=price,
        rate_limit_pause=label.rate_limit_pause,
    )
