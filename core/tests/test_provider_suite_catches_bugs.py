"""The provider and teacher conformance suites fail wrong providers (issue 16).

Each planted provider below breaks one rule the way real plugins did (a batch answered in reverse,
one label for everything, the first answer copied, answers that do not parse, a 429 mapped to the
wrong class, the last answer dropped). Each is run through both suites by pytest itself, as a
plugin author's test run would, and the checks named for it must fail; the correct provider must
pass every check. The model behind them is in-process (a scripted ``Backend``), so no server.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

MODULE = '''
import pytest

import distil
import distil.plugins
from distil.testing.plugin import spam_keyword_answer
from distil.testing.teachers import ProviderConformance, TeacherConformance


@pytest.fixture(autouse=True)
def host():
    distil.plugins.set_host(distil.PluginHost(entry_points=False))
    yield
    distil.plugins.set_host(None)


class Model:
    """The scripted model and transport behind the planted providers (a Backend)."""

    def __init__(self):
        self.answer = spam_keyword_answer
        self.faults = []

    def answer_with(self, answer):
        previous, self.answer = self.answer, answer
        return previous

    def fail_next(self, status, headers=None):
        self.faults.append((status, dict(headers or {})))

    def time_out_next(self):
        self.faults.append(("timeout", {}))


class Correct(distil.Provider):
    name = "planted.chat"
    batch_size = 64  # the teacher sends all 40 examples in one batch

    def __init__(self, model):
        super().__init__("planted-1")
        self.backend = model

    def http_error(self, status, headers):
        return distil.http_error(status, headers, None, where=self.describe())

    def one(self, prompt):
        if self.backend.faults:
            status, headers = self.backend.faults.pop(0)
            if status == "timeout":
                raise distil.timeout_error(self.describe(), 1.0)
            raise self.http_error(status, headers)
        request = {
            "system": "\\n".join(m.content for m in prompt.messages if m.role == "system"),
            "messages": [m.model_dump() for m in prompt.messages if m.role != "system"],
            "schema": prompt.json_schema,
            "model": self.model,
        }
        text = self.backend.answer(request)
        return distil.Completion(text=text, usage=distil.Usage(input_tokens=5, output_tokens=3))

    async def complete(self, prompt):
        return self.one(prompt)

    async def complete_batch(self, prompts):
        return [self.one(p) for p in prompts]


class Reversed(Correct):
    async def complete_batch(self, prompts):
        return (await super().complete_batch(prompts))[::-1]


class Constant(Correct):
    """Always the first answer it ever gave: the majority label, whatever the prompt."""

    first = None

    def one(self, prompt):
        if self.first is None or self.backend.faults:
            self.first = super().one(prompt)
        return self.first


class CopiesFirst(Correct):
    async def complete_batch(self, prompts):
        answers = await super().complete_batch(prompts)
        return [answers[0] for _ in answers]


class MostlyUnparseable(Correct):
    """Only its first answer is the JSON asked for; every later one (re-asks too) is prose."""

    answered = 0

    def one(self, prompt):
        completion = super().one(prompt)
        self.answered += 1
        if self.answered == 1:
            return completion
        return distil.Completion(text="I would say this one is spam, probably. 🤔")


class WrongErrorFor429(Correct):
    def http_error(self, status, headers):
        if status == 429:
            return distil.TransientProviderError(f"{self.describe()}: HTTP 429", status=429)
        return super().http_error(status, headers)


class DropsLast(Correct):
    async def complete_batch(self, prompts):
        return (await super().complete_batch(prompts))[:-1]


class TestProvider(ProviderConformance):
    @pytest.fixture
    def backend(self):
        return Model()

    @pytest.fixture
    def provider(self, backend):
        return PLANTED(backend)


class TestTeacher(TeacherConformance):
    @pytest.fixture
    def backend(self):
        return Model()

    @pytest.fixture
    def teacher(self, backend):
        return distil.PromptTeacher(PLANTED(backend), concurrency=4)
'''

P, T = "TestProvider::", "TestTeacher::"
FOLLOWS = "test_each_answer_follows_its_own_prompt"
#: planted provider → the checks that must fail on it, and a line the report must contain.
PLANTED = {
    "Reversed": ([P + FOLLOWS, T + FOLLOWS], "40 of 40 answers"),
    "Constant": (
        [P + FOLLOWS, T + FOLLOWS, T + "test_answers_are_not_all_one_when_the_gold_answers_differ"],
        "every example got the same answer",
    ),
    "CopiesFirst": (
        [P + FOLLOWS, T + FOLLOWS, T + "test_answers_are_not_all_one_when_the_gold_answers_differ"],
        "38 of 40 answers",  # two of the 40 examples share the first one's label
    ),
    "MostlyUnparseable": (
        [P + "test_most_scripted_answers_parse", T + "test_most_examples_get_a_parsed_answer"],
        "only 1 of 40 answers parsed",
    ),
    "WrongErrorFor429": (
        [P + "test_a_429_is_a_rate_limit_error_with_its_retry_after[seconds]"],
        "a 429 became TransientProviderError, not RateLimitError",
    ),
    "DropsLast": (
        [P + "test_complete_batch_answers_each_prompt", T + FOLLOWS],
        "planted.chat/planted-1 answered 39 of 40 prompts in one complete_batch call",
    ),
}


def run_suites(pytester: pytest.Pytester, provider: str) -> pytest.RunResult:
    pytester.makepyfile(test_planted=MODULE + f"\nPLANTED = {provider}\n")
    return pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "-rfE")


@pytest.mark.parametrize("provider", sorted(PLANTED))
def test_the_suites_fail_a_provider_that_breaks_their_rule(
    pytester: pytest.Pytester, provider: str
) -> None:
    checks, message = PLANTED[provider]
    result = run_suites(pytester, provider)
    out = result.stdout.str()
    failed = {
        line.split(" ", 1)[1].split(" - ")[0].split("::", 1)[1]
        for line in out.splitlines()
        if line.startswith(("FAILED ", "ERROR "))
    }
    assert set(checks) <= failed, f"{provider}: {sorted(set(checks) - failed)} passed\n{out}"
    assert message in out, out
    assert "zip() argument" not in out, "a dropped answer surfaced as a zip() ValueError"


def test_the_suites_pass_a_correct_provider(pytester: pytest.Pytester) -> None:
    result = run_suites(pytester, "Correct")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes.get("skipped", 0) == 0, result.stdout.str()
    assert outcomes["passed"] >= 25
