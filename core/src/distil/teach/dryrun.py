"""``distil label --dry-run``: what a label run would send and cost, without sending anything.

It renders the prompts of the pending examples (the same hook the run uses, so what is shown is
what would be sent), estimates their tokens (prompt characters / 4, plus ``max_tokens`` per answer
as an upper bound) and prices them from the ``[prices]`` table. Examples already answered, or whose
prompt is in the cache, cost nothing and are left out of the estimate. Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..records import Prompt
from ..tasks import Task
from .pricing import format_cost, prompt_tokens
from .teacher import PromptTeacher, Teacher

if TYPE_CHECKING:
    from ..store.sqlite import Store


@dataclass
class LabelPlan:
    """The estimate for one data set; ``cost`` is None when no price is known."""

    source: str
    dataset: str
    provider: str
    mode: str
    total: int
    pending: int
    cached: int = 0
    prompts: list[tuple[str, Prompt]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    max_tokens: int = 0
    cost: float | None = None
    batch_cost: float | None = None
    sends_requests: bool = True

    @property
    def to_send(self) -> int:
        return self.pending - self.cached

    def cost_line(self) -> str:
        if not self.sends_requests:
            return "this teacher sends no LLM requests: no cost"
        if self.cost is None:
            return (
                f"no price known for {self.provider}: add it to [prices] "
                f'("{self.provider}" = {{"input": <$ per 1M tokens>, "output": <$ per 1M>}})'
            )
        if self.mode == "batch":
            return (
                f"estimated cost: at most {format_cost(self.batch_cost)} in batch mode "
                f"({format_cost(self.cost)} online)"
            )
        return f"estimated cost: at most {format_cost(self.cost)}"


def plan_label(
    store: Store,
    task: Task,
    teacher: Teacher,
    dataset: str,
    *,
    n: int = 3,
    limit: int | None = None,
    mode: str = "online",
) -> LabelPlan:
    """Estimate a label run of ``dataset``; render the prompts of the first ``n`` pending ones."""
    examples = store.examples(dataset, limit=limit)
    source = teacher.source(task)
    done = store.answered_ids(source, dataset=dataset)
    pending = [ex for ex in examples if ex.id not in done]
    if not isinstance(teacher, PromptTeacher):
        return LabelPlan(
            source=source,
            dataset=dataset,
            provider=type(teacher).__name__,
            mode=mode,
            total=len(examples),
            pending=len(pending),
            sends_requests=False,
        )
    execution = teacher.execution
    plan = LabelPlan(
        source=source,
        dataset=dataset,
        provider=teacher.provider.describe(),
        mode=mode,
        total=len(examples),
        pending=len(pending),
        max_tokens=execution.max_tokens,
    )
    for ex in pending:
        prompt = teacher.prompt_for(task, ex)
        if len(plan.prompts) < n:
            plan.prompts.append((ex.id, prompt))
        if any(store.cache_get(key) is not None for key in teacher.keys_for(task, ex)):
            plan.cached += 1
            continue
        plan.input_tokens += prompt_tokens(prompt)
        plan.output_tokens += plan.max_tokens
    price = execution.price
    if price is not None:
        plan.cost = price.cost(plan.input_tokens, plan.output_tokens)
        plan.batch_cost = price.cost(plan.input_tokens, plan.output_tokens, batch=True)
    return plan
