"""MkDocs hooks for the docs site (``hooks:`` in mkdocs.yml).

The docs mark a code block that ``tests/test_docs_meta.py`` must not run with a word after the
language (```` ```console no-run ````). Python-Markdown's fenced_code takes only a language
there, so such a line would not open a block: the fences after it pair up wrongly and headings
vanish into code. The site drops the marker before rendering; the Markdown files keep it.
"""

from __future__ import annotations

import re
from typing import Any

_MARKED_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<lang>[\w#.+-]+) no-run[ \t]*$", re.M)


def strip_no_run(markdown: str) -> str:
    """``markdown`` with every ```` ```LANG no-run ```` fence line made ```` ```LANG ````."""
    return _MARKED_FENCE.sub(r"\g<fence>\g<lang>", markdown)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return strip_no_run(markdown)
