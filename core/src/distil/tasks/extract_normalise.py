"""Normalisers: a span of the text → the typed value of a field (a number, an amount, a date).

A field whose value is not a copy of the text (``price: float``, ``when: date``) can still be
learnt: the NER subtask learns *where* the value is said ("$12.50", "next Friday") and a
normaliser turns that span into the value (12.5, the date of the next Friday). Normalisers are
registered like every other component (``register_normalisers`` → the ``normalisers`` registry);
the planner picks one by the field's type (:func:`choose`), and ``[task.fields]`` names another
(``"price" = "money.v1"``).

A normaliser has three duties, and the composite relies on each:

* ``parse(text, reference)`` → the value, or :class:`ValueError` when the span does not say one
  (the field is then left to the cascade, never guessed);
* ``candidates(text)`` → the character spans that may hold a value, in order; training uses them
  with ``parse`` to find *where* a teacher's value (12.5) was said, so the NER subtask learns it;
* ``types`` → the Python types it produces, so the planner can choose it by the field's type.

``reference`` is the date relative expressions count from: the example's ``meta["reference_date"]``
(ISO), else the normaliser's own ``reference`` (config), else today.

This module sits in the tasks layer, below the plugin host: the planner
(:mod:`distil.tasks.extract_plan`) reads it, and the extract task is built there. It cannot import
:mod:`distil.plugins`, so the host installs its ``normalisers`` registry here
(:func:`use_registry`, done when :mod:`distil.plugins` is imported, which ``import distil`` does);
until one is installed, or when it cannot be read, the registry is core's own normalisers.
``distil.extract.normalise`` re-exports this module.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

__all__ = [
    "BUILTIN_NORMALISERS",
    "DateNormaliser",
    "MoneyNormaliser",
    "Normaliser",
    "NumberNormaliser",
    "TextNormaliser",
    "choose",
    "get_normaliser",
    "names",
    "reference_of",
    "use_registry",
]


class Normaliser:
    """Base class: see the module docstring for what each method promises."""

    name: ClassVar[str] = "normaliser"
    #: The Python types this normaliser produces (the planner matches field types against them).
    types: ClassVar[tuple[type, ...]] = ()

    def parse(self, text: str, reference: dt.date | None = None) -> Any:
        raise NotImplementedError

    def candidates(self, text: str) -> list[tuple[int, int]]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class TextNormaliser(Normaliser):
    """``text.v1``: free text kept as the span's text (whitespace runs collapsed)."""

    name = "text.v1"
    types = (str,)

    def parse(self, text: str, reference: dt.date | None = None) -> str:
        value = re.sub(r"\s+", " ", text).strip()
        if not value:
            raise ValueError("an empty span says nothing")
        return value

    def candidates(self, text: str) -> list[tuple[int, int]]:
        return []  # a text value is placed by its own occurrences (distil.tasks.spans)


_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_WORDS.update({"a dozen": 12, "dozen": 12, "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100})
_CURRENCY = r"(?:[$€£¥]|US\$|usd|eur|gbp|dollars?|euros?|pounds?|bucks)"
_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?"
_NUMBER = re.compile(
    rf"(?<![\w.])(?:{_CURRENCY}\s?)?-?(?:{_DIGITS})(?:\s?{_CURRENCY})?(?![\w])"
    rf"|\b(?:{'|'.join(sorted(map(re.escape, _WORDS), key=len, reverse=True))})\b",
    re.IGNORECASE,
)
_MONEY = re.compile(
    rf"(?<![\w.]){_CURRENCY}\s?-?(?:{_DIGITS})(?![\w])"
    rf"|(?<![\w.])-?(?:{_DIGITS})\s?{_CURRENCY}(?![\w])",
    re.IGNORECASE,
)


def _number(text: str) -> float | int:
    raw = text.strip().lower()
    if raw in _WORDS:
        return _WORDS[raw]
    raw = re.sub(_CURRENCY, "", raw, flags=re.IGNORECASE).strip()
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw):
        raw = raw.replace(",", "")
    elif re.fullmatch(r"-?\d+,\d{1,2}", raw):  # "12,50 €": a decimal comma
        raw = raw.replace(",", ".")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    return int(value) if value == value.to_integral_value() and "." not in raw else float(value)


class NumberNormaliser(Normaliser):
    """``number.v1``: "12", "1,200", "12.5", "$12.50", "twelve" → a number."""

    name = "number.v1"
    types: ClassVar[tuple[type, ...]] = (int, float)

    def parse(self, text: str, reference: dt.date | None = None) -> float | int:
        return _number(text)

    def candidates(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _NUMBER.finditer(text)]


class MoneyNormaliser(NumberNormaliser):
    """``money.v1``: an amount said with its currency ("$12.50", "12,50 €", "30 dollars") → a
    number; a bare number is still parsed, but only amounts with a currency are candidates."""

    name = "money.v1"
    types: ClassVar[tuple[type, ...]] = (Decimal,)

    def candidates(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _MONEY.finditer(text)] or super().candidates(text)


_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = [
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
]  # fmt: skip
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_ORD = r"(?:st|nd|rd|th)?"
_DATE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b"
    r"|\b\d{1,2}/\d{1,2}/\d{4}\b"
    rf"|\b{_MONTH}\.?\s+\d{{1,2}}{_ORD}(?:,?\s+\d{{4}})?\b"
    rf"|\b\d{{1,2}}{_ORD}\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?\b"
    r"|\b(?:the\s+)?day\s+after\s+tomorrow\b|\b(?:today|tomorrow|yesterday|tonight)\b"
    rf"|\b(?:(?:next|this|last|coming)\s+)?(?:{'|'.join(_DAYS)})\b"
    r"|\bin\s+(?:\d+|a|one|two|three|four|five|six|seven)\s+(?:days?|weeks?)\b",
    re.IGNORECASE,
)


def _month(word: str) -> int:
    word = word.lower().rstrip(".")
    for i, name in enumerate(_MONTHS, start=1):
        if name.startswith(word[:3]):
            return i
    raise ValueError(f"{word!r} is not a month")


class DateNormaliser(Normaliser):
    """``date.v1``: "2026-12-04", "12/04/2026" (month first), "December 4", "4 Dec 2026",
    "today", "tomorrow", "next Friday", "in 3 days" → a date.

    Relative expressions count from the reference date (module docstring). A weekday alone,
    "this", "coming" or "next" + weekday is the first such day *after* the reference; "last" the
    one before it. A date without a year takes the reference's year.
    """

    name = "date.v1"
    types = (dt.date,)

    def __init__(self, reference: str | None = None) -> None:
        self.reference = dt.date.fromisoformat(reference) if reference else None

    def parse(self, text: str, reference: dt.date | None = None) -> dt.date:
        ref = reference or self.reference or dt.date.today()
        raw = re.sub(r"\s+", " ", text.strip().lower())
        if m := re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            return dt.date.fromisoformat(m.group())
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", raw):
            return dt.date(int(m[3]), int(m[1]), int(m[2]))
        if m := re.fullmatch(rf"({_MONTH})\.? (\d{{1,2}}){_ORD}(?:,? (\d{{4}}))?", raw):
            return dt.date(int(m[3] or ref.year), _month(m[1]), int(m[2]))
        if m := re.fullmatch(rf"(\d{{1,2}}){_ORD} (?:of )?({_MONTH})(?:,? (\d{{4}}))?", raw):
            return dt.date(int(m[3] or ref.year), _month(m[2]), int(m[1]))
        shifts = {"today": 0, "tonight": 0, "tomorrow": 1, "yesterday": -1}
        if raw in shifts:
            return ref + dt.timedelta(days=shifts[raw])
        if re.fullmatch(r"(?:the )?day after tomorrow", raw):
            return ref + dt.timedelta(days=2)
        if m := re.fullmatch(rf"(?:(next|this|last|coming) )?({'|'.join(_DAYS)})", raw):
            target = _DAYS.index(m[2])
            if m[1] == "last":
                return ref - dt.timedelta(days=(ref.weekday() - target - 1) % 7 + 1)
            return ref + dt.timedelta(days=(target - ref.weekday() - 1) % 7 + 1)
        if m := re.fullmatch(r"in (\d+|a|one|two|three|four|five|six|seven) (day|week)s?", raw):
            n = int(m[1]) if m[1].isdigit() else max(1, _WORDS.get(m[1], 1))
            return ref + dt.timedelta(days=n * (7 if m[2] == "week" else 1))
        raise ValueError(f"{text!r} is not a date date.v1 reads")

    def candidates(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _DATE.finditer(text)]


#: The normalisers core registers (``distil.builtins.register_normalisers``).
BUILTIN_NORMALISERS: dict[str, Callable[..., Normaliser]] = {
    "text.v1": TextNormaliser,
    "number.v1": NumberNormaliser,
    "money.v1": MoneyNormaliser,
    "date.v1": DateNormaliser,
}
#: Field names that say "an amount of money" for a float or int field.
MONEY_NAMES = re.compile(r"(?:^|_)(price|cost|amount|total|fee|fare|salary|budget|payment)s?$")


#: The registered normalisers, name → factory, as the plugin host reads them (None: no host has
#: installed its registry; see the module docstring).
_Registry = Callable[[], Mapping[str, Callable[..., Normaliser]]]
_registry: _Registry | None = None


def use_registry(registry: _Registry | None) -> None:
    """Read the registered normalisers from ``registry`` (called with no arguments at each lookup,
    so it follows the current host); None goes back to core's own normalisers."""
    global _registry
    _registry = registry


def _registered() -> dict[str, Callable[..., Normaliser]]:
    """The ``normalisers`` registry of the plugin host (core's own ones when none loads)."""
    try:
        found = dict(_registry()) if _registry is not None else {}
    except Exception:
        found = {}
    return found or dict(BUILTIN_NORMALISERS)


def get_normaliser(name: str) -> Normaliser:
    """The registered normaliser ``name``, built with its defaults; KeyError lists the names."""
    registry = _registered()
    if name not in registry:
        raise KeyError(f"no normaliser '{name}'; registered: {sorted(registry)}")
    made = registry[name]()
    if not isinstance(made, Normaliser):
        raise TypeError(f"normaliser '{name}' built {made!r}, not a distil Normaliser")
    return made


def names() -> list[str]:
    """The names of the registered normalisers, sorted."""
    return sorted(_registered())


def choose(path: str, tp: Any) -> tuple[str | None, str]:
    """The normaliser the planner picks for a field of type ``tp``, and why in words.

    ``Decimal`` and a float/int field named like an amount (``price``, ``total_cost``) get
    ``money.v1``; other ints and floats ``number.v1``; ``date`` ``date.v1``; otherwise a
    registered normaliser whose ``types`` include ``tp``. ``(None, why)`` when none fits.
    """
    leaf = path.rsplit(".", 1)[-1].lower()
    if tp is bool:
        return None, "bool is a textcat"
    if isinstance(tp, type) and issubclass(tp, dt.datetime):
        return None, "no normaliser reads a datetime (a date and a time) yet"
    if tp is Decimal or (tp in (int, float) and MONEY_NAMES.search(leaf)):
        return "money.v1", "an amount → span + money.v1"
    if tp in (int, float):
        return "number.v1", f"{tp.__name__} → span + number.v1"
    if tp is dt.date:
        return "date.v1", "date → span + date.v1"
    for name, factory in _registered().items():
        types = getattr(factory, "types", ())
        if name not in BUILTIN_NORMALISERS and isinstance(tp, type) and tp in types:
            return name, f"{tp.__name__} → span + {name}"
    return None, "no registered normaliser produces this type"


def reference_of(meta: dict[str, Any] | None) -> dt.date | None:
    """The reference date of an example (``meta["reference_date"]``, ISO), or None."""
    value = (meta or {}).get("reference_date")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None
