"""The label pass at scale: CPU time and peak memory of a pass served from the LLM cache.

For each size N it builds a store of N banking77 texts (77 labels; the 5,000 train texts, made
unique with a row number past the first 5,000), labels them once through an instant in-process
provider (that fills the LLM cache), deletes the predictions, and then measures, each in a fresh
child process:

* ``cached``: the label pass again from a fresh process, every answer a cache hit;
* ``nothing pending``: the same pass once more, with every example answered;
* ``raw read``: the same-run baseline, reading the same rows from SQLite (``SELECT data FROM
  examples`` and ``json.loads`` per row, no distil code).

Each figure is CPU time (``time.process_time``: user + sys of the child, so load on the machine
does not skew it) and peak RSS (``ru_maxrss`` of the child, imports included). docs/s per core is
N over the pass's CPU seconds. The import cost of ``distil`` is measured in a child of its own and
reported apart (``import``), and subtracted from nothing.

    .venv/bin/python benchmarks/label_scale.py --sizes 10000 100000
    .venv/bin/python benchmarks/label_scale.py --sizes 1000000 --keep /tmp/label1m.db

``--live N`` also times N requests through the live path (cache misses) with the same instant
provider, reporting distil's client CPU per request (no network: it is the loop's own cost).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DATA = Path(os.environ.get("DISTIL_SHARED_DATA", "/work/shared/data")) / "banking77" / "train.jsonl"


# -- the pieces each child runs ---------------------------------------------------------------
def _rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]


def _labels(rows: list[dict[str, Any]]) -> list[str]:
    return sorted({label for row in rows for label in row["labels"]})


def _setup() -> tuple[Any, Any]:
    """The task and the teacher every child uses (the same source, so the same cache keys)."""
    import zlib

    from distil import Completion, PromptTeacher, Provider, TextCat, Usage

    labels = _labels(_rows())

    class InstantLLM(Provider):
        """Answers at once with a label chosen from the text (a stand-in for a fast LLM)."""

        name = "bench.instant"

        async def complete(self, prompt: Any) -> Any:
            text = prompt.messages[-1].content
            label = labels[zlib.crc32(text.encode("utf-8")) % len(labels)]
            return Completion(
                text=json.dumps({"labels": [label]}),
                usage=Usage(input_tokens=len(text) // 4 + 300, output_tokens=8),
                finish_reason="stop",
            )

    task = TextCat(labels)
    teacher = PromptTeacher(InstantLLM("instant-1"), concurrency=8)
    return task, teacher


def _build(db: str, n: int) -> None:
    from distil import Example
    from distil.store.sqlite import Store
    from distil.teach.runner import label_dataset

    rows = _rows()
    examples = []
    for i in range(n):
        row = rows[i % len(rows)]
        text = row["text"] if i < len(rows) else f"{row['text']} (#{i})"
        examples.append(Example(id=f"r{i:07d}", text=text))
    with Store(db) as store:
        for start in range(0, n, 50_000):
            store.add_examples(examples[start : start + 50_000], "train")
        del examples
        task, teacher = _setup()
        label_dataset(store, task, teacher, "train")
        store.delete_predictions(teacher.source(task), "train")


def _label(db: str) -> dict[str, Any]:
    from distil.store.sqlite import Store
    from distil.teach.runner import label_dataset

    task, teacher = _setup()
    with Store(db) as store:
        result = label_dataset(store, task, teacher, "train")
    return {"labelled": result.labelled, "already_done": result.already_done}


def _raw(db: str) -> dict[str, Any]:
    import sqlite3

    con = sqlite3.connect(db)
    n = 0
    for (data,) in con.execute("SELECT data FROM examples WHERE dataset = 'train' ORDER BY seq"):
        json.loads(data)
        n += 1
    con.close()
    return {"rows": n}


_LABELS: list[str] = []


def _answer_live(request: dict[str, Any]) -> str:
    """The loopback model: a valid banking77 label for every text (no re-asks measured)."""
    import zlib

    if not _LABELS:
        _LABELS.extend(_labels(_rows()))
    text = request["messages"][-1]["content"]
    return json.dumps({"labels": [_LABELS[zlib.crc32(text.encode("utf-8")) % len(_LABELS)]]})


def _serve(conn: Any) -> None:
    from distil.testing.loopback import LoopbackLLM
    from distil.testing.loopback_openai import install_openai

    with LoopbackLLM(answer=_answer_live, latency=0.0) as server:
        install_openai(server)
        conn.send(server.url)
        conn.recv()


def _openai_live(db: str, n: int, url: str, rounds: int) -> dict[str, Any]:
    """Client CPU per request: ``label_dataset`` (openai.chat.v1, the store, concurrency 1)
    against a plain ``client.post`` loop sending the same bodies, interleaved ``rounds`` times."""
    import asyncio

    import httpx2
    import openai

    from distil import Example, PromptTeacher
    from distil.store.sqlite import Store
    from distil.teach.runner import label_dataset
    from distil_openai import wire
    from distil_openai.provider import OpenAIProvider

    rows = _rows()
    task, _ = _setup()
    os.environ.setdefault("BENCH_KEY", "sk-bench")
    provider = OpenAIProvider(
        "loopback-model", base_url=url + "/v1", max_tokens=16, api_key_env="BENCH_KEY"
    )

    async def raw(bodies: list[dict[str, Any]]) -> None:
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="sk-bench", max_retries=0)
        async with client:
            for body in bodies:
                response = await client.post(
                    "/chat/completions", body=body, cast_to=httpx2.Response
                )
                json.loads(response.json()["choices"][0]["message"]["content"])

    distil_cpu = raw_cpu = 0.0
    diffs: list[float] = []
    with Store(db) as store:
        for r in range(rounds):
            examples = [
                Example(id=f"l{r}-{i}", text=f"{rows[i % len(rows)]['text']} (live {r}-{i})")
                for i in range(n)
            ]
            store.add_examples(examples, f"live{r}")
            teacher = PromptTeacher(provider, concurrency=1, cache=store, max_reasks=0)
            bodies = [
                wire.request_body(provider.options, teacher.prompt_for(task, ex)) for ex in examples
            ]
            for body in bodies:  # the raw loop's own texts: not answered from distil's cache
                body["messages"][-1]["content"] += " (raw)"
            started = time.process_time()
            asyncio.run(raw(bodies))
            raw_s = time.process_time() - started
            started = time.process_time()
            result = label_dataset(store, task, teacher, f"live{r}")
            distil_s = time.process_time() - started
            assert result.labelled == n and result.failures == 0, result
            raw_cpu, distil_cpu = raw_cpu + raw_s, distil_cpu + distil_s
            diffs.append((distil_s - raw_s) / n * 1000)
    total = n * rounds
    return {
        "cpu_s": distil_cpu,
        "raw_ms": raw_cpu / total * 1000,
        "distil_ms": distil_cpu / total * 1000,
        "median_diff_ms": sorted(diffs)[len(diffs) // 2],
    }


def _live(db: str, n: int) -> dict[str, Any]:
    from distil import Example
    from distil.store.sqlite import Store
    from distil.teach.runner import label_dataset

    rows = _rows()
    with Store(db) as store:
        store.add_examples(
            [
                Example(id=f"l{i}", text=f"{rows[i % len(rows)]['text']} (live {i})")
                for i in range(n)
            ],
            "live",
        )
        task, teacher = _setup()
        started = time.process_time()
        result = label_dataset(store, task, teacher, "live")
        cpu = time.process_time() - started
    return {"labelled": result.labelled, "cpu_s": cpu}


def child(mode: str, db: str, n: int) -> None:
    if mode != "import":  # the pass is timed without the import (reported apart)
        import distil.store.sqlite
        import distil.teach.runner
    started = time.process_time()
    if mode == "import":
        import distil.store.sqlite
        import distil.teach.runner  # noqa: F401

        out: dict[str, Any] = {}
    elif mode == "build":
        out = {}
        _build(db, n)
    elif mode == "label":
        out = _label(db)
    elif mode == "raw":
        out = _raw(db)
    elif mode == "live":
        out = _live(db, n)
    elif mode == "openai":
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        ours, theirs = ctx.Pipe()
        server = ctx.Process(target=_serve, args=(theirs,), daemon=True)
        server.start()
        try:
            out = _openai_live(db, n, ours.recv(), rounds=7)
        finally:
            ours.send("stop")
            server.join(timeout=5)
    else:
        raise SystemExit(f"unknown mode {mode}")
    out["cpu_s"] = out.get("cpu_s", time.process_time() - started)
    out["total_cpu_s"] = time.process_time()
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


# -- the driver ---------------------------------------------------------------------------------
def run_child(mode: str, db: str, n: int = 0) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--db", db, "--n", str(n)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {mode} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--live", type=int, default=0, help="also time N live (uncached) requests")
    parser.add_argument("--keep", help="build the store here and keep it (one size only)")
    parser.add_argument(
        "--openai", type=int, default=0, help="time N requests per round through openai.chat.v1"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.db, args.n)
        return

    if args.openai:
        with tempfile.TemporaryDirectory() as tmp:
            r = run_child("openai", str(Path(tmp) / "live.db"), args.openai)
        print(
            f"live path, 77 labels, store, concurrency 1, {args.openai} x 7 requests: client CPU "
            f"{r['raw_ms']:.3f} ms/request raw client.post, {r['distil_ms']:.3f} ms/request "
            f"distil (+{r['distil_ms'] - r['raw_ms']:.3f} ms; median of the rounds' "
            f"differences +{r['median_diff_ms']:.3f} ms)"
        )
        return
    imp = run_child("import", ":memory:")
    print(f"import distil: {imp['total_cpu_s']:.2f} s CPU, {imp['rss_mb']:.0f} MB peak RSS")
    header = f"{'rows':>9} {'step':<16} {'CPU s':>8} {'docs/s/core':>12} {'peak RSS MB':>12}"
    print(header)
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            db = args.keep or str(Path(tmp) / "label.db")
            if not Path(db).exists():
                started = time.perf_counter()
                run_child("build", db, n)
                print(
                    f"# built and filled the cache for {n:,} rows in "
                    f"{time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                )
            raw = run_child("raw", db)
            cached = run_child("label", db)
            assert cached["labelled"] == n, cached
            again = run_child("label", db)
            assert again["labelled"] == 0 and again["already_done"] == n, again
            for name, r in (("raw read", raw), ("cached", cached), ("nothing pending", again)):
                rate = n / r["cpu_s"] if name != "nothing pending" and r["cpu_s"] else float("nan")
                print(f"{n:>9,} {name:<16} {r['cpu_s']:>8.2f} {rate:>12,.0f} {r['rss_mb']:>12.0f}")
            if args.live:
                live = run_child("live", db, args.live)
                per = live["cpu_s"] / args.live * 1000
                print(
                    f"{args.live:>9,} {'live (instant)':<16} {live['cpu_s']:>8.2f} "
                    f"{args.live / live['cpu_s']:>12,.0f} {live['rss_mb']:>12.0f}"
                    f"   {per:.3f} ms CPU per request"
                )
            if args.keep:
                break


if __name__ == "__main__":
    main()
