"""distil.testing: the pytest plugin core ships, with fixtures and conformance suites.

Installed as a ``pytest11`` entry point, so every project that has distil installed gets the
fixtures (``shared_data``, ``sms_spam``, ``isolated_host``). The conformance suites are classes a
plugin's tests subclass, providing the object under test as a fixture. They are the contract a
plugin must meet, one per plugin kind:

- provider: :class:`.teachers.ProviderConformance` (fixture ``provider``);
- teacher: :class:`.teachers.TeacherConformance` (``teacher``);
- student: :class:`.students.StudentConformance` (``student_factory``);
- exporter: :class:`.exporters.ExporterConformance` (``exporter_factory``);
- annotation queue order: :class:`.queue.QueueOrderConformance` (``plugin``);
- executor: :class:`.executors.ExecutorConformance` (``executor_factory``).

For servers and data: :class:`.loopback.LoopbackLLM` (a real HTTP LLM server on 127.0.0.1, with
the OpenAI and Anthropic wire formats in :mod:`.loopback_openai` / :mod:`.loopback_anthropic`;
:class:`.simulated.SimulatedTeacher` and :func:`.simulated.simulated_llm` make it an LLM teacher
with a chosen accuracy on a gold file),
:func:`load_split` (the shared labelled data sets), and :class:`distil.Store` on a temporary path.
``distil new-plugin`` renders a package whose tests already run the right suite.

The suites import pytest, so they are loaded on first use: ``import distil.testing`` stays cheap.
"""

from typing import Any

from .data import load_split, shared_data_dir

_SUITES = {
    "ProviderConformance": "teachers",
    "TeacherConformance": "teachers",
    "StudentConformance": "students",
    "ExporterConformance": "exporters",
    "QueueOrderConformance": "queue",
    "ExecutorConformance": "executors",
    # not suites, but loaded on first use all the same (they import the loopback server)
    "SimulatedLLM": "simulated",
    "SimulatedTeacher": "simulated",
    "simulated_llm": "simulated",
    "SimulatedExtractTeacher": "simulated_extract",
    "simulated_extract_llm": "simulated_extract",
    "run_cli": "cli",
}


def __getattr__(name: str) -> Any:
    if name in _SUITES:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_SUITES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["load_split", "shared_data_dir", *_SUITES]
