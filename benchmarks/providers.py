"""LLM teacher throughput against a server with a fixed latency, and distil's client CPU per call.

    .venv/bin/python benchmarks/providers.py [--dataset sms_spam] [--latency 0.05]
        [--concurrency 1 8 64] [--overhead-n 300] [--repeats 5]

Both parts run the real ``openai`` SDK against the loopback server
(:mod:`distil.testing.loopback_openai`) on 127.0.0.1, in a process of its own, so they measure
distil and the SDK, not a network. The server answers every request validly for the task it is
sent: a label from the enum of the request's own JSON schema (chosen by a hash of the text, so
any label set works and both sides get the same answers). Each part asserts that the server
answered exactly one request per document (no re-asks, no retries) and that every prediction
is valid.

The baseline is a plain loop over the raw ``AsyncOpenAI`` client's ``client.post`` (what
``openai.chat.v1`` calls), sending the very bodies distil sends
(``distil_openai.wire.request_body`` of the teacher's own prompts) and parsing each answer's
JSON: like for like.

1. Throughput (wall time: concurrency is the point): the server answers after ``--latency`` L
   seconds. At concurrency C the best possible is C/L requests per second; the table gives what
   ``PromptTeacher(OpenAIProvider, concurrency=C).label`` and the raw loop (C in flight) reach,
   as a fraction of that limit. The two sides alternate, ``--throughput-repeats`` rounds each;
   medians.
2. Client CPU per call: the server answers at once; both sides run one request at a time, CPU
   time of this process (``time.process_time``: the server's process is not counted),
   ``--repeats`` interleaved rounds of ``--overhead-n`` calls, medians; the overhead is the
   median of the per-round differences. ``PromptTeacher.label`` here has no store; the same
   comparison with the store (``label_dataset``, batched writes) is
   ``benchmarks/label_scale.py --openai``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from _common import WALL, interleaved, load_split, machine, median_difference, medians

import distil
from distil.testing.loopback import LoopbackLLM
from distil.testing.loopback_openai import install_openai


def _last_user_text(request: dict[str, Any]) -> str:
    users = [m["content"] for m in request.get("messages", []) if m.get("role") == "user"]
    return users[-1] if users else ""


def answer_for_schema(request: dict[str, Any]) -> str:
    """A valid answer to the request's own schema: one label of its enum, picked by the text.

    The pick is a hash of the last user message, so the same text always gets the same label and
    the labels spread over the set (any label set, not one hard-coded answer that is invalid, and
    silently re-asked, on every other task).
    """
    schema = request.get("schema") or {}
    node = (schema.get("properties") or {}).get("labels") or {}
    labels = (node.get("items") or {}).get("enum") or []
    if not labels:
        raise ValueError(f"the loopback benchmark server got no label enum in {schema!r}")
    text = _last_user_text(request)
    return json.dumps({"labels": [labels[zlib.crc32(text.encode("utf-8")) % len(labels)]]})


def _serve(latency: float, conn: Connection) -> None:
    with LoopbackLLM(answer=answer_for_schema, latency=latency) as server:
        install_openai(server)
        conn.send(server.url)
        while conn.recv() == "count":  # anything else: the benchmark is done with it
            conn.send(server.billed["requests"])


@dataclass
class Loopback:
    """The loopback server in its own process: its URL, and how many requests it has answered."""

    url: str
    conn: Connection

    def served(self) -> int:
        self.conn.send("count")
        return int(self.conn.recv())


@contextmanager
def loopback_process(latency: float) -> Iterator[Loopback]:
    """A loopback server in its own process (its threads do not compete for our GIL or CPU clock)."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(latency, theirs), daemon=True)
    process.start()
    try:
        yield Loopback(ours.recv(), ours)
    finally:
        ours.send("stop")
        process.join(timeout=5)


def make_provider(url: str) -> distil.Provider:
    from distil_openai.provider import OpenAIProvider

    return OpenAIProvider("loopback-model", base_url=url + "/v1", max_tokens=16)


def request_bodies(
    teacher: distil.PromptTeacher, task: distil.Task, examples: list[distil.Example]
) -> list[dict[str, Any]]:
    """The very bodies ``openai.chat.v1`` sends for these examples (messages, schema, params)."""
    from distil_openai import wire

    provider: Any = teacher.provider
    return [wire.request_body(provider.options, teacher.prompt_for(task, ex)) for ex in examples]


async def raw_post(url: str, bodies: list[dict[str, Any]], concurrency: int) -> None:
    """A plain loop over the raw AsyncOpenAI client's ``post``: send, read, parse the answer."""
    import httpx2
    import openai

    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="not-needed", max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> None:
        response = await client.post("/chat/completions", body=body, cast_to=httpx2.Response)
        json.loads(response.json()["choices"][0]["message"]["content"])

    async def limited(body: dict[str, Any]) -> None:
        async with semaphore:
            await one(body)

    async with client:
        if concurrency == 1:
            for body in bodies:
                await one(body)
        else:
            await asyncio.gather(*(limited(b) for b in bodies))


def _sides(
    server: Loopback, task: distil.Task, examples: list[distil.Example], concurrency: int
) -> dict[str, Callable[[], Any]]:
    """The two loops, each sending one request per example."""
    teacher = distil.PromptTeacher(make_provider(server.url), concurrency=concurrency, max_reasks=0)
    bodies = request_bodies(teacher, task, examples)

    def with_distil() -> None:
        preds = teacher.label(task, examples)
        assert all(p.ok for p in preds), [p.error for p in preds if not p.ok][:3]

    return {
        "raw": lambda: asyncio.run(raw_post(server.url, bodies, concurrency)),
        "distil": with_distil,
    }


def _check_requests(server: Loopback, before: int, calls: int, n: int) -> None:
    served = server.served() - before
    assert served == calls * n, f"{served} requests for {calls} x {n} documents: re-asks happened"


def throughput(
    examples: list[distil.Example], task: distil.Task, latency: float, c: int, repeats: int
) -> tuple[float, float]:
    """Requests per second of (distil, the raw ``client.post`` loop) at concurrency ``c``."""
    with loopback_process(latency) as server:
        before = server.served()
        sides = _sides(server, task, examples, c)
        times = interleaved(sides, repeats, clock=WALL, collect=False)
        _check_requests(server, before, 2 * (repeats + 1), len(examples))  # with the warm-ups
    t = medians(times)
    return len(examples) / t["distil"], len(examples) / t["raw"]


def overhead(examples: list[distil.Example], task: distil.Task, repeats: int) -> dict[str, float]:
    """Client CPU milliseconds per call, one at a time, against a server that answers at once."""
    with loopback_process(0.0) as server:
        before = server.served()
        times = interleaved(_sides(server, task, examples, 1), repeats)
        _check_requests(server, before, 2 * (repeats + 1), len(examples))
    n = len(examples)
    t = medians(times)
    return {
        "raw": t["raw"] / n * 1000,
        "distil": t["distil"] / n * 1000,
        "diff": median_difference(times, "distil", "raw") / n * 1000,
        "diffs": [(a - b) / n * 1000 for a, b in zip(times["distil"], times["raw"], strict=True)],
    }


def corpus(dataset: str, n: int) -> tuple[distil.TextCat, list[distil.Example]]:
    """The task of ``dataset``'s label set and ``n`` of its test texts (repeated with new ids)."""
    train = load_split(dataset, "train")
    labels = sorted({label for ex in train for label in ex.labels or []})
    examples = [ex.without_answer() for ex in load_split(dataset, "test", limit=n)]
    if len(examples) < n:  # a small split: repeat it with new ids (no cache is involved)
        examples = [
            ex.model_copy(update={"id": f"{ex.id}#{i}"})
            for i in range(n // len(examples) + 1)
            for ex in examples
        ][:n]
    return distil.TextCat(labels), examples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="sms_spam", help="its label set is the task's")
    parser.add_argument("--latency", type=float, default=0.05, help="server latency L, seconds")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 8, 64])
    parser.add_argument("--n", type=int, default=0, help="requests per level (0: max(40, 10*C))")
    parser.add_argument("--throughput-repeats", type=int, default=3)
    parser.add_argument("--overhead-n", type=int, default=300, help="0: skip the CPU part")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (CPU part)")
    args = parser.parse_args()

    distil.get_host()  # load plugins before timing
    levels = [args.n or max(40, 10 * c) for c in args.concurrency]
    task, examples = corpus(args.dataset, max([args.overhead_n, *levels]))

    print(f"machine: {machine()}")
    print(f"openai.chat.v1 against the loopback server; {args.dataset}, {len(task.labels)} labels")
    if args.concurrency:
        print(
            f"\nthroughput, latency L = {args.latency * 1000:.0f} ms, wall time, "
            f"{args.throughput_repeats} interleaved rounds, medians\n"
        )
        print(
            "| C | requests | distil req/s | fraction of C/L | raw `client.post` req/s | fraction |"
        )
        print("|---:|---:|---:|---:|---:|---:|")
        for c, n in zip(args.concurrency, levels, strict=True):
            limit = c / args.latency
            ours, raw = throughput(examples[:n], task, args.latency, c, args.throughput_repeats)
            print(
                f"| {c} | {n} | {ours:,.1f} | {ours / limit:.2f} | {raw:,.1f} | {raw / limit:.2f} |"
            )
    if args.overhead_n:
        r = overhead(examples[: args.overhead_n], task, args.repeats)
        print(
            f"\nclient CPU per call (process_time), {args.overhead_n} sequential calls, server "
            f"latency 0, {args.repeats} interleaved rounds, medians:\n"
        )
        print("| loop | CPU ms per call |")
        print("|---|---:|")
        print(f"| raw `client.post` loop (baseline) | {r['raw']:.3f} |")
        print(f"| `PromptTeacher.label` + openai.chat.v1, no store | {r['distil']:.3f} |")
        print(f"| **distil's overhead** (median of per-round differences) | **{r['diff']:+.3f}** |")
        print("\nper-round differences, ms per call: " + ", ".join(f"{d:+.3f}" for d in r["diffs"]))
    print("\nevery request answered validly, one request per document (asserted)")


if __name__ == "__main__":
    main()
