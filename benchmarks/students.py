"""Every student against its library, in one command.

    .venv/bin/python benchmarks/students.py

Runs, each in its own process (they set thread counts and environment before importing their
library): the scikit-learn student's predict overhead over raw scikit-learn (banking77 and
sms_spam), the spaCy students against ``nlp.pipe``, and the transformer students against the raw
model. Each prints words/s or docs/s on one core, the overhead ratio, size on disk and training
time. Figures are collected in docs/benchmarks.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = [
    ["students_sklearn.py", "--dataset", "banking77"],
    ["students_sklearn.py", "--dataset", "sms_spam"],
    ["students_spacy.py"],
    ["students_transformers.py"],
]


def main() -> int:
    failed = 0
    for script, *args in RUNS:
        print(f"\n== {script} {' '.join(args)}", flush=True)
        failed += subprocess.call([sys.executable, str(HERE / script), *args]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
