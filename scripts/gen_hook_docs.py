"""Write docs/hooks.md from distil.hookspecs, so the hook reference cannot drift from the code.

python scripts/gen_hook_docs.py          # rewrite docs/hooks.md
python scripts/gen_hook_docs.py --check  # exit 1 if docs/hooks.md is out of date (tests do this)
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"


def signature(name: str, fn: Callable[..., Any]) -> str:
    """The line hooks.md shows for a hookspec (tests/test_docs_meta.py checks it is there)."""
    sig = str(inspect.signature(fn)).replace("'", "")
    return f"def {name}{sig}"


def render() -> str:
    from distil import hookspecs

    lines = [
        "# Hook reference",
        "",
        "Generated from `core/src/distil/hookspecs.py` by `scripts/gen_hook_docs.py`; do not edit.",
        "",
        inspect.getdoc(hookspecs) or "",
        "",
    ]
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
        if not name.startswith(("register_", "distil_")):
            continue
        opts = getattr(fn, "distil_spec", {}) or {}
        first = " (firstresult)" if opts.get("firstresult") else ""
        lines += [f"## `{name}`{first}", "", "```python", signature(name, fn), "```", ""]
        lines += [inspect.getdoc(fn) or "", ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        if not DOC.is_file() or DOC.read_text() != text:
            print(f"{DOC} is out of date: run python scripts/gen_hook_docs.py", file=sys.stderr)
            sys.exit(1)
    else:
        DOC.write_text(text)
        print(f"wrote {DOC}")
