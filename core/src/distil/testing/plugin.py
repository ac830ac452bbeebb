"""The pytest plugin (entry point ``pytest11: distil``): fixtures for distil and its plugins."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..plugins import PluginHost, set_host
from ..records import Example
from .data import load_split, shared_data_dir
from .loopback import LoopbackLLM


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; the test is skipped with a reason where it is missing.

    Under CI (``CI`` set) a missing folder is an error, so a suite cannot go green by skipping.
    """
    root = shared_data_dir() or shared_data_dir(Path(__file__))
    if root is None:
        if os.environ.get("CI"):
            pytest.fail("shared/data not found beside the checkout (set DISTIL_DATA_DIR)")
        pytest.skip("shared/data not found (set DISTIL_DATA_DIR)")
    return root


@pytest.fixture
def isolated_host() -> Iterator[PluginHost]:
    """A plugin host with only core's built-ins loaded, installed as the process-wide host."""
    host = PluginHost(entry_points=False, strict=True)
    set_host(host)
    try:
        yield host
    finally:
        set_host(None)


# -- what a plugin author needs: an LLM server, sample data, a store ------------------------------
SPAM_WORDS = frozenset({"free", "win", "won", "prize", "call", "txt", "claim", "cash", "urgent"})


def spam_keyword_answer(request: dict[str, Any]) -> str:
    """The loopback model's default answer: sms_spam labels by keyword, as task JSON."""
    words = set(re.findall(r"[a-z]+", request["messages"][-1]["content"].lower()))
    return json.dumps({"labels": ["spam" if words & SPAM_WORDS else "ham"]})


@pytest.fixture
def loopback_llm() -> Iterator[LoopbackLLM]:
    """A real LLM server on 127.0.0.1 speaking the OpenAI (``/v1/chat/completions``, batches)
    and Anthropic (``/v1/messages``, batches) wire formats; stopped after the test.

    Its model labels sms_spam texts by keyword (``{"labels": ["spam"]}`` or ham); set ``.answer``
    for another model, ``.fail_next(429)`` to inject faults, read ``.requests`` and ``.billed``.
    Point an OpenAI-style client at ``loopback_llm.url + "/v1"``, an Anthropic one at ``.url``.
    """
    from .loopback_anthropic import install_anthropic
    from .loopback_openai import install_openai

    with LoopbackLLM(answer=spam_keyword_answer) as server:
        install_openai(server)
        install_anthropic(server)
        yield server


@pytest.fixture
def sample_examples(shared_data: Path) -> list[Example]:
    """The first 40 rows of the shared sms_spam test split, with their reference answers."""
    return load_split("sms_spam", "test", limit=40)


@pytest.fixture
def small_store(tmp_path: Path, sample_examples: list[Example]) -> Iterator[Any]:
    """A project store (SQLite, in ``tmp_path``) holding ``sample_examples`` as data set
    ``train``; closed after the test."""
    from ..store.sqlite import Store

    with Store(tmp_path / "distil.db") as store:
        store.add_examples(sample_examples, "train")
        yield store
