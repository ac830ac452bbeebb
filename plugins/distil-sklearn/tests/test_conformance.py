"""distil-sklearn's student passes core's student conformance suite (exclusive and multi-label)."""

from __future__ import annotations

import pytest

from distil.testing.students import StudentConformance
from distil_sklearn.plugin import make_textcat


class TestSklearnTextcatConformance(StudentConformance):
    @pytest.fixture
    def student_factory(self):
        return make_textcat


class TestSklearnTextcatCharNgramsConformance(StudentConformance):
    @pytest.fixture
    def student_factory(self):
        return lambda: make_textcat(analyzer="word+char_wb", C=2.0)
