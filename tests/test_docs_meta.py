"""Meta-tests that keep the docs honest: nothing in the plugin surface goes undocumented or untested.

The rules, each a test below:

(a) every hookspec (every hook pluggy finds in ``distil.hookspecs``) has a section in
    docs/hooks.md showing its exact signature, a docstring, and a test: some test file of the
    repository (``tests/``, ``core/tests/``, ``plugins/*/tests/``, ``contrib/*/tests/``; this file
    excluded) implements it (``def HOOK(``) or calls it (``.HOOK(``);
(b) every name registered in every registry by the installed plugins, and every config section,
    appears in docs/config-reference.md, and the generated CLI and config references are current;
(c) the code blocks of docs/*.md run: ```python blocks are executed, in document order, in a
    temporary folder per page, offline; in ```console / ```bash blocks every ``$ `` line is a
    command, and a block whose commands are all cheap ``distil`` calls (``--help``, ``plugins``,
    ``init``, ``plan``, ``new-plugin``) is run there too and must exit 0. A block that cannot
    run (it needs a key, a server or minutes of training) says so in its info string
    (```python no-run, ```console no-run); an expensive command in a block that is not marked
    is a failure. Every ``@registry = "name"`` in a code block names a registered thing (or
    one a Python block of the page registers), and a whole project config in an ```ini block
    loads. The generated pages (hooks.md, cli.md, config-reference.md) are checked against the
    code instead of run;
(d) docs/README.md links every page of docs/, and every link between pages (and to a heading)
    resolves.

The checkers are plain functions, so the tests at the end can show that each one reports a hook
added without docs or test, a registered name missing from the reference, and an unmarked block.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
import pytest

from distil import hookspecs

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
THIS = Path(__file__).resolve()
DISTIL = str(Path(sys.executable).with_name("distil"))
#: Pages written by a generator, with their generator: checked against the code, never executed.
GENERATED = {
    "hooks.md": "gen_hook_docs.py",
    "cli.md": "gen_cli_docs.py",
    "config-reference.md": "gen_config_docs.py",
}
TEST_FILES = ("tests", "core/tests", "plugins/*/tests", "contrib/*/tests")
PYTHON = {"python", "py"}
SHELL = {"console", "bash", "sh", "shell", "shell-session"}
#: ``distil`` subcommands cheap enough to run in this test (no model, no network, no training).
CHEAP = {"plugins", "init", "plan", "new-plugin"}
NO_RUN = "no-run"


def _script(name: str) -> ModuleType:
    """A generator script of scripts/ as a module (scripts/ is not a package)."""
    path = REPO / "scripts" / name
    spec = importlib.util.spec_from_file_location(f"_docs_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- (a) hooks --------------------------------------------------------------------------------------
def hookspec_functions(module: ModuleType) -> dict[str, Callable[..., Any]]:
    """Every hook pluggy registers from ``module`` (not only the ones with our name prefixes)."""
    pm = pluggy.PluginManager("distil")
    pm.add_hookspecs(module)
    return {name: getattr(module, name) for name in vars(pm.hook) if not name.startswith("_")}


def repo_test_sources(exclude: Iterable[Path] = (THIS,)) -> dict[str, str]:
    """``{relative path: text}`` of every Python file in the repository's test folders."""
    skip = {p.resolve() for p in exclude}
    found: dict[str, str] = {}
    for pattern in TEST_FILES:
        for folder in sorted(REPO.glob(pattern)):
            for path in sorted(folder.rglob("*.py")):
                if path.resolve() not in skip and ".venv" not in path.parts:
                    found[str(path.relative_to(REPO))] = path.read_text(encoding="utf-8")
    return found


def names_hook(source: str, hook: str) -> bool:
    """True when ``source`` implements the hook (``def hook(``) or calls it (``.hook(``)."""
    return re.search(rf"\bdef\s+{hook}\s*\(|\.{hook}\s*\(", source) is not None


def hook_problems(
    specs: dict[str, Callable[..., Any]], hooks_doc: str, sources: dict[str, str]
) -> list[str]:
    """What rule (a) finds wrong, one line per problem (empty: all good)."""
    signature = _script("gen_hook_docs.py").signature
    problems = []
    for name, fn in sorted(specs.items()):
        line = signature(name, fn)
        if f"## `{name}`" not in hooks_doc:
            problems.append(
                f"{name}: not documented in docs/hooks.md (run scripts/gen_hook_docs.py)"
            )
        elif line not in hooks_doc:
            problems.append(f"{name}: docs/hooks.md does not show its exact signature `{line}`")
        if not (fn.__doc__ or "").strip():
            problems.append(f"{name}: the hookspec has no docstring")
        if not any(names_hook(text, name) for text in sources.values()):
            problems.append(
                f"{name}: no test implements or calls it (a test file must contain "
                f"`def {name}(` or `.{name}(`)"
            )
    return problems


def test_every_hook_is_documented_with_its_exact_signature_and_has_a_test() -> None:
    specs = hookspec_functions(hookspecs)
    assert len(specs) >= 13
    problems = hook_problems(specs, (DOCS / "hooks.md").read_text(), repo_test_sources())
    assert not problems, "\n".join(problems)


# -- (b) registered names and generated references ----------------------------------------------
def reference_problems(
    registries: dict[str, Iterable[str]], sections: Iterable[str], doc: str
) -> list[str]:
    """What rule (b) finds missing from docs/config-reference.md."""
    problems = [
        f"{kind} name '{name}' is not in docs/config-reference.md"
        for kind, names in registries.items()
        for name in names
        if f"#### `{name}`" not in doc
    ]
    problems += [
        f"section [{s}] is not in docs/config-reference.md"
        for s in sections
        if f"### `[{s}]`" not in doc
    ]
    return problems


def test_every_registered_name_and_section_is_in_the_config_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from distil.config import SECTIONS
    from distil.plugins import PluginHost

    monkeypatch.delenv("DISTIL_PLUGINS", raising=False)
    monkeypatch.delenv("DISTIL_DISABLE_PLUGINS", raising=False)
    host = PluginHost()
    registries = {kind: host.names(kind) for kind in host.registries}
    assert sum(len(v) for v in registries.values()) >= 10
    doc = (DOCS / "config-reference.md").read_text()
    problems = reference_problems(registries, SECTIONS, doc)
    assert not problems, "\n".join(problems) + "\nrun python scripts/gen_config_docs.py"


@pytest.mark.parametrize("script", ["gen_cli_docs.py", "gen_config_docs.py"])
def test_generated_reference_is_up_to_date(script: str) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert result.returncode == 0, result.stderr


def test_cli_reference_lists_every_command_with_its_options() -> None:
    """Not only current: complete. Every command of the live app, every option of each."""
    import typer

    from distil.cli import app

    doc = (DOCS / "cli.md").read_text()
    root = typer.main.get_command(app)
    for name, cmd in root.commands.items():
        assert f"## `distil {name}`" in doc
        section = doc.split(f"## `distil {name}`", 1)[1].split("\n## ", 1)[0]
        for param in cmd.params:
            shown = param.name.upper() if param.param_type_name == "argument" else param.opts[0]
            assert f"`{shown}`" in section, f"distil {name}: {shown} is not in docs/cli.md"


# -- (c) code blocks ------------------------------------------------------------------------------
@dataclass
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    lang: str
    flags: list[str]
    text: str

    @property
    def runs(self) -> bool:
        return NO_RUN not in self.flags

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


def code_blocks(page: str, markdown: str) -> list[Block]:
    """The fenced blocks of a Markdown page (backtick fences; indented fences in lists too)."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        opening = re.match(r"^(\s*)(`{3,})\s*([^`]*)$", lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, info = opening.groups()
        words = info.split()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not re.match(rf"^\s*{fence}\s*$", lines[j]):
            line = lines[j]
            body.append(line[len(indent) :] if line.startswith(indent) else line)
            j += 1
        blocks.append(
            Block(page, i + 1, words[0].lower() if words else "", words[1:], "\n".join(body))
        )
        i = j + 1
    return blocks


def shell_commands(block: Block) -> list[str]:
    """The ``$ `` commands of a console block, continuation lines (``\\``) joined."""
    commands: list[str] = []
    pending: str | None = None
    for line in block.text.splitlines():
        if pending is not None:
            pending += " " + line.strip()
        elif line.startswith("$ "):
            pending = line[2:].strip()
        else:
            continue
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        commands.append(pending)
        pending = None
    return commands


def is_cheap(argv: list[str]) -> bool:
    if not argv or argv[0] != "distil":
        return False
    return "--help" in argv or len(argv) == 1 or argv[1] in CHEAP


def _env() -> dict[str, str]:
    """The environment of a doc block: offline, no keys, every installed plugin."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and k not in ("DISTIL_PLUGINS", "DISTIL_DISABLE_PLUGINS")
    }
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.update(COLUMNS="100", NO_COLOR="1")
    return env


@dataclass
class PageRun:
    ran: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def run_blocks(blocks: list[Block], workdir: Path, timeout: int = 300) -> PageRun:
    """Run a page's runnable blocks in order in ``workdir``; report what failed, by line."""
    out = PageRun()
    env = _env()
    for block in blocks:
        if block.lang in PYTHON and block.runs:
            result = subprocess.run(
                [sys.executable, "-c", block.text],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            out.ran.append(block.where)
            if result.returncode != 0:
                tail = "\n".join(result.stderr.strip().splitlines()[-15:])
                out.problems.append(f"{block.where}: python block failed:\n{tail}")
        elif block.lang in SHELL:
            commands = shell_commands(block)
            if not commands or not block.runs:
                continue
            costly = [c for c in commands if not is_cheap(shlex.split(c))]
            if costly:
                out.problems.append(
                    f"{block.where}: `$ {costly[0]}` is too slow for the doc test; make the "
                    f"command cheap ({', '.join(sorted(CHEAP))}, --help) or mark the block "
                    f"```{block.lang} {NO_RUN}"
                )
                continue
            for command in commands:
                argv = shlex.split(command)
                result = subprocess.run(
                    [DISTIL, *argv[1:]],
                    cwd=workdir,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                )
                out.ran.append(f"{block.where}: $ {command}")
                if result.returncode != 0:
                    out.problems.append(
                        f"{block.where}: `$ {command}` exited {result.returncode}:\n"
                        f"{result.stdout[-1500:]}{result.stderr[-1500:]}"
                    )
    return out


HAND_WRITTEN = sorted(p.name for p in DOCS.glob("*.md") if p.name not in GENERATED)


@pytest.mark.parametrize("page", HAND_WRITTEN)
def test_code_blocks_of_the_page_run(page: str, tmp_path: Path) -> None:
    blocks = code_blocks(page, (DOCS / page).read_text(encoding="utf-8"))
    run = run_blocks(blocks, tmp_path)
    assert not run.problems, "\n\n".join(run.problems)


def test_every_python_block_compiles_run_or_not() -> None:
    """A ``no-run`` block is not executed, but it must still be valid Python."""
    for page in HAND_WRITTEN:
        for block in code_blocks(page, (DOCS / page).read_text(encoding="utf-8")):
            if block.lang in PYTHON:
                compile(block.text, block.where, "exec")


CONFIG_LANGS = {"ini", "cfg", "toml"}
USES = re.compile(r'^\s*@(\w+)\s*=\s*"([^"]+)"', re.MULTILINE)
REGISTERS = re.compile(r'register\(\s*"([^"]+)"')


def config_problems(blocks: list[Block], registries: dict[str, list[str]]) -> list[str]:
    """Config examples that would not load: an unknown registered name, or an invalid config.

    Every ``@registry = "name"`` in a code block must be registered by the installed plugins or
    by a Python block of the same page; a config block with ``[task]``, ``[teacher]`` and
    ``[data]`` (a whole project config) is loaded and validated by ``load_config``.
    """
    from distil.config import load_config
    from distil.plugins import NAME_RE

    defined = {name for b in blocks if b.lang in PYTHON for name in REGISTERS.findall(b.text)}
    problems = []
    for block in blocks:
        for kind, name in USES.findall(block.text):
            if not NAME_RE.match(name):  # a placeholder ("NAME", "...")
                continue
            if kind not in registries:
                problems.append(f"{block.where}: @{kind} is not a registry")
            elif name not in registries[kind] and name not in defined:
                problems.append(f"{block.where}: @{kind} = {name!r} is not registered")
        whole = all(re.search(rf"^\[{s}\]", block.text, re.M) for s in ("task", "teacher", "data"))
        if block.lang in CONFIG_LANGS and block.runs and whole:
            try:
                load_config(block.text)
            except Exception as exc:
                problems.append(f"{block.where}: the config does not load: {exc}")
    return problems


def test_config_examples_name_registered_things_and_load() -> None:
    from distil.plugins import get_host

    host = get_host()
    registries = {kind: host.names(kind) for kind in host.registries}
    problems = []
    for page in sorted(DOCS.glob("*.md")):
        if page.name not in GENERATED:
            problems += config_problems(code_blocks(page.name, page.read_text()), registries)
    assert not problems, "\n".join(problems)


def test_a_config_example_with_an_unknown_name_is_reported() -> None:
    page = textwrap.dedent(
        """\
        ```ini
        [task]
        @tasks = "textcat.v1"
        labels = ["ham", "spam"]

        [teacher]
        @teachers = "local.zeroshot.v9"

        [data]
        train = "train.jsonl"
        gold = "test.jsonl"
        ```
        """
    )
    registries = {"tasks": ["textcat.v1"], "teachers": ["local.zeroshot.v1"]}
    problems = config_problems(code_blocks("fake.md", page), registries)
    assert problems[0] == "docs/fake.md:1: @teachers = 'local.zeroshot.v9' is not registered"
    assert problems[1].startswith("docs/fake.md:1: the config does not load:")
    assert "local.zeroshot.v9" in problems[1]


# -- (d) the index --------------------------------------------------------------------------------
LINK = re.compile(r"\]\(([^)#\s]+\.md)(#[^)]*)?\)")


def index_problems(index: str, pages: Iterable[str]) -> list[str]:
    linked = set(LINK.findall(index))
    targets = {target for target, _ in linked}
    return [f"docs/README.md does not link {p}" for p in sorted(pages) if p not in targets]


def test_the_index_links_every_page() -> None:
    pages = [p.name for p in DOCS.glob("*.md") if p.name != "README.md"]
    problems = index_problems((DOCS / "README.md").read_text(), pages)
    assert not problems, "\n".join(problems)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """The heading anchors of a page (headings inside code blocks are not headings)."""
    found: set[str] = set()
    in_code = False
    for line in markdown.splitlines():
        if re.match(r"^\s*```", line):
            in_code = not in_code
        elif not in_code and (m := re.match(r"^#{1,6}\s+(.*)$", line)):
            found.add(github_anchor(m.group(1)))
    return found


def test_every_relative_link_between_pages_resolves() -> None:
    broken = []
    for page in sorted(DOCS.glob("*.md")):
        for target, anchor in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            path = page.parent / target
            if not path.is_file():
                broken.append(f"docs/{page.name} links {target}, which does not exist")
            elif anchor and anchor[1:] not in anchors(path.read_text(encoding="utf-8")):
                broken.append(f"docs/{page.name} links {target}{anchor}: no such heading")
        text = page.read_text(encoding="utf-8")
        for anchor in re.findall(r"\]\(#([^)\s]+)\)", text):
            if anchor not in anchors(text):
                broken.append(f"docs/{page.name} links #{anchor}: no such heading on the page")
    assert not broken, "\n".join(broken)


def test_the_static_site_builds_offline_with_strict_link_checks(tmp_path: Path) -> None:
    """mkdocs (optional: the docs are plain Markdown) builds every page; broken links fail it."""
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install mkdocs)")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert result.returncode == 0, result.stderr
    built = {p.stem for p in tmp_path.glob("*.html")}
    pages = {p.stem for p in DOCS.glob("*.md") if p.name != "README.md"}
    assert pages <= built and "index" in built
    # A fence line that did not open a code block shows up as literal backticks, and the
    # fences after it pair up wrongly (headings swallowed into code blocks).
    unrendered = [p.name for p in sorted(tmp_path.glob("*.html")) if "```" in p.read_text("utf-8")]
    assert not unrendered, f"code fences printed as text on: {unrendered}"


# -- the checkers catch what they are for ---------------------------------------------------------
NEW_HOOK = '''

@hookspec
def distil_new_thing(task: Task, example: Example) -> None:
    """A hook added to the spec module without docs or a test."""
'''


def _spec_module(tmp_path: Path, source: str, name: str) -> ModuleType:
    """``source`` (a variant of distil/hookspecs.py) imported as module ``name``."""
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_hook_added_without_docs_or_test_is_reported(tmp_path: Path) -> None:
    source = Path(hookspecs.__file__).read_text(encoding="utf-8") + NEW_HOOK
    specs = hookspec_functions(_spec_module(tmp_path, source, "hookspecs_plus_one"))
    doc = (DOCS / "hooks.md").read_text()
    sources = repo_test_sources()

    problems = hook_problems(specs, doc, sources)
    assert [p for p in problems if p.startswith("distil_new_thing")] == [
        "distil_new_thing: not documented in docs/hooks.md (run scripts/gen_hook_docs.py)",
        "distil_new_thing: no test implements or calls it (a test file must contain "
        "`def distil_new_thing(` or `.distil_new_thing(`)",
    ]
    # Documented but still untested: only the test is missing.
    line = _script("gen_hook_docs.py").signature("distil_new_thing", specs["distil_new_thing"])
    documented = doc + f"\n## `distil_new_thing`\n\n```python\n{line}\n```\n"
    assert [p for p in hook_problems(specs, documented, sources) if "new_thing" in p] == [
        "distil_new_thing: no test implements or calls it (a test file must contain "
        "`def distil_new_thing(` or `.distil_new_thing(`)"
    ]
    # And a test that implements it satisfies the rule.
    tested = {**sources, "tests/test_new.py": "def distil_new_thing(task):\n    ..."}
    assert not [p for p in hook_problems(specs, documented, tested) if "new_thing" in p]


def test_a_signature_that_drifted_from_the_docs_is_reported(tmp_path: Path) -> None:
    src = Path(hookspecs.__file__).read_text(encoding="utf-8")
    changed = src.replace(
        "def register_exporters(register: Register)",
        "def register_exporters(register: Register, strict: bool)",
    )
    assert changed != src
    module = _spec_module(tmp_path, changed, "hookspecs_changed")
    problems = hook_problems(
        hookspec_functions(module), (DOCS / "hooks.md").read_text(), repo_test_sources()
    )
    assert [p for p in problems if p.startswith("register_exporters")] == [
        "register_exporters: docs/hooks.md does not show its exact signature "
        "`def register_exporters(register: Register, strict: bool) -> None`"
    ]


def test_a_registered_name_missing_from_the_reference_is_reported() -> None:
    doc = (DOCS / "config-reference.md").read_text()
    assert reference_problems({"students": ["sklearn.textcat.v1"]}, ["label"], doc) == []
    assert reference_problems(
        {"students": ["sklearn.textcat.v1", "acme.student.v1"]}, ["label", "acme"], doc
    ) == [
        "students name 'acme.student.v1' is not in docs/config-reference.md",
        "section [acme] is not in docs/config-reference.md",
    ]


def test_a_failing_or_unmarked_block_is_reported(tmp_path: Path) -> None:
    page = textwrap.dedent(
        """\
        ```python
        raise SystemExit("the doc is wrong")
        ```

        ```console
        $ distil run distil.cfg --output out
        ```

        ```console no-run
        $ distil run distil.cfg --output out
        ```

        ```python no-run
        client.chat("needs a key")
        ```

        ```console
        $ distil plugins --json
        ```
        """
    )
    blocks = code_blocks("fake.md", page)
    assert [(b.line, b.lang, b.runs) for b in blocks] == [
        (1, "python", True),
        (5, "console", True),
        (9, "console", False),
        (13, "python", False),
        (17, "console", True),
    ]
    run = run_blocks(blocks, tmp_path, timeout=120)
    assert run.ran == ["docs/fake.md:1", "docs/fake.md:17: $ distil plugins --json"]
    assert len(run.problems) == 2
    assert run.problems[0].startswith("docs/fake.md:1: python block failed")
    assert "the doc is wrong" in run.problems[0]
    assert run.problems[1].startswith(
        "docs/fake.md:5: `$ distil run distil.cfg --output out` is too slow for the doc test"
    )


def test_an_unlinked_page_is_reported() -> None:
    assert index_problems(
        "- [guide](guide.md)\n- [hooks](hooks.md#x)", ["guide.md", "hooks.md", "new.md"]
    ) == ["docs/README.md does not link new.md"]
