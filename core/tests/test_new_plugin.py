"""``distil new-plugin``: every kind renders, installs into a fresh virtual environment, is listed
by ``distil plugins`` there, and passes its own generated tests (the kind's conformance suite).

The fresh environment is a new ``venv`` (no packages of its own) that sees this environment's
installed packages the way ``--system-site-packages`` shows a venv the system's: a ``.pth`` file
adds our site-packages after its own. The four rendered packages are then built and installed by
pip as real wheels, with ``--no-index`` (their dependency on distil is resolved against what is
installed; nothing is fetched). One environment serves all four kinds to keep the test fast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from distil.cli.new_plugin_cmd import (
    KINDS,
    NewPluginError,
    PluginNames,
    compatible_range,
    render_plugin,
    template_files,
)

NAMES = {kind: f"acme-{kind}" for kind in KINDS}
#: The console script's body: the fresh venv has distil importable but no `distil` script of its own.
DISTIL = "from distil.cli import main; main()"


@dataclass
class FreshEnv:
    python: Path
    packages: dict[str, Path]
    env: dict[str, str]

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=cwd,
            timeout=300,
        )

    def plugins(self) -> dict[str, dict[str, object]]:
        result = self.run("-c", DISTIL, "plugins", "--json")
        assert result.returncode == 0, result.stderr
        return {p["name"]: p for p in json.loads(result.stdout)}


def _make_venv(root: Path) -> Path:
    venv.EnvBuilder(with_pip=False, clear=True).create(root)
    python = root / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in sorted(ours))
    (Path(purelib) / "_distil_dev_env.pth").write_text(lines)
    return python


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[FreshEnv]:
    root = tmp_path_factory.mktemp("new-plugin")
    packages = {}
    for kind, name in NAMES.items():
        names = PluginNames.make(name, kind, "0.1.0")
        packages[kind] = root / "src" / names.dist
        render_plugin(names, packages[kind])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "DISTIL_"))}
    env.update(
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONNOUSERSITE="1",
        DISTIL_DATA_DIR=str(shared_data),
        VIRTUAL_ENV=str(root / "venv"),
    )
    fresh = FreshEnv(_make_venv(root / "venv"), packages, env)
    before = fresh.plugins()
    assert not {n.replace("-", "_") for n in NAMES.values()} & set(before), "already installed?"
    result = fresh.run(
        "-m", "pip", "install", "--no-build-isolation", "-q", *map(str, packages.values())
    )
    assert result.returncode == 0, result.stdout + result.stderr
    yield fresh


@pytest.fixture(scope="module")
def listed(fresh: FreshEnv) -> dict[str, dict[str, object]]:
    return fresh.plugins()


@pytest.fixture(scope="module")
def junit(fresh: FreshEnv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Run each generated package's tests in the fresh venv; ``kind:outcome`` → test ids."""
    outcomes: dict[str, list[str]] = {}
    for kind, package in fresh.packages.items():
        report = tmp_path_factory.mktemp("junit") / f"{kind}.xml"
        args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", "tests"]
        result = fresh.run(*args, cwd=package)
        assert report.is_file(), result.stdout + result.stderr
        for case in ET.parse(report).getroot().iter("testcase"):
            tags = {child.tag for child in case}
            outcome = "failed" if tags & {"failure", "error"} else "passed"
            outcome = "skipped" if "skipped" in tags else outcome
            test_id = f"{case.get('classname')}::{case.get('name')}"
            outcomes.setdefault(f"{kind}:{outcome}", []).append(test_id)
        assert result.returncode == 0, f"{kind}:\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
    return outcomes


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_installed_plugin_is_listed_by_distil_plugins(
    kind: str, listed: dict[str, dict[str, object]]
) -> None:
    names = PluginNames.make(NAMES[kind], kind, "0.1.0")
    info = listed.get(names.name)
    assert info is not None, f"{names.name} is not listed; listed: {sorted(listed)}"
    assert info["status"] == "loaded", info
    assert info["distribution"] == names.dist
    assert info["registered"] == {names.registry: [names.registered]}
    assert info["compatible"] is True and info["supports"] == "<0.2,>=0.1"


@pytest.mark.parametrize(
    ("kind", "suite"),
    [
        ("provider", "ProviderConformance"),
        ("provider", "TeacherConformance"),
        ("teacher", "TeacherConformance"),
        ("student", "StudentConformance"),
        ("exporter", "ExporterConformance"),
    ],
)
def test_the_generated_tests_run_the_kinds_conformance_suite_and_pass(
    kind: str, suite: str, junit: dict[str, list[str]]
) -> None:
    assert not junit.get(f"{kind}:failed"), junit[f"{kind}:failed"]
    passed = junit.get(f"{kind}:passed", [])
    from_suite = [t for t in passed if f"Test{suite}" in t]
    assert len(from_suite) >= 5, f"{kind}: only {from_suite} of {suite} passed"
    assert any(t.endswith("test_the_package_declares_its_entry_point") for t in passed)


def test_the_rendered_packages_are_lint_and_format_clean(fresh: FreshEnv) -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).is_file():
        pytest.skip("ruff is not installed")
    for package in fresh.packages.values():
        check = subprocess.run(
            [ruff, "check", "--no-cache", "."], cwd=package, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout
        fmt = subprocess.run(
            [ruff, "format", "--no-cache", "--check", "."],
            cwd=package,
            capture_output=True,
            text=True,
        )
        assert fmt.returncode == 0, fmt.stdout


# -- the command and its errors ----------------------------------------------------------------
def test_the_command_writes_the_package_and_refuses_to_overwrite_it(tmp_path: Path) -> None:
    args = [sys.executable, "-c", DISTIL, "new-plugin", "Acme_LLM", "--kind", "provider"]
    first = subprocess.run([*args, "--dir", str(tmp_path)], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    package = tmp_path / "distil-acme-llm"
    assert "acme_llm.chat.v1" in first.stdout
    pyproject = (package / "pyproject.toml").read_text()
    assert 'acme_llm = "distil_acme_llm.plugin"' in pyproject
    assert (package / "src" / "distil_acme_llm" / "provider.py").is_file()
    before = (package / "README.md").read_text()
    again = subprocess.run([*args, "--dir", str(tmp_path)], capture_output=True, text=True)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert (package / "README.md").read_text() == before


def test_an_unknown_kind_names_the_choices() -> None:
    with pytest.raises(NewPluginError, match="unknown plugin kind 'model'; choose from provider"):
        PluginNames.make("acme", "model", "0.1.0")


@pytest.mark.parametrize("bad", ["", "1acme", "acme llm", "Acme!", "acme--llm", "distil-"])
def test_an_invalid_name_is_refused_with_the_rule(bad: str) -> None:
    with pytest.raises(NewPluginError, match="is not valid: use lowercase letters"):
        PluginNames.make(bad, "student", "0.1.0")


def test_names_follow_the_distribution_and_registry_conventions() -> None:
    names = PluginNames.make("distil-Acme-LLM", "student", "0.3.2")
    assert (names.name, names.dist, names.module) == (
        "acme_llm",
        "distil-acme-llm",
        "distil_acme_llm",
    )
    assert (names.registered, names.registry, names.class_prefix) == (
        "acme_llm.textcat.v1",
        "students",
        "AcmeLlm",
    )
    assert names.core_range == ">=0.3,<0.4"


@pytest.mark.parametrize(
    ("version", "expected"),
    [("0.1.0", ">=0.1,<0.2"), ("1.4.2", ">=1.4,<2"), ("0.10.0.dev1", ">=0.10,<0.11")],
)
def test_a_fresh_plugin_supports_its_release_line(version: str, expected: str) -> None:
    assert compatible_range(version) == expected


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_has_a_plugin_module_an_implementation_and_a_test(kind: str) -> None:
    files = {str(p) for p in template_files(kind)}
    assert {"pyproject.toml", "README.md", "src/__module__/plugin.py", "tests/conftest.py"} <= files
    assert "tests/test_conformance.py" in files
    assert any(f.startswith("src/__module__/") and f.endswith(f"{kind}.py") for f in files), files
