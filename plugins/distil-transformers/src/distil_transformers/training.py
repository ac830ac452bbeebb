"""The training loop of the transformer students: optimizer, learning-rate schedule, length
batches, dev evaluation with early stopping and best-weight restore.

Imported only when a student is fitted (it imports torch through :func:`encoder.import_torch`).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .config import EncoderConfig
from .encoder import Encoder, TokenRow, import_torch, torch_threads


@dataclass(frozen=True)
class Evaluation:
    """One dev evaluation: ``score`` (higher is better; what early stopping watches) and other
    figures for the fit report's curve (``dev_loss``, a tuned threshold, ...)."""

    score: float
    details: dict[str, float]


def length_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar-length rows: shuffle, sort by length within windows of 50
    batches, cut into batches, shuffle the batches. Less padding, still a random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """The share of the peak learning rate used by optimizer step ``step`` (0-based) of ``total``.

    Linear warmup over the first ``warmup`` steps (step 0 already moves: ``1 / (warmup + 1)``),
    the peak at step ``warmup``, then ``schedule``: ``linear`` decay towards 0 at ``total``,
    ``cosine`` (half a cosine wave down to 0 at ``total``) or ``constant``. The last step still
    has a small, non-zero rate, so no step is wasted at zero.
    """
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - progress


def build_optimizer(encoder: Encoder, config: EncoderConfig, total_steps: int) -> tuple[Any, Any]:
    """AdamW and its learning-rate scheduler for ``total_steps`` optimizer steps.

    Three parameter groups, in this order: body weights (``lr``, ``weight_decay``), body biases and
    LayerNorm (``lr``, no decay), the fresh head (``head_lr``, no decay: it starts near zero and
    has few weights to regularise). Every group follows :func:`lr_factor`, so the head warms up
    and decays with the body. ``freeze_embeddings`` leaves the word-embedding matrix out: it is
    half of MiniLM's weights, and its dense gradient and AdamW update cost ~15% of a step.
    """
    torch = import_torch()
    decay: list[Any] = []
    no_decay: list[Any] = []
    for name, param in encoder.body.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "LayerNorm" in name else decay).append(param)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
            {"params": list(encoder.head.parameters()), "lr": config.head_lr, "weight_decay": 0.0},
        ],
        lr=config.lr,
        fused=True,  # one kernel for all parameters: ~3x faster steps on CPU than per-tensor
    )
    warmup = int(total_steps * config.warmup_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, warmup, config.schedule)
    )
    return optimizer, scheduler


class _Best:
    """The best dev evaluation so far and a copy of the weights it was made with."""

    def __init__(self) -> None:
        self.score = -math.inf
        self.index = -1
        self.state: dict[str, Any] | None = None

    def offer(self, encoder: Encoder, score: float, index: int) -> bool:
        if score <= self.score:
            return False
        self.score, self.index = score, index
        self.state = {
            "body": {k: v.detach().clone() for k, v in encoder.body.state_dict().items()},
            "head": {k: v.detach().clone() for k, v in encoder.head.state_dict().items()},
        }
        return True

    def restore(self, encoder: Encoder) -> None:
        assert self.state is not None
        encoder.body.load_state_dict(self.state["body"])
        encoder.head.load_state_dict(self.state["head"])


def train(
    encoder: Encoder,
    config: EncoderConfig,
    rows: Sequence[TokenRow],
    loss_fn: Callable[[Any, list[int]], Any],
    evaluate: Callable[[], Evaluation] | None = None,
) -> dict[str, Any]:
    """Fine-tune body and head: AdamW (:func:`build_optimizer`), seeded, batches of similar length.

    ``loss_fn(batch, indices)`` returns the mean loss of the rows ``indices`` given the collated
    ``batch``. With ``evaluate`` (a dev set), it is called (model in eval mode, no gradients
    needed) at the end of every epoch, or every ``eval_steps`` optimizer steps and after the last
    one; training stops after ``patience`` evaluations without a higher score, and the weights of
    the best evaluation are put back. The learning-rate schedule is planned over ``max_epochs``
    whether or not training stops early. Runs with ``config.n_threads`` torch threads and restores
    the setting afterwards. Returns the fit report's training part: steps, the ``curve`` of
    evaluations, the best one, losses, padding share and CPU and wall time.
    """
    torch = import_torch()
    with torch_threads(config.n_threads):
        torch.manual_seed(config.seed)
        rng = random.Random(config.seed)
        lengths = [len(r["input_ids"]) for r in rows]
        per_epoch = -(-len(rows) // config.batch_size)
        max_epochs = config.epochs_for(len(rows))
        planned = per_epoch * max_epochs
        optimizer, scheduler = build_optimizer(encoder, config, planned)
        params = [p for p in encoder.parameters() if p.requires_grad]
        best = _Best()
        curve: list[dict[str, Any]] = []
        epoch_losses: list[float] = []
        since_eval = [0.0, 0]  # summed loss and rows since the last evaluation
        tokens = padded = step = evals_without_gain = 0
        stopped_early = False
        started, cpu_started = time.perf_counter(), time.process_time()
        eval_s = last_lr = 0.0

        def run_evaluation() -> bool:
            """Evaluate, remember the best weights, and say whether to stop."""
            nonlocal evals_without_gain, eval_s
            assert evaluate is not None
            t0 = time.perf_counter()
            encoder.train_mode(False)
            result = evaluate()
            encoder.train_mode(True)
            eval_s += time.perf_counter() - t0
            point: dict[str, Any] = {
                "epoch": round(step / per_epoch, 2),
                "step": step,
                "train_loss": round(since_eval[0] / max(1, since_eval[1]), 5),
                "dev_score": round(result.score, 4),
                **{k: round(v, 5) for k, v in result.details.items()},
                "lr": float(f"{last_lr:.3g}"),  # the body's rate at the last step before it
            }
            since_eval[0], since_eval[1] = 0.0, 0
            curve.append(point)
            if best.offer(encoder, result.score, len(curve) - 1):
                evals_without_gain = 0
                return False
            evals_without_gain += 1
            return 0 < config.patience <= evals_without_gain

        encoder.train_mode(True)
        try:
            for _ in range(max_epochs):
                epoch_loss = 0.0
                for indices in length_batches(lengths, config.batch_size, rng):
                    batch = encoder.collate([rows[i] for i in indices])
                    tokens += int(batch["attention_mask"].sum())
                    padded += int(batch["attention_mask"].numel())
                    loss = loss_fn(batch, indices)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(params, 1.0)
                    optimizer.step()
                    last_lr = optimizer.param_groups[0]["lr"]
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    step += 1
                    value = float(loss.detach()) * len(indices)
                    epoch_loss += value
                    since_eval[0] += value
                    since_eval[1] += len(indices)
                    due = config.eval_steps and (step % config.eval_steps == 0 or step == planned)
                    if evaluate is not None and due and run_evaluation():
                        stopped_early = True
                        break
                epoch_losses.append(round(epoch_loss / len(rows), 5))
                if stopped_early:
                    break
                if evaluate is not None and not config.eval_steps and run_evaluation():
                    stopped_early = True
                    break
        finally:
            encoder.train_mode(False)
        if best.state is not None and best.index != len(curve) - 1:
            best.restore(encoder)
    report: dict[str, Any] = {
        "steps": step,
        "planned_steps": planned,
        "max_epochs": max_epochs,
        "epochs_run": round(step / per_epoch, 2),
        "epoch_loss": epoch_losses,
        "pad_share": round(1 - tokens / max(1, padded), 4),
        "train_time_s": round(time.perf_counter() - started, 3),
        "train_cpu_s": round(time.process_time() - cpu_started, 3),
    }
    if evaluate is not None:
        chosen = curve[best.index]
        report.update(
            {
                "curve": curve,
                "best_epoch": chosen["epoch"],
                "best_step": chosen["step"],
                "best_dev_score": chosen["dev_score"],
                "stopped_early": stopped_early,
                "eval_time_s": round(eval_s, 3),
            }
        )
    return report
