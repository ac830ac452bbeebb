"""LLM teacher throughput against a server with a fixed latency, and distil's overhead per call.

    .venv/bin/python benchmarks/providers.py [--latency 0.05] [--overhead-n 300]

Both parts run the real ``openai`` SDK against the loopback server
(:mod:`distil.testing.loopback_openai`) on 127.0.0.1, in a process of its own, so they measure
distil and the SDK, not a network:

1. Throughput: the server answers every request after ``--latency`` L seconds. At concurrency C
   the best possible is C/L requests per second; the table gives what
   ``PromptTeacher(OpenAIProvider, concurrency=C).label`` reaches, as a fraction of that limit.
2. Overhead: the server answers at once. The same requests go one at a time through a plain loop
   over the raw ``AsyncOpenAI`` client, then through ``PromptTeacher(concurrency=1)``; the
   difference per call is what distil adds (prompt rendering, cache key, parsing, records).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

from _common import best_of, load_split, machine

import distil
from distil.testing.loopback import LoopbackLLM
from distil.testing.loopback_openai import install_openai

ANSWER = json.dumps({"labels": ["ham"]})


def _answer(request: dict[str, object]) -> str:
    return ANSWER


def _serve(latency: float, conn: Connection) -> None:
    with LoopbackLLM(answer=_answer, latency=latency) as server:
        install_openai(server)
        conn.send(server.url)
        conn.recv()  # until the benchmark is done with it


@contextmanager
def loopback_process(latency: float) -> Iterator[str]:
    """A loopback server in its own process (its threads do not compete for our GIL): its URL."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(latency, theirs), daemon=True)
    process.start()
    try:
        yield ours.recv()
    finally:
        ours.send("stop")
        process.join(timeout=5)


def make_provider(url: str) -> distil.Provider:
    from distil_openai.provider import OpenAIProvider

    return OpenAIProvider("loopback-model", base_url=url + "/v1", max_tokens=16)


def request_bodies(task: distil.TextCat, prompts: list[distil.Prompt]) -> list[dict[str, Any]]:
    """What a user of the raw SDK would send: the same messages, schema and max_tokens."""
    schema = task.json_schema()
    return [
        {
            "model": "loopback-model",
            "messages": [{"role": m.role, "content": m.content} for m in p.messages],
            "max_tokens": 16,
            "temperature": 0.0,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": True},
            },
        }
        for p in prompts
    ]


async def raw_sdk(url: str, bodies: list[dict[str, Any]], concurrency: int, post: bool) -> None:
    """A plain loop over the raw AsyncOpenAI client: ``create`` (typed), or ``post`` (as is)."""
    import httpx2
    import openai

    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="not-needed", max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> None:
        async with semaphore:
            if post:
                response = await client.post(
                    "/chat/completions", body=body, cast_to=httpx2.Response
                )
                json.loads(response.json()["choices"][0]["message"]["content"])
            else:
                completion = await client.chat.completions.create(**body)
                json.loads(completion.choices[0].message.content or "")

    async with client:
        if concurrency == 1:
            for body in bodies:
                await one(body)
        else:
            await asyncio.gather(*(one(b) for b in bodies))


def throughput(
    examples: list[distil.Example], task: distil.TextCat, latency: float, concurrency: int
) -> tuple[float, float]:
    """Requests per second of (distil, the raw SDK's create) at ``concurrency``."""
    with loopback_process(latency) as url:
        teacher = distil.PromptTeacher(make_provider(url), concurrency=concurrency)
        bodies = request_bodies(task, [teacher.prompt_for(task, ex) for ex in examples])
        teacher.label(task, examples[:concurrency])  # warm up: SDK import, templates
        asyncio.run(raw_sdk(url, bodies[:concurrency], concurrency, post=False))

        def with_distil() -> None:
            preds = teacher.label(task, examples)
            assert all(p.ok for p in preds), [p.error for p in preds if not p.ok][:3]

        t_distil = best_of(with_distil, repeats=2)
        t_raw = best_of(lambda: asyncio.run(raw_sdk(url, bodies, concurrency, False)), 2)
    return len(examples) / t_distil, len(examples) / t_raw


def overhead(examples: list[distil.Example], task: distil.TextCat) -> dict[str, float]:
    """Milliseconds per call, sequential, against a server that answers at once."""
    with loopback_process(0.0) as url:
        teacher = distil.PromptTeacher(make_provider(url), concurrency=1)
        bodies = request_bodies(task, [teacher.prompt_for(task, ex) for ex in examples])
        loops = {
            "raw SDK, chat.completions.create": lambda: asyncio.run(
                raw_sdk(url, bodies, 1, post=False)
            ),
            "raw SDK, client.post (what openai.chat calls)": lambda: asyncio.run(
                raw_sdk(url, bodies, 1, post=True)
            ),
            "distil PromptTeacher + openai.chat": lambda: teacher.label(task, examples),
        }
        for run in loops.values():
            run()  # warm up
        best = {name: float("inf") for name in loops}
        for _ in range(3):  # interleaved, so that a slow spell of the machine hits every loop
            for name, run in loops.items():
                best[name] = min(best[name], best_of(run, repeats=1))
    return {name: t / len(examples) * 1000 for name, t in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.05, help="server latency L, seconds")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--n", type=int, default=0, help="requests per level (0: max(40, 10*C))")
    parser.add_argument("--overhead-n", type=int, default=300)
    args = parser.parse_args()

    distil.get_host()  # load plugins before timing
    task = distil.TextCat(["ham", "spam"])
    need = max(args.overhead_n, *(args.n or max(40, 10 * c) for c in args.concurrency))
    examples = [ex.without_answer() for ex in load_split("sms_spam", "test", limit=need)]
    if len(examples) < need:  # a small split: repeat it with new ids (no cache is involved)
        examples = [
            ex.model_copy(update={"id": f"{ex.id}#{i}"})
            for i in range(need // len(examples) + 1)
            for ex in examples
        ][:need]

    print(f"machine: {machine()}")
    print(f"openai.chat.v1 against the loopback server, latency L = {args.latency * 1000:.0f} ms")
    print()
    print("| C | requests | distil req/s | fraction of C/L | raw SDK req/s | fraction of C/L |")
    print("|---:|---:|---:|---:|---:|---:|")
    for c in args.concurrency:
        n = args.n or max(40, 10 * c)
        limit = c / args.latency
        ours, raw = throughput(examples[:n], task, args.latency, c)
        print(f"| {c} | {n} | {ours:,.1f} | {ours / limit:.2f} | {raw:,.1f} | {raw / limit:.2f} |")
    print()
    per_call = overhead(examples[: args.overhead_n], task)
    print(f"per call, {args.overhead_n} sequential calls, server latency 0:")
    print()
    print("| loop | ms per call |")
    print("|---|---:|")
    for name, ms in per_call.items():
        print(f"| {name} | {ms:.3f} |")
    ours = per_call["distil PromptTeacher + openai.chat"]
    for name, ms in list(per_call.items())[:2]:
        print(f"| distil's overhead vs {name.removeprefix('raw SDK, ')} | {ours - ms:+.3f} |")


if __name__ == "__main__":
    main()
