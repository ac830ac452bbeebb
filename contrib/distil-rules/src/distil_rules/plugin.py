"""The distil plugin module (entry point ``distil: rules``): registers ``rules.patterns.v1``.

A third-party teacher needs exactly this: a factory whose keyword arguments are the keys of the
``[teacher]`` config block, registered under a versioned name by ``register_teachers``::

    [teacher]
    @teachers = "rules.patterns.v1"
    patterns_path = "patterns.jsonl"      # relative to the config file
    keywords = {"spam": ["free entry", "txt stop", "claim your prize"]}
"""

from __future__ import annotations

from typing import Any

import distil

from .patterns import compile_rule, keyword_rules, read_patterns
from .teacher import RulesTeacher


def make_rules_teacher(
    patterns: list[dict[str, Any]] | None = None,
    patterns_path: str | None = None,
    keywords: dict[str, list[str]] | None = None,
    case_sensitive: bool = False,
    confidence: float = 0.8,
    threshold: float = 0.5,
    fallback: distil.Teacher | None = None,
) -> RulesTeacher:
    """``rules.patterns.v1``: keyword / regex / token patterns per label; abstains when none fires.

    ``patterns`` (inline pattern objects), ``patterns_path`` (a spaCy/Prodigy patterns JSONL) and
    ``keywords`` (``{label: [phrase, ...]}``) add up; at least one is needed. ``confidence`` is
    the default precision of a rule, ``threshold`` the score a multi-label label needs, and
    ``fallback`` an optional teacher block that labels what the rules abstain on.
    """
    if not 0.0 < confidence <= 1.0:
        raise distil.ConfigError(f"teacher.confidence must be in (0, 1], got {confidence}")
    options = {"case_sensitive": case_sensitive, "confidence": confidence}
    rules = [
        compile_rule(entry, f"teacher.patterns[{n}]", **options)  # type: ignore[arg-type]
        for n, entry in enumerate(patterns or [])
    ]
    if patterns_path:
        rules += read_patterns(patterns_path, **options)  # type: ignore[arg-type]
    if keywords:
        rules += keyword_rules(keywords, **options)  # type: ignore[arg-type]
    if not rules:
        raise distil.ConfigError(
            "teacher: rules.patterns.v1 needs rules: give patterns, patterns_path or keywords"
        )
    if fallback is not None and not isinstance(fallback, distil.Teacher):
        raise distil.ConfigError(
            f"teacher.fallback must be a registered teacher (@teachers = ...), got {fallback!r}"
        )
    return RulesTeacher(rules, threshold=threshold, fallback=fallback)


@distil.hookimpl
def register_teachers(register: Any) -> None:
    register("rules.patterns.v1", make_rules_teacher)
