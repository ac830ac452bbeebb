"""Does a corpus pass hold memory bounded? Peak RSS of one local ``predict_corpus`` run.

    cd benchmarks && ../.venv/bin/python corpus_memory.py 100000
    cd benchmarks && ../.venv/bin/python corpus_memory.py 1000000

Run each size in a process of its own: ``ru_maxrss`` is a process's maximum, so it is read
before the pass (the student trained, the corpus of ``corpus_scale.py`` written) and after it.
Memory that grows with the data shows as a larger difference at the larger size; a bounded pass
adds the same few MB (a batch and its result lines) at every size. CPU time of the pass is
printed too (``time.process_time``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import machine
from corpus_scale import peak_mb, spam_student, write_corpus

import distil
from distil.store.sqlite import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", type=int, help="rows in the corpus")
    parser.add_argument("--shard-rows", type=int, default=50_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="distil-corpus-memory-"))
    try:
        task = distil.TextCat(["ham", "spam"])
        student = spam_student(task)
        write_corpus(work / "corpus", args.n, max(1, args.n // args.shard_rows))
        before = peak_mb()
        start = time.process_time()
        result = distil.LocalExecutor().predict_corpus(
            Store(work / "project.db"), task, student, work / "corpus", work / "out", source="s"
        )
        cpu = time.process_time() - start
        assert result.answered == args.n, result
        print(machine())
        print(
            f"n={args.n:,} answered={result.answered:,} cpu={cpu:.1f}s "
            f"docs/s/core={args.n / cpu:,.0f} peak_rss_before={before:.0f}MB "
            f"peak_rss_after={peak_mb():.0f}MB (+{peak_mb() - before:.0f}MB)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
