"""Write the quickstart's small sms_spam sample into the distil package (run once; committed).

    python scripts/make_quickstart_sample.py ../shared/data/sms_spam

Takes a seeded random sample of each split (train 280, dev 40, test 180: 500 rows in all) so the
quickstart runs offline in a couple of minutes. The source and license travel with it (README.md).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

SIZES = {"train": 280, "dev": 40, "test": 180}
SEED = 20261126


def main(src: str) -> None:
    out = Path(__file__).resolve().parents[1] / "core/src/distil/data/quickstart/sms_spam"
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    for split, n in SIZES.items():
        with open(Path(src) / f"{split}.jsonl", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        sample = rng.sample(rows, n)
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for row in sample:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        spam = sum(r["labels"] == ["spam"] for r in sample)
        print(f"{split}: {n} rows, {spam} spam")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/sms_spam")
