"""Rules: a label and a pattern, read from config or a patterns JSONL, compiled to regexes.

The pattern file is spaCy's EntityRuler / Prodigy's patterns format, one JSON object a line::

    {"label": "spam", "pattern": "free entry"}                    # a phrase (whole words)
    {"label": "ORG", "pattern": [{"LOWER": "acme"}, {"LOWER": "corp"}]}   # token patterns
    {"label": "spam", "regex": "\\bwin(ner)?\\b", "confidence": 0.9, "id": "win"}

A phrase matches on word boundaries, case-insensitively unless ``case_sensitive``. Token patterns
take ``LOWER``, ``TEXT``/``ORTH`` (exact case) and ``REGEX`` (a regex for one token's text) per
token, tokens separated by whitespace or punctuation boundaries. ``regex`` is a Python regex.
``confidence`` is how often the rule is right when it fires (the rule's precision; default from
the teacher), ``id`` names the rule in provenance. Anything else is an error naming its place
(``patterns.jsonl:3`` or ``teacher.patterns[2]``), so a typo never silently disables a rule.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import distil

PATTERN_KEYS = {"label", "pattern", "regex", "confidence", "id"}
TOKEN_KEYS = {"LOWER", "TEXT", "ORTH", "REGEX"}


@dataclass(frozen=True)
class Rule:
    """One compiled rule. ``where`` says where it was defined, for errors and provenance."""

    label: str
    kind: str  # "phrase" | "tokens" | "regex"
    pattern: Any
    confidence: float
    where: str
    regex: re.Pattern[str]
    id: str | None = None

    @property
    def name(self) -> str:
        return self.id or self.where

    def spec(self) -> dict[str, Any]:
        """What defines the rule (hashed into the teacher's provenance)."""
        return {
            "label": self.label,
            "kind": self.kind,
            "pattern": self.pattern,
            "confidence": self.confidence,
            "flags": self.regex.flags,
        }

    def finditer(self, text: str) -> Iterable[tuple[int, int]]:
        for match in self.regex.finditer(text):
            if match.end() > match.start():  # an empty match labels nothing
                yield match.start(), match.end()


def _bounded(body: str) -> str:
    """``body`` as whole words: no word character directly before or after the match."""
    return rf"(?<!\w)(?:{body})(?!\w)"


def _token_regex(tokens: Any, where: str, case_sensitive: bool) -> str:
    if not isinstance(tokens, list) or not tokens:
        raise distil.ConfigError(f"{where}: a token pattern is a non-empty list of objects")
    pieces = []
    for n, token in enumerate(tokens):
        if not isinstance(token, dict) or len(token) != 1:
            raise distil.ConfigError(
                f"{where}: token {n} must be an object with one of {sorted(TOKEN_KEYS)}, "
                f"got {token!r}"
            )
        [(key, value)] = token.items()
        if key not in TOKEN_KEYS or not isinstance(value, str) or not value:
            raise distil.ConfigError(
                f"{where}: token {n}: {key!r} is not supported (use one of {sorted(TOKEN_KEYS)} "
                "with a non-empty string)"
            )
        if key == "LOWER":
            pieces.append(f"(?i:{re.escape(value)})")
        elif key in ("TEXT", "ORTH"):
            pieces.append(f"(?-i:{re.escape(value)})")
        else:
            _check_regex(value, where)
            pieces.append(f"(?:{value})" if case_sensitive else f"(?i:{value})")
    return _bounded(r"\s*".join(pieces))


def _check_regex(value: str, where: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise distil.ConfigError(f"{where}: invalid regex {value!r}: {exc}") from None


def compile_rule(
    entry: Any, where: str, *, case_sensitive: bool = False, confidence: float = 0.8
) -> Rule:
    """One pattern object (a JSONL line or a config list item) as a :class:`Rule`."""
    if not isinstance(entry, Mapping):
        raise distil.ConfigError(f"{where}: a pattern is an object, got {type(entry).__name__}")
    unknown = sorted(set(entry) - PATTERN_KEYS)
    if unknown:
        raise distil.ConfigError(
            f"{where}: unknown key(s) {unknown}; a pattern has {sorted(PATTERN_KEYS)}"
        )
    label = entry.get("label")
    if not isinstance(label, str) or not label:
        raise distil.ConfigError(f'{where}: a pattern needs a "label" (a non-empty string)')
    if ("pattern" in entry) == ("regex" in entry):
        raise distil.ConfigError(f'{where}: a pattern needs exactly one of "pattern" or "regex"')
    conf = entry.get("confidence", confidence)
    if isinstance(conf, bool) or not isinstance(conf, int | float) or not 0.0 < conf <= 1.0:
        raise distil.ConfigError(f"{where}: confidence must be a number in (0, 1], got {conf!r}")
    rule_id = entry.get("id")
    if rule_id is not None and not isinstance(rule_id, str):
        raise distil.ConfigError(f'{where}: "id" must be a string, got {rule_id!r}')
    flags = 0 if case_sensitive else re.IGNORECASE
    if "regex" in entry:
        kind, pattern = "regex", entry["regex"]
        if not isinstance(pattern, str) or not pattern:
            raise distil.ConfigError(f'{where}: "regex" must be a non-empty string')
        _check_regex(pattern, where)
        body = pattern
    elif isinstance(entry["pattern"], str):
        kind, pattern = "phrase", entry["pattern"]
        if not pattern.strip():
            raise distil.ConfigError(f'{where}: "pattern" is an empty phrase')
        body = _bounded(r"\s+".join(re.escape(w) for w in pattern.split()))
    else:
        kind, pattern = "tokens", entry["pattern"]
        body = _token_regex(pattern, where, case_sensitive)
    return Rule(
        label=label,
        kind=kind,
        pattern=pattern,
        confidence=float(conf),
        where=where,
        regex=re.compile(body, flags),
        id=rule_id,
    )


def read_patterns(
    path: str | Path, *, case_sensitive: bool = False, confidence: float = 0.8
) -> list[Rule]:
    """The rules of a patterns JSONL file; a bad line raises a ConfigError naming ``file:line``."""
    source = Path(path)
    if not source.is_file():
        raise distil.ConfigError(f"teacher.patterns_path: {source} is not a file")
    rules = []
    with source.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{source}:{number}"
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise distil.ConfigError(f"{where}: not valid JSON ({exc.msg})") from None
            rules.append(
                compile_rule(entry, where, case_sensitive=case_sensitive, confidence=confidence)
            )
    return rules


def keyword_rules(
    keywords: Mapping[str, Any], *, case_sensitive: bool = False, confidence: float = 0.8
) -> list[Rule]:
    """``{label: [phrase, ...]}`` (the short form in config) as phrase rules."""
    rules = []
    for label, phrases in keywords.items():
        if isinstance(phrases, str) or not isinstance(phrases, list):
            raise distil.ConfigError(
                f"teacher.keywords.{label}: expected a list of phrases, got {phrases!r}"
            )
        for n, phrase in enumerate(phrases):
            where = f"teacher.keywords.{label}[{n}]"
            if not isinstance(phrase, str):
                raise distil.ConfigError(f"{where}: a keyword is a string, got {phrase!r}")
            rules.append(
                compile_rule(
                    {"label": label, "pattern": phrase},
                    where,
                    case_sensitive=case_sensitive,
                    confidence=confidence,
                )
            )
    return rules


def rules_hash(rules: Iterable[Rule]) -> str:
    """A short stable hash of what the rules match and claim: editing a rule changes it."""
    blob = json.dumps([r.spec() for r in rules], sort_keys=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:8]
