"""Registries of extension points, one decorator each.

``generators``, ``datasets``, ``features``, ``measurements``, ``checks`` and
``metrics`` are filled by the package and by plugins. A plugin joins either by a
``module:attribute`` reference in a spec, or through the entry-point group
``evalkit.plugins`` (an entry point names a module whose import registers things).
A second registration under a taken name is an error, not a silent override.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

from ._errors import SpecError, UsageError

log = logging.getLogger(__name__)
T = TypeVar("T")

ENTRY_POINT_GROUP = "evalkit.plugins"


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered thing: its name, the object, a one-line help and free-form facts."""

    name: str
    obj: T
    help: str
    info: dict[str, Any]


class Registry(Generic[T]):
    """Name -> object map that rejects duplicates and suggests near names on a miss."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, obj: T, help: str | None = None, **info: Any) -> T:
        if not name or not isinstance(name, str):
            raise UsageError(f"a {self.kind} needs a non-empty string name, got {name!r}")
        if name in self._entries:
            raise UsageError(f"{self.kind} {name!r} is already registered (by {_where(self._entries[name].obj)})")
        doc = help if help is not None else (getattr(obj, "__doc__", None) or "").strip().splitlines()
        if isinstance(doc, list):
            doc = doc[0] if doc else ""
        self._entries[name] = Entry(name, obj, doc, dict(info))
        return obj

    def __call__(self, name: str | None = None, *, help: str | None = None, **info: Any) -> Callable[[T], T]:
        """Decorator form: ``@checks("my_check")``; the name defaults to the function's name."""

        def deco(obj: T) -> T:
            self.register(name or getattr(obj, "__name__"), obj, help, **info)
            return obj

        return deco

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    # Reads load the built-ins and plugins first (`import evalkit` itself stays light).
    def __contains__(self, name: object) -> bool:
        load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        load_plugins()
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        load_plugins()
        return sorted(self._entries)

    def suggest(self, name: str) -> str | None:
        near = difflib.get_close_matches(name, self._entries, n=1, cutoff=0.6)
        return near[0] if near else None

    def unknown_message(self, name: str) -> str:
        near = self.suggest(name)
        if near:
            return f"unknown {self.kind} {name!r}; did you mean {near!r}?"
        known = ", ".join(self.names()) or "none registered"
        return f"unknown {self.kind} {name!r}; known: {known}"

    def get(self, name: str) -> Entry[T]:
        load_plugins()
        if name in self._entries:
            return self._entries[name]
        raise SpecError(self.unknown_message(name))


generators: Registry[Any] = Registry("generator")
datasets: Registry[Any] = Registry("dataset")
features: Registry[Any] = Registry("feature extractor")
measurements: Registry[Any] = Registry("measurement")
checks: Registry[Any] = Registry("check")
metrics: Registry[Any] = Registry("metric")

REGISTRIES: dict[str, Registry[Any]] = {
    "generators": generators,
    "datasets": datasets,
    "features": features,
    "measurements": measurements,
    "checks": checks,
    "metrics": metrics,
}

# Short decorator names, in the style of inspect_ai: ``@evalkit.check("name")``.
generator = generators
dataset = datasets
feature = features
measurement = measurements
check = checks
metric = metrics

_plugins_loaded = False


def load_plugins() -> None:
    """Import the built-ins and every module named in the ``evalkit.plugins`` entry-point group (once)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from . import _builtins  # noqa: F401  (registers the package's own entries)

    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:  # a broken plugin must not take the whole tool down
            log.warning("plugin %s (%s) failed to load: %s", ep.name, ep.value, exc)


def is_reference(text: str) -> bool:
    """True for ``module:attribute`` references to user code."""
    mod, sep, attr = text.partition(":")
    return bool(sep) and bool(mod) and bool(attr) and all(p.isidentifier() for p in mod.split(".")) and all(
        p.isidentifier() for p in attr.split(".")
    )


def resolve_reference(text: str) -> Any:
    """Import ``module:attribute`` (attribute may be dotted); errors say which part failed."""
    mod_name, _, attr = text.partition(":")
    try:
        obj: Any = importlib.import_module(mod_name)
    except (Exception, SystemExit) as exc:  # a module calling sys.exit() at import must not end evalkit with its code
        raise SpecError(
            f"cannot import module {mod_name!r} of {text!r}: {type(exc).__name__}: {exc} "
            "(is it installed, or on PYTHONPATH / in the spec's folder?)"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            near = difflib.get_close_matches(part, names, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise SpecError(f"module {mod_name!r} has no attribute {part!r} (in {text!r}){hint}")
        obj = getattr(obj, part)
    return obj


def _where(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"
