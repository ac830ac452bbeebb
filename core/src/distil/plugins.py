"""The guarded plugin loader and the registries. The only place entry points are read.

Loading order: the built-in plugins of core (``distil.builtins``) first, then every entry point in
group ``distil`` in name order. Each plugin is imported, registered with pluggy and checked
(``check_pending``: a misspelled hook is an error) one at a time, so a broken plugin is skipped with a
warning that names it and the rest still load. ``DISTIL_STRICT_PLUGINS=1`` turns that warning into an
error. ``DISTIL_PLUGINS=a,b`` loads only those entry points; ``DISTIL_DISABLE_PLUGINS=c`` blocks some.

Registration hooks get a ``register(name, factory)`` callback bound to the calling plugin, so every
registered name knows its plugin, and a name registered twice is an error naming both plugins.

A plugin declares the distil versions it supports as its distribution's requirement on ``distil``
(``dependencies = ["distil>=0.1,<0.3"]``) or, for a module registered without a distribution, a
``DISTIL_CORE = ">=0.1,<0.3"`` attribute (which wins when both are set). Outside that range the
plugin still loads, with a warning naming it (strict mode raises); ``distil plugins`` shows the range.
``DISTIL_TRACE_PLUGINS=1`` prints every hook call, the registration hooks included, to stderr.

Nothing here loads a plugin at import: the process-wide host is built on the first
:func:`get_host`. A plugin that adds ``distil`` commands declares their names in the
``distil.commands`` entry-point group (``annotate = "distil_annotate.plugin"``), so that
``distil --help`` can list them from the installed metadata alone (:func:`declared_commands`).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError, RegistryError
from .suggest import did_you_mean
from .tasks.extract_normalise import use_registry

logger = logging.getLogger("distil.plugins")

hookimpl = pluggy.HookimplMarker("distil")

ENTRY_POINT_GROUP = "distil"
#: Entry points naming the commands a plugin adds: ``command-name = "plugin.module"``.
COMMANDS_ENTRY_POINT_GROUP = "distil.commands"
#: The registries, and the hook that fills each.
REGISTRIES: dict[str, str] = {
    "tasks": "register_tasks",
    "teachers": "register_teachers",
    "providers": "register_providers",
    "students": "register_students",
    "exporters": "register_exporters",
    "executors": "register_executors",
    "normalisers": "register_normalisers",
}
NAME_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*\.v[0-9]+$")
BUILTIN = "distil"


def _env_list(name: str) -> set[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return {x.strip() for x in raw.split(",") if x.strip()}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class Registered:
    """One registered factory and where it came from."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str


@dataclass
class PluginInfo:
    """What ``distil plugins`` shows for one plugin."""

    name: str
    module: str
    version: str | None = None
    distribution: str | None = None
    status: str = "loaded"  # loaded | failed | disabled
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)
    #: The distil versions the plugin supports (a PEP 440 specifier), None when undeclared.
    supports: str | None = None
    #: False when this distil is outside ``supports``; None when there is nothing to check.
    compatible: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "version": self.version,
            "distribution": self.distribution,
            "status": self.status,
            "error": self.error,
            "hooks": self.hooks,
            "registered": self.registered,
            "supports": self.supports,
            "compatible": self.compatible,
        }


class PluginHost:
    """A pluggy plugin manager plus the registries its plugins filled.

    Use :func:`get_host` for the process-wide host; tests may build their own with explicit
    ``modules`` (no entry points read) to load exactly what they name.
    """

    def __init__(
        self,
        *,
        entry_points: bool = True,
        modules: Iterable[tuple[str, ModuleType | str]] = (),
        strict: bool | None = None,
        allow: set[str] | None = None,
        deny: set[str] | None = None,
    ) -> None:
        self.pm = pluggy.PluginManager("distil")
        self.pm.add_hookspecs(hookspecs)
        self.strict = _env_flag("DISTIL_STRICT_PLUGINS") if strict is None else strict
        self.allow = _env_list("DISTIL_PLUGINS") if allow is None else allow
        self.deny = (_env_list("DISTIL_DISABLE_PLUGINS") or set()) if deny is None else deny
        self.plugins: dict[str, PluginInfo] = {}
        self.registries: dict[str, dict[str, Registered]] = {k: {} for k in REGISTRIES}
        self._tracing = _env_flag("DISTIL_TRACE_PLUGINS")
        if self._tracing:
            self._trace()
        self._load_module(BUILTIN, "distil.builtins", version=_version("distil"), dist="distil")
        for name, module in modules:
            self._load_module(name, module)
        if entry_points:
            self._load_entry_points()
        self._collect_registrations()

    # -- loading -------------------------------------------------------------------------------
    def _skip(self, info: PluginInfo, message: str, exc: BaseException | None = None) -> None:
        info.status = "failed"
        info.error = message
        self.plugins[info.name] = info
        if self.strict:
            raise PluginError(f"plugin '{info.name}' ({info.module}): {message}") from exc
        logger.warning(
            "distil: skipped plugin '%s' (%s): %s. Set DISTIL_DISABLE_PLUGINS=%s to silence this.",
            info.name,
            info.module,
            message,
            info.name,
        )

    def _allowed(self, name: str, dist: str | None) -> bool:
        names = {name} | ({dist} if dist else set())
        if names & self.deny:
            return False
        return self.allow is None or bool(names & self.allow)

    def _load_entry_points(self) -> None:
        eps = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        for ep in eps:
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            if ep.name in self.plugins:
                existing = self.plugins[ep.name]
                self._skip(
                    PluginInfo(ep.name, ep.value, version, dist),
                    f"the plugin name '{ep.name}' is already taken by {existing.module}",
                )
                continue
            if not self._allowed(ep.name, dist):
                self.plugins[ep.name] = PluginInfo(ep.name, ep.value, version, dist, "disabled")
                continue
            self._load_module(
                ep.name,
                ep.value,
                version=version,
                dist=dist,
                loader=ep.load,
                supports=requirement_on_distil(ep.dist.requires if ep.dist else None),
            )

    def _load_module(
        self,
        name: str,
        module: ModuleType | str,
        *,
        version: str | None = None,
        dist: str | None = None,
        loader: Callable[[], Any] | None = None,
        supports: str | None = None,
    ) -> None:
        modname = (
            module
            if isinstance(module, str)
            else getattr(module, "__name__", type(module).__name__)
        )
        info = PluginInfo(name, modname, version, dist)
        try:
            if isinstance(module, str):
                obj = loader() if loader else importlib.import_module(module)
            else:
                obj = module
        except Exception as exc:  # a broken plugin must not take the host down
            self._skip(info, f"failed to import: {type(exc).__name__}: {exc}", exc)
            return
        try:
            self.pm.register(obj, name=name)
        except Exception as exc:  # pluggy.PluginValidationError and friends
            self._skip(info, f"invalid hook implementation: {exc}", exc)
            return
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(obj, name=name)
            self._skip(info, f"implements a hook distil does not have: {exc}", exc)
            return
        info.hooks = sorted(
            h.name for h in self.pm.get_hookcallers(obj) or [] if h.name in _hook_names()
        )
        self.plugins[name] = info
        declared = getattr(obj, "DISTIL_CORE", None)
        info.supports = declared if isinstance(declared, str) else supports
        self._check_core_version(info)

    def _check_core_version(self, info: PluginInfo) -> None:
        """Warn (strict: raise) when this distil is outside the versions the plugin supports."""
        if not info.supports or info.name == BUILTIN:
            return
        core = _version("distil") or _core_version_attr()
        verdict = version_in_range(core, info.supports)
        if isinstance(verdict, str):  # the declared range itself is malformed
            info.compatible = False
            message = f"declares an invalid distil version range {info.supports!r}: {verdict}"
        else:
            info.compatible = verdict
            if verdict:
                return
            message = (
                f"supports distil {info.supports} but this is distil {core}; it may break. "
                "Upgrade the plugin, or install a distil version it supports"
            )
        if self.strict:
            raise PluginError(f"plugin '{info.name}' ({info.module}) {message}")
        logger.warning("distil: plugin '%s' (%s) %s.", info.name, info.module, message)

    def _collect_registrations(self) -> None:
        for kind, hookname in REGISTRIES.items():
            caller = getattr(self.pm.hook, hookname, None)
            if caller is None:
                continue
            for impl in caller.get_hookimpls():
                plugin = self.pm.get_name(impl.plugin) or "?"
                register = self._register_for(kind, plugin)
                if self._tracing:  # registration hooks are called one by one, not through pluggy
                    print(
                        f"distil trace: {hookname}(register=<{kind}>) -> [{plugin}]",
                        file=sys.stderr,
                    )
                try:
                    impl.function(**{a: register for a in impl.argnames})
                except DuplicateNameError:
                    raise  # two plugins claim one name: always an error, naming both
                except Exception as exc:
                    self._unload(plugin)
                    self._skip(
                        self.plugins.get(plugin) or PluginInfo(plugin, "?"),
                        f"{hookname}() raised {type(exc).__name__}: {exc}",
                        exc,
                    )

    def _unload(self, plugin: str) -> None:
        for registry in self.registries.values():
            for key in [k for k, r in registry.items() if r.plugin == plugin]:
                del registry[key]
        obj = self.pm.get_plugin(plugin)
        if obj is not None:
            self.pm.unregister(obj, name=plugin)

    def _register_for(self, kind: str, plugin: str) -> Callable[..., None]:
        def register(name: str, factory: Callable[..., Any] | None = None) -> Any:
            if factory is None:  # used as a decorator: @register("x.v1")

                def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
                    register(name, fn)
                    return fn

                return deco
            if not NAME_RE.match(name):
                raise PluginError(
                    f"plugin '{plugin}' registered {kind} name '{name}': names are lowercase, "
                    "dotted and versioned, like 'myplugin.thing.v1'"
                )
            existing = self.registries[kind].get(name)
            if existing is not None and existing.plugin != plugin:
                raise DuplicateNameError(
                    f"{kind} name '{name}' is registered by both plugin '{existing.plugin}' and "
                    f"plugin '{plugin}'. Disable one with DISTIL_DISABLE_PLUGINS."
                )
            self.registries[kind][name] = Registered(kind, name, factory, plugin)
            info = self.plugins.get(plugin)
            if info is not None:
                info.registered.setdefault(kind, []).append(name)
            return None

        return register

    def _trace(self) -> None:
        def before(hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
            who = ", ".join(self.pm.get_name(i.plugin) or "?" for i in impls)
            args = ", ".join(f"{k}={_short(v)}" for k, v in kwargs.items())
            print(f"distil trace: {hook_name}({args}) -> [{who}]", file=sys.stderr)

        def after(
            outcome: Any, hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]
        ) -> None:
            return None

        self.pm.add_hookcall_monitoring(before, after)

    # -- lookup --------------------------------------------------------------------------------
    @property
    def hook(self) -> Any:
        return self.pm.hook

    def get(self, kind: str, name: str) -> Registered:
        """The registered factory, or a RegistryError listing what is available."""
        if kind not in self.registries:
            raise RegistryError(f"unknown registry '{kind}'; registries: {sorted(self.registries)}")
        try:
            return self.registries[kind][name]
        except KeyError:
            raise RegistryError(unknown_name_message(kind, name, self.names(kind))) from None

    def names(self, kind: str) -> list[str]:
        return sorted(self.registries.get(kind, {}))

    def create(self, kind: str, name: str, **kwargs: Any) -> Any:
        return self.get(kind, name).factory(**kwargs)


class DuplicateNameError(PluginError):
    """Two plugins registered the same name in one registry."""


def unknown_name_message(kind: str, name: str, available: list[str]) -> str:
    hint = ""
    close = did_you_mean(name, available)
    if close is None and (where := _other_registry(kind, name) or install_hint(name)):
        hint = f" {where}"
    listing = ", ".join(available) if available else "(none)"
    guess = f"; did you mean '{close}'?" if close else "."
    return f"no {kind} registered as '{name}'{guess} Available: {listing}.{hint}"


def _other_registry(kind: str, name: str) -> str:
    """Where ``name`` is registered when it is, but in another registry (a provider's name given
    as a teacher): the hint that beats any install hint, as the package is loaded."""
    host = loaded_host()
    for other, registry in (host.registries if host is not None else {}).items():
        if other != kind and name in registry:
            plugin = registry[name].plugin
            info = host.plugins.get(plugin) if host is not None else None
            dist = f", {info.distribution}" if info is not None and info.distribution else ""
            return f"'{name}' is registered as one of the {other} (plugin '{plugin}'{dist}), not {kind}."
    return ""


def install_hint(name: str | None) -> str:
    """Which package may provide ``name`` (a registered name such as ``openai.chat.v1``, or a
    ``distil init`` choice such as ``openai``), read from the installed plugins' entry-point
    metadata, not from a list kept in core.

    A plugin's entry point is named like the names it registers (``openai`` registers
    ``openai.chat.v1``). An installed plugin with the name's first part as its entry point that
    failed to load or is disabled is named with the reason; one the process-wide host did not
    read (a host built from explicit modules) is named by its distribution. When none is
    installed, the hint names the distribution that convention gives distil's own plugins
    (``distil-openai``), as a "may".
    """
    if not name:
        return "The README's Layout table lists distil's own plugins."
    prefix = name.split(".", 1)[0]
    package = f"distil-{prefix}"
    host = loaded_host()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else ep.value
        if ep.name != prefix and dist != package:
            continue
        info = host.plugins.get(ep.name) if host is not None else None
        where = f"the installed plugin '{ep.name}' ({dist})"
        if info is None:
            package = dist
            break
        if info.status == "failed":
            return f"'{name}' may be provided by {where}, which failed to load: {info.error}."
        if info.status == "disabled":
            return (
                f"'{name}' may be provided by {where}, which is disabled "
                "(DISTIL_PLUGINS / DISTIL_DISABLE_PLUGINS)."
            )
        return ""  # loaded, and it does not provide the name
    return f"'{name}' may be provided by the package {package}: pip install it."


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _hook_names() -> set[str]:
    return {n for n in dir(hookspecs) if n.startswith(("register_", "distil_"))}


def requirement_on_distil(requires: Iterable[str] | None) -> str | None:
    """The version specifier of a distribution's requirement on ``distil`` (None: no range).

    Requirements that apply only with an extra (``distil>=0.2; extra == "x"``) are ignored.
    """
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    for line in requires or ():
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) != BUILTIN:
            continue
        if req.marker is not None and "extra" in str(req.marker):
            continue
        return str(req.specifier) or None
    return None


def version_in_range(version: str, spec: str) -> bool | str:
    """True when ``version`` is in the PEP 440 range ``spec`` (pre-releases count); a string
    saying what is wrong when ``spec`` is not a valid range."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        specifier = SpecifierSet(spec)
    except InvalidSpecifier as exc:
        return str(exc)
    return specifier.contains(version, prereleases=True)


def _core_version_attr() -> str:
    from ._version import __version__

    return __version__


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    global _HOST
    if _HOST is None:
        _HOST = PluginHost()
    return _HOST


def loaded_host() -> PluginHost | None:
    """The process-wide host when it is loaded already, else None (loads nothing)."""
    return _HOST


def declared_commands() -> dict[str, tuple[str, str]]:
    """``{command: (distribution, its one-line summary)}`` of the commands installed plugins
    declare in the ``distil.commands`` entry-point group, read from their metadata: no plugin is
    imported. ``DISTIL_PLUGINS`` / ``DISTIL_DISABLE_PLUGINS`` apply as to loading (by the
    distribution's name or the entry point's value). The command itself still comes from the
    plugin's ``register_commands`` hook; a name declared but never added is "no such command".
    """
    allow = _env_list("DISTIL_PLUGINS")
    deny = _env_list("DISTIL_DISABLE_PLUGINS") or set()
    found: dict[str, tuple[str, str]] = {}
    for ep in sorted(metadata.entry_points(group=COMMANDS_ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist else ep.value
        names = {dist, ep.value, *_plugin_names(ep.dist)}
        if names & deny or (allow is not None and not names & allow):
            continue
        summary = (ep.dist.metadata["Summary"] if ep.dist else None) or ""
        found.setdefault(ep.name, (dist, summary.strip()))
    return found


def _plugin_names(dist: Any) -> set[str]:
    """The names of a distribution's ``distil`` plugin entry points (how users allow/deny)."""
    if dist is None:
        return set()
    return {ep.name for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP}


def set_host(host: PluginHost | None) -> None:
    """Replace the process-wide host (tests use this to load exactly the plugins they name)."""
    global _HOST
    _HOST = host


def _registered_normalisers() -> dict[str, Callable[..., Any]]:
    """The ``normalisers`` registry of the process-wide host (loaded on first use), name →
    factory. The extract planner, in the tasks layer below this module, reads it through
    :func:`distil.tasks.extract_normalise.use_registry`."""
    return {k: r.factory for k, r in get_host().registries.get("normalisers", {}).items()}


use_registry(_registered_normalisers)
