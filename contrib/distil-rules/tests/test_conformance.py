"""The rule teacher passes core's teacher conformance suite, for text classification and NER."""

from __future__ import annotations

import pytest

import distil
from distil.testing import load_split
from distil.testing.teachers import TeacherConformance
from distil_rules.plugin import make_rules_teacher

SPAM_KEYWORDS = {"spam": ["free", "txt", "claim", "prize", "win", "urgent", "mobile"]}


class TestRulesTextcatConformance(TeacherConformance):
    @pytest.fixture
    def teacher(self):
        return make_rules_teacher(
            keywords=SPAM_KEYWORDS, patterns=[{"label": "ham", "pattern": "see you"}]
        )


class TestRulesNerConformance(TeacherConformance):
    @pytest.fixture
    def teacher(self):
        return make_rules_teacher(
            patterns=[
                {"label": "LOC", "pattern": "UK"},
                {"label": "LOC", "pattern": [{"TEXT": "Sandy"}, {"TEXT": "Hook"}]},
                {"label": "ORG", "regex": r"\b[A-Z][a-z]+ 's (?:Division|Brigade)\b"},
                {"label": "MISC", "regex": r"\bBattle of [A-Z][a-z]+\b"},
            ]
        )

    @pytest.fixture
    def task(self):
        return distil.NerTask(["PER", "LOC", "ORG", "MISC"])

    @pytest.fixture
    def examples(self, shared_data):
        return load_split("wikigold", "test", limit=40)
