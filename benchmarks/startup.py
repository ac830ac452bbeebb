"""Start-up cost of the ``distil`` command over importing the package.

    .venv/bin/python benchmarks/startup.py [--repeats 15] [--command --help]

Runs, interleaved round by round (the order alternating), ``python -c "import distil"`` and the
installed ``distil`` console script with the given arguments (``--help`` by default), each in a
fresh process, and measures each child's CPU time (user + system, from ``os.wait4``: what
``/usr/bin/time`` reports), so other load on the machine does not skew it. Prints the median of
both, their difference, and the modules the command imports beyond ``import distil`` that cost
the most (``-X importtime``, one extra run). Goal (issue 17): ``distil --help`` <= 0.15 s CPU above
``import distil``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path


def child_cpu(argv: list[str]) -> float:
    """User + system CPU seconds of one run of ``argv`` (its output discarded)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {proc.returncode}")
    return usage.ru_utime + usage.ru_stime


def imported(argv: list[str]) -> dict[str, int]:
    """``{module: self import time in µs}`` of one run under ``-X importtime``."""
    run = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True, check=True
    )
    found: dict[str, int] = {}
    for line in run.stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            us, _, name = line.removeprefix("import time:").split("|")
            found[name.strip()] = int(us)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--command", nargs=argparse.REMAINDER, default=["--help"])
    args = parser.parse_args()

    python = sys.executable
    script = shutil.which("distil", path=str(Path(python).parent)) or "distil"
    sides = {
        "import distil": [python, "-c", "import distil"],
        f"distil {' '.join(args.command)}": [python, script, *args.command],
    }
    names = list(sides)
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm the file cache
        child_cpu(sides[name])
    for round_ in range(args.repeats):
        for name in names if round_ % 2 == 0 else names[::-1]:
            times[name].append(child_cpu(sides[name]))

    base, command = (statistics.median(times[name]) for name in names)
    diffs = [c - b for b, c in zip(times[names[0]], times[names[1]], strict=True)]
    print(f"CPU time (user + sys) per process, median of {args.repeats} interleaved rounds")
    print(f"  {names[0]:<24} {base:6.3f} s")
    print(f"  {names[1]:<24} {command:6.3f} s")
    print(
        f"  difference               {command - base:+6.3f} s  (median per round "
        f"{statistics.median(diffs):+.3f} s; goal <= +0.150 s)"
    )

    before = imported(sides[names[0]])
    after = imported([python, script, *args.command])
    extra = {name: us for name, us in after.items() if name not in before}
    by_package: Counter[str] = Counter()
    for name, us in extra.items():
        by_package[name.split(".")[0]] += us
    print(
        f"\nmodules imported beyond `import distil`: {len(extra)}; the costliest packages "
        "(self import time, -X importtime):"
    )
    for package, us in by_package.most_common(12):
        print(f"  {package:<24} {us / 1000:6.1f} ms")


if __name__ == "__main__":
    main()
