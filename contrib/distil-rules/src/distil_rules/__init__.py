"""distil-contrib-rules: keywords and patterns as a weak teacher beside the LLM.

An example third-party plugin (see contrib/README.md): a teacher registered as
``rules.patterns.v1`` that labels text classification and span tasks from keyword, regex and
spaCy/Prodigy-style patterns, and abstains when no rule fires.
"""

from .patterns import Rule, compile_rule, keyword_rules, read_patterns
from .teacher import ABSTAINED, RulesTeacher

__all__ = ["ABSTAINED", "Rule", "RulesTeacher", "compile_rule", "keyword_rules", "read_patterns"]
