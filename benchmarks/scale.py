"""The ray.v1 executor against the local one on this machine: teacher labelling and student inference.

    .venv/bin/python benchmarks/scale.py [--executors local ray] [--latency 0.05] [--n-label 800]
        [--n-predict 80000] [--stages label predict] [--repeats 3]

``--executors`` picks the executors to run (default: ``local ray``, or ``local`` alone when Ray is
not importable: the local rows then run without Ray installed). Every executor runs the same stage
into a fresh SQLite store, measured in the same run:

1. Teacher labelling: ``openai.chat.v1`` (the real SDK) against the loopback server, in a
   process of its own, answering every request after ``--latency`` seconds with a valid label
   of the task's schema (``providers.answer_for_schema``); each job asserts one request per
   document (no re-asks). The local executor runs one teacher with ``C`` requests in flight; the
   ray executor runs ``label_tasks`` Ray tasks, each a teacher with its share of ``C`` in flight
   (the same total), then with ``C`` each (twice the total). An LLM-bound stage is limited by
   requests in flight and by the provider's rate limit, not by cores: the figure to read is the
   fraction of the ideal C/L.
2. Student inference: a TF-IDF + logistic regression student (``sklearn.textcat.v1``) trained on
   the sms_spam train split predicts ``--n-predict`` documents (the test split repeated with
   new ids): the local executor in batches, and a pool of 2 Ray actors that each load the model
   once. A CPU-bound stage, on 2 cores that also run the driver, SQLite and Ray itself.

Wall time throughout (concurrency and parallelism are the point). Ray's start (``ray.init``) is
timed apart and not counted in either stage: on a cluster it is paid once per driver, not per
job. Each job's own overhead (writing shards, scheduling, workers starting, merging into the
store) is counted, and split out: every job runs at N/2 and at N documents, the executors and
sizes interleaved round by round (``_common.interleaved``, ``--repeats`` rounds, medians), which
gives the marginal rate (per document, once going) and the fixed seconds per job. A first 16-doc
job per executor shows the cold start (imports, Ray workers starting).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import WALL, interleaved, load_split, machine
from providers import Loopback, loopback_process, make_provider

import distil
from distil.store.sqlite import Store


def corpus(n: int) -> list[distil.Example]:
    """``n`` sms_spam test texts, the split repeated with new ids (no cache is involved)."""
    base = load_split("sms_spam", "test")
    return [
        ex.model_copy(update={"id": f"{ex.id}#{i}"})
        for i in range(n // len(base) + 1)
        for ex in base
    ][:n]


def label_run(
    executor: Any,
    server: Loopback,
    examples: list[distil.Example],
    concurrency: int,
    folder: Path,
) -> float:
    """Seconds for one labelling job into a fresh store (one valid answer per document)."""
    task = distil.TextCat(["ham", "spam"])
    teacher = distil.PromptTeacher(make_provider(server.url), concurrency=concurrency, max_reasks=0)
    with Store(folder / "label.db") as store:
        store.add_examples(examples, "train")
        before = server.served()
        started = time.perf_counter()
        result = executor.label(store, task, teacher, "train")
        seconds = time.perf_counter() - started
        served = server.served() - before
    assert result.labelled == len(examples) and result.failures == 0, result
    assert served == len(examples), f"{served} requests for {len(examples)} documents: re-asks"
    return seconds


def predict_run(
    executor: Any,
    student: Any,
    model_dir: Path,
    examples: list[distil.Example],
    folder: Path,
) -> float:
    """Seconds for one predict job into a fresh store."""
    task = distil.TextCat(["ham", "spam"])
    with Store(folder / "predict.db") as store:
        store.add_examples(examples, "test")
        started = time.perf_counter()
        result = executor.predict(
            store, task, student, "test", source="student:bench", model_dir=model_dir
        )
        seconds = time.perf_counter() - started
    assert result.predicted == len(examples), result
    return seconds


HEADER = (
    "| executor | {extra}first job s | docs/s at N | marginal docs/s | fixed s per job | vs local |"
)


@dataclass
class Row:
    """One executor's figures: a small first job, then jobs of N/2 and N docs.

    ``first`` is the seconds of a 16-doc job run first (imports, SDK clients, Ray's worker
    processes starting: what a cold start costs). ``seconds`` is the median job of N docs and
    ``rate`` its docs/s; ``marginal`` the rate of the extra N/2 docs (the cost per doc once
    going); ``fixed`` the seconds every job costs whatever its size (shards, scheduling, actors
    loading the model).
    """

    first: float
    n: int
    seconds: float
    marginal: float
    fixed: float

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    @classmethod
    def from_times(cls, first: float, n: int, half: float, full: float) -> Row:
        if full - half < 0.05 * full:  # too small a job to tell the two apart: noise
            return cls(first, n, full, float("nan"), float("nan"))
        marginal = (n - n // 2) / (full - half)
        return cls(first, n, full, marginal, max(0.0, full - n / marginal))

    def line(self, name: str, extra: str, base: float) -> str:
        # "—": the N/2 and N jobs took about as long (fixed cost only; no marginal rate to read)
        marginal = "—" if math.isnan(self.marginal) else f"{self.marginal:,.1f}"
        fixed = "—" if math.isnan(self.fixed) else f"{self.fixed:.1f}"
        return (
            f"| {name} (N = {self.n:,}) | {extra}{self.first:.1f} | {self.rate:,.1f} | "
            f"{marginal} | {fixed} | {self.rate / base:.2f}x |"
        )


Job = Callable[[int, str], float]


def measure(jobs: dict[str, Job], n: int, repeats: int) -> dict[str, Row]:
    """Every executor's first job, then its N/2 and N jobs, all interleaved ``repeats`` times."""
    first = {name: job(16, "first") for name, job in jobs.items()}
    sides = {
        f"{name}|{size}": (lambda job=job, size=size: job(size, "job"))
        for name, job in jobs.items()
        for size in (n // 2, n)
    }
    times = interleaved(sides, repeats, clock=WALL, warm_up=False, collect=False)
    return {
        name: Row.from_times(
            first[name],
            n,
            statistics.median(times[f"{name}|{n // 2}"]),
            statistics.median(times[f"{name}|{n}"]),
        )
        for name in jobs
    }


def _ray_importable() -> bool:
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.05, help="server latency L, seconds")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight, C")
    parser.add_argument("--n-label", type=int, default=800)
    parser.add_argument("--n-predict", type=int, default=80_000)
    parser.add_argument("--stages", nargs="+", default=["label", "predict"])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds per job size")
    parser.add_argument(
        "--executors",
        nargs="+",
        choices=["local", "ray"],
        default=["local", "ray"] if _ray_importable() else ["local"],
        help="executors to compare (default: local and ray, or local alone without Ray)",
    )
    args = parser.parse_args()

    os.environ.setdefault("OPENAI_API_KEY", "loopback")
    distil.get_host()  # load plugins before timing
    ray = None
    if "ray" in args.executors:
        import ray

        print(f"machine: {machine()}; ray {ray.__version__}")
        started = time.perf_counter()
        ray.init(
            num_cpus=2,
            object_store_memory=200 * 1024 * 1024,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
        ray.data.DataContext.get_current().enable_progress_bars = False
        print(f"ray.init (local, 2 CPUs): {time.perf_counter() - started:.1f} s, not counted below")
    else:
        print(f"machine: {machine()}; executors: {', '.join(args.executors)} (no Ray)")
    print()

    if "label" in args.stages:
        label_table(args)
    if "predict" in args.stages:
        predict_table(args)
    if ray is not None:
        ray.shutdown()


def label_table(args: argparse.Namespace) -> None:
    """Teacher labelling through each executor against the loopback server."""
    c, lat = args.concurrency, args.latency
    n = args.n_label
    # name -> (make an executor, requests in flight per teacher, in flight in all)
    runs: dict[str, tuple[Callable[[], Any], int, int]] = {}
    if "local" in args.executors:
        runs["local.v1"] = (lambda: distil.LocalExecutor(), c, c)
    if "ray" in args.executors:
        from distil_ray import RayExecutor

        def ray_executor() -> Any:
            return RayExecutor(label_tasks=2, label_batch_size=50)

        runs[f"ray.v1, 2 tasks × {c // 2}"] = (ray_executor, c // 2, c)
        runs[f"ray.v1, 2 tasks × {c}"] = (ray_executor, c, 2 * c)
    print(f"## Teacher labelling: openai.chat.v1, loopback latency L = {lat * 1000:.0f} ms")
    print()
    print(HEADER.format(extra="requests in flight | fraction of C/L | "))
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp, loopback_process(lat) as server:

        def job_for(make: Callable[[], Any], per: int) -> Job:
            def job(size: int, tag: str) -> float:
                folder = Path(tempfile.mkdtemp(prefix=tag, dir=tmp))
                return label_run(make(), server, corpus(size), per, folder)

            return job

        jobs = {name: job_for(make, per) for name, (make, per, _) in runs.items()}
        rows = measure(jobs, n, args.repeats)
        base = next(iter(rows.values())).rate
        for name, row in rows.items():
            in_flight = runs[name][2]
            frac = row.marginal / (in_flight / lat)
            shown = "—" if math.isnan(frac) else f"{frac:.2f}"
            print(row.line(name, f"{in_flight} | {shown} | ", base))
    print(f"\n(C/L = {c / lat:,.0f} docs/s for C = {c}; the fraction is of the marginal rate)\n")


def predict_table(args: argparse.Namespace) -> None:
    """Student inference through each executor: a trained scikit-learn student."""
    from distil_sklearn.student import SklearnTextcat

    task = distil.TextCat(["ham", "spam"])
    train = [
        (ex, distil.Categories(labels=ex.labels or [])) for ex in load_split("sms_spam", "train")
    ]
    # name -> (make an executor, its workers)
    runs: dict[str, tuple[Callable[[], Any], str]] = {}
    if "local" in args.executors:
        runs["local.v1"] = (lambda: distil.LocalExecutor(batch_size=1024), "1 process")
    if "ray" in args.executors:
        from distil_ray import RayExecutor

        runs["ray.v1"] = (
            lambda: RayExecutor(predict_actors=2, predict_cpus=1.0, predict_batch_size=1024),
            "2 actors",
        )
    print("## Student inference: sklearn.textcat.v1 (TF-IDF + logistic regression)")
    print()
    print(HEADER.format(extra="workers | "))
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        student = SklearnTextcat()
        student.fit(task, train)
        model_dir = Path(tmp) / "model"
        student.save(model_dir)

        def job_for(make: Callable[[], Any]) -> Job:
            def job(size: int, tag: str) -> float:
                folder = Path(tempfile.mkdtemp(prefix=tag, dir=tmp))
                return predict_run(make(), student, model_dir, corpus(size), folder)

            return job

        jobs = {name: job_for(make) for name, (make, _) in runs.items()}
        rows = measure(jobs, args.n_predict, args.repeats)
        base = next(iter(rows.values())).rate
        for name, row in rows.items():
            print(row.line(name, f"{runs[name][1]} | ", base))


if __name__ == "__main__":
    main()
