"""Both students pass core's student conformance suite (exclusive and multi-label fixtures).

The MiniLM student encodes each of the suite's texts once for all its checks (the process-wide
embedding cache), so the suite's many fits cost one encoding pass.
"""

from __future__ import annotations

import pytest

from distil.testing.students import StudentConformance
from distil_embeddings.plugin import make_embeddings_textcat, make_static_textcat


class TestEmbeddingTextcatConformance(StudentConformance):  # the hybrid head (tfidf on by default)
    @pytest.fixture
    def student_factory(self):
        return make_embeddings_textcat


class TestStaticTextcatConformance(StudentConformance):  # the dense head (tfidf off by default)
    @pytest.fixture
    def student_factory(self):
        return make_static_textcat


class TestStaticTextcatWithTfidfConformance(StudentConformance):
    @pytest.fixture
    def student_factory(self):
        return lambda: make_static_textcat(tfidf=True, tfidf_weight=0.5)
