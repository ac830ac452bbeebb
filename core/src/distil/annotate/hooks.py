"""The ``distil_annotate`` hook call that every way an answer comes in goes through.

Here, in the annotate stage, so that both the project (``Project.import_answers``) and the exchange
module (``distil import``) call the same function without importing each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..records import Annotation, Example

if TYPE_CHECKING:
    from ..plugins import PluginHost
    from ..tasks import Task


def annotate_hook(
    host: PluginHost, task: Task, example: Example, annotation: Annotation
) -> Annotation:
    """Pass an answer through the ``distil_annotate`` hook: the last non-None replacement wins."""
    for replaced in host.hook.distil_annotate(task=task, example=example, annotation=annotation):
        if replaced is not None:
            annotation = replaced
    return annotation
