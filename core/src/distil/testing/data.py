"""Where the shared labelled data sets live, for tests and benchmarks.

The data is never copied into the repository: it lies in ``shared/data`` beside the checkout
(``<repo>/../shared/data``), or where ``DISTIL_DATA_DIR`` points.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..records import Example


def shared_data_dir(start: Path | None = None) -> Path | None:
    """The shared data folder: $DISTIL_DATA_DIR, or ``shared/data`` beside an ancestor folder."""
    env = os.environ.get("DISTIL_DATA_DIR")
    if env:
        return Path(env) if Path(env).is_dir() else None
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        candidate = folder / "shared" / "data"
        if candidate.is_dir():
            return candidate
        candidate = folder.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None


#: Data sets the package ships a sample of (the quickstart's: 280 train, 40 dev, 180 test rows),
#: used when the shared data sets are not found, so a plugin outside this repository can run the
#: conformance suites that read them.
PACKAGED = {"sms_spam": "quickstart/sms_spam"}


def load_split(dataset: str, split: str, limit: int | None = None) -> list[Example]:
    """Read ``<shared data>/<dataset>/<split>.jsonl`` (the first ``limit`` rows).

    Without the shared data sets, ``sms_spam`` comes from the sample shipped in the package
    (fewer rows: at most 280 train, 40 dev, 180 test); any other data set is an error.
    """
    from ..store.jsonl import read_jsonl

    root = shared_data_dir() or shared_data_dir(Path(__file__))
    if root is None and dataset in PACKAGED:
        root = Path(__file__).resolve().parents[1] / "data" / PACKAGED[dataset]
        examples = read_jsonl(root / f"{split}.jsonl").examples
        return examples[:limit] if limit is not None else examples
    if root is None:
        raise FileNotFoundError(
            "the shared data sets were not found: set DISTIL_DATA_DIR or check out beside shared/"
        )
    examples = read_jsonl(root / dataset / f"{split}.jsonl").examples
    return examples[:limit] if limit is not None else examples
