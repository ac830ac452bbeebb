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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from confection import Config, ConfigValidationError
from confection import registry as confection_registry
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError, RegistryError
from .execute import Executor, LocalExecutor
from .plugins import REGISTRIES, PluginHost, get_host
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


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectSection(_Section):
    """``[project]``: where the store and outputs live."""

    name: str = "distil-project"
    store: str = "distil.db"
    output: str = "output"


class DataSection(_Section):
    """``[data]``: the JSONL files. ``gold`` is the evaluation set; ``dev`` is optional."""

    train: str
    gold: str
    dev: str | None = None
    train_limit: int | None = None
    gold_limit: int | None = None


class LabelSection(_Section):
    """``[label]``: how the teacher loop runs (see docs/config.md for each key).

    ``concurrency`` overrides the teacher's own; ``rpm`` / ``tpm`` are requests and tokens per
    minute (None: unlimited); ``budget`` is a cap in dollars (needs a ``[prices]`` entry);
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
    (human answers are never flagged or dropped); ``seed`` seeds the folds.
    """

    trust: bool | None = None
    folds: int = Field(default=5, ge=2, le=20)
    drop_label_issues: bool = False
    seed: int = 0


#: The queue strategies of ``[annotate] queue`` (see :mod:`distil.annotate.queue`).
QueueStrategy = Literal["label_issues", "disagreement", "confidence", "random"]


class AnnotateSection(_Section):
    """``[annotate]``: the order of the cards in each annotation pass (docs/annotate.md).

    ``queue``: ``label_issues`` (lowest trust score first), ``disagreement`` (teacher–student
    disagreement, then lowest teacher confidence), ``confidence`` (lowest teacher confidence) or
    ``random`` (shuffled with ``seed``). Unset: ``label_issues`` when the newest ``distil train``
    stored trust scores, else ``disagreement``. The ``distil_queue_order`` hook still goes last.
    """

    queue: QueueStrategy | None = None
    seed: int = 0


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


def _format_confection(section: str, exc: ConfigValidationError) -> str:
    lines = []
    for err in exc.errors or []:
        path = _dotted(err.get("loc"))
        if not path.startswith(section):
            path = f"{section}.{path}" if path else section
        lines.append(f"{path}: {err.get('msg')}")
    return "; ".join(lines) or str(exc)


def _format_pydantic(section: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        path = ".".join([section, *(str(x) for x in err["loc"])])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"{path}: {msg}")
    return "; ".join(lines)


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
        raise ConfigError(f"{where}{_format_confection(name, exc)}") from None
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
            raw = Config().from_disk(path, overrides=overrides or {}, interpolate=True)
        except Exception as exc:
            raise ConfigError(f"{path}: cannot read the config: {exc}") from None
        base_dir = path.resolve().parent
    elif isinstance(source, str):
        raw = Config().from_str(source, overrides=overrides or {}, interpolate=True)
        base_dir = Path.cwd()
    else:
        assert not isinstance(source, Path)
        raw = Config(source).interpolate()
        base_dir = Path.cwd()
    where = f"{path}: " if path else ""
    unknown = sorted(set(raw) - SECTIONS)
    if unknown:
        raise ConfigError(
            f"{where}unknown section(s) {', '.join(f'[{u}]' for u in unknown)}; "
            f"sections are {', '.join(sorted(SECTIONS))}"
        )
    missing = [s for s in REQUIRED if s not in raw]
    if missing:
        raise ConfigError(f"{where}missing section(s) {', '.join(f'[{m}]' for m in missing)}")

    def section(model: type[BaseModel], name: str) -> Any:
        try:
            return model.model_validate(dict(raw.get(name, {}) or {}))
        except ValidationError as exc:
            raise ConfigError(f"{where}{_format_pydantic(name, exc)}") from None

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
        student.check_task(task)
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


def configure_teacher(
    teacher: Teacher, label: LabelSection, prices: PriceTable, where: str = ""
) -> None:
    """Apply ``[label]`` and ``[prices]`` to an LLM teacher; reject what cannot work.

    A budget needs a price (an unknown cost cannot be capped), and batch mode needs a provider
    with a batch API; both are config errors before any request is sent.
    """
    if not isinstance(teacher, PromptTeacher):
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
    )
