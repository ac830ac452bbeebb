"""The fastText student passes core's student conformance suite (exclusive and multi-label)."""

from __future__ import annotations

import pytest

from distil.testing.students import StudentConformance
from distil_fasttext.plugin import make_textcat


class TestFastTextConformance(StudentConformance):
    @pytest.fixture
    def student_factory(self):
        return make_textcat
