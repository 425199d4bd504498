"""What a cached result depends on, found rather than listed: the config entries a step reads
(:func:`tracking`, an access-recording view of the :class:`~audiomnist_core.config.Config`),
the project modules its code reaches (:func:`import_closure`) and the versions of the
libraries those modules import (:func:`library_versions`).

A hand-kept list of what a step depends on goes stale the day someone adds a helper, a module
constant or a config read; these are computed from the code and from what the code does, so a
new dependency enters the key without anyone writing it down.
"""
from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import importlib.metadata
import json
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

PACKAGE = "audiomnist_core"
ABSENT = "<absent>"  # the value of a config path that does not exist (a dict entry not set)

# --- the access-recording view of a config ------------------------------------------------

_FRAMES: list[set[str]] = []  # the reads of every open :func:`tracking` frame, outermost first


def _record(path: str) -> None:
    for frame in _FRAMES:
        frame.add(path)


class _TrackedDict(dict):
    """A dict of a config section (``explain.composites``, ``train.schedules``) that records
    each entry read as ``<path>.<key>`` and any use of the whole (iteration, length,
    comparison) as ``<path>``."""

    _path: str | None = None

    def _whole(self) -> None:
        if self._path is not None:
            _record(self._path)

    def _entry(self, key: Any) -> str | None:
        if self._path is None:
            return None
        if isinstance(key, str) and "." not in key:
            return f"{self._path}.{key}"
        self._whole()  # a key that a dotted path cannot name: the dict as a whole is read
        return None

    def __getitem__(self, key):
        path = self._entry(key)
        value = dict.__getitem__(self, key)
        return _view(value, path) if path is not None else value

    def get(self, key, default=None):
        path = self._entry(key)
        if path is not None and not dict.__contains__(self, key):
            _record(path)
        return self[key] if dict.__contains__(self, key) else default

    def __contains__(self, key):
        path = self._entry(key)
        if path is not None:
            _record(path)
        return dict.__contains__(self, key)

    def __iter__(self):
        self._whole()
        return dict.__iter__(self)

    def __len__(self):
        self._whole()
        return dict.__len__(self)

    def __eq__(self, other):
        self._whole()
        return dict.__eq__(self, other)

    def __ne__(self, other):
        self._whole()
        return dict.__ne__(self, other)

    def __repr__(self):
        self._whole()
        return dict.__repr__(self)

    def keys(self):
        self._whole()
        return dict.keys(self)

    def values(self):
        self._whole()
        return dict.values(self)

    def items(self):
        self._whole()
        return dict.items(self)

    def copy(self):
        self._whole()
        return dict(dict.items(self))

    __hash__ = None


@functools.lru_cache(maxsize=None)
def _tracked_class(cls: type) -> type:
    """A subclass of the config dataclass ``cls`` whose instances record each field read."""
    names = frozenset(f.name for f in dataclasses.fields(cls))

    def __getattribute__(self, name):
        value = object.__getattribute__(self, name)
        if name not in names:
            return value
        prefix = object.__getattribute__(self, "__dict__").get("_tracked_path")
        if prefix is None:
            return value
        return _view(value, f"{prefix}.{name}" if prefix else name)

    def whole(method):
        def wrapped(self, *args):
            prefix = object.__getattribute__(self, "__dict__").get("_tracked_path")
            if prefix is not None:
                _record(prefix)  # "" for the whole config
            return method(untracked(self), *(untracked(a) for a in args))

        return wrapped

    return type(f"Tracked{cls.__name__}", (cls,), {
        "__getattribute__": __getattribute__,
        "__eq__": whole(cls.__eq__), "__hash__": whole(cls.__hash__) if cls.__hash__ else None,
        "__reduce__": lambda self: (untracked, (untracked(self),)),
    })


def _view(value: Any, path: str) -> Any:
    """``value`` found at config ``path``: a recording view where it is a section or a dict,
    else the value itself, recorded as read."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if "_tracked_path" in value.__dict__:
            value = untracked(value)
        view = object.__new__(_tracked_class(type(value)))
        view.__dict__.update(value.__dict__)
        view.__dict__["_tracked_path"] = path
        view.__dict__["_tracked_of"] = value
        return view
    if isinstance(value, dict):
        view = _TrackedDict(value)
        view._path = path
        return view
    if path:
        _record(path)
    return value


def untracked(value: Any) -> Any:
    """The config (or section) behind a recording view; anything else as it is."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.__dict__.get("_tracked_of", value)
    if isinstance(value, _TrackedDict):
        return dict(dict.items(value))
    return value


def is_tracked(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and "_tracked_of" in getattr(value, "__dict__", {})


@contextlib.contextmanager
def tracking(holder: Any, attribute: str = "config") -> Iterator[set[str]]:
    """Record the config entries read while the block runs: ``holder.<attribute>`` (a
    :class:`Run`'s config) is a recording view inside it, and the yielded set collects the
    dotted paths read (``"benchmark.samples"``, ``"explain.composites.alexnet"``,
    ``"train.schedules.audionet/digits.learning_rate"``). A section used as a whole (compared,
    hashed) is recorded by its own path. Frames nest: a read counts for every open frame."""
    reads: set[str] = set()
    original = getattr(holder, attribute)
    outermost = not is_tracked(original)
    if outermost:
        setattr(holder, attribute, _view(original, ""))
    frames = _FRAMES  # the list open now (detached() may swap in another meanwhile)
    frames.append(reads)
    try:
        yield reads
    finally:
        del frames[next(i for i in range(len(frames) - 1, -1, -1) if frames[i] is reads)]  # by identity
        if outermost:
            setattr(holder, attribute, original)


@contextlib.contextmanager
def detached() -> Iterator[None]:
    """Reads inside the block count for no open frame: for a nested step whose result
    reaches the enclosing one by content (a checkpoint, hashed as its input) and not by
    what that nested step read."""
    global _FRAMES
    outer, _FRAMES = _FRAMES, []
    try:
        yield
    finally:
        _FRAMES = outer


def open_reads() -> set[str]:
    """The reads of the innermost open :func:`tracking` frame so far (empty outside one)."""
    return set(_FRAMES[-1]) if _FRAMES else set()


def minimal(paths: Iterable[str] | set[str]) -> list[str]:
    """``paths`` without those inside another of them (``"train"`` covers ``"train.seed"``), sorted."""
    paths = set(paths)
    if "" in paths:
        return [""]
    ordered = sorted(set(paths), key=lambda p: (p.count("."), p))
    kept: list[str] = []
    for p in ordered:
        if not any(p.startswith(k + ".") for k in kept):
            kept.append(p)
    return sorted(kept)


def plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (dataclasses as dicts, tuples as lists)."""
    value = untracked(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def config_value_raw(cfg: Any, path: str) -> Any:
    """The value at dotted ``path`` of a config, as it is there (:data:`ABSENT` where a dict lacks it)."""
    value = untracked(cfg)
    for part in path.split(".") if path else []:
        if isinstance(value, dict):
            if part not in value:
                return ABSENT
            value = value[part]
        else:
            value = getattr(value, part)
    return value


def config_value(cfg: Any, path: str) -> Any:
    """The plain value at dotted ``path`` of a config, as a key holds it (:func:`plain`)."""
    return plain(config_value_raw(cfg, path))


def config_paths(cfg: Any, prefix: str = "") -> list[str]:
    """Every leaf path of a config (dict entries included), for tests that change each."""
    value = untracked(cfg)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        children = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    elif isinstance(value, dict) and value and all(isinstance(k, str) and "." not in k for k in value):
        children = value
    else:
        return [prefix]
    out: list[str] = []
    for name, child in children.items():
        out += config_paths(child, f"{prefix}.{name}" if prefix else name)
    return out


# --- the code a step runs -----------------------------------------------------------------

def module_file(name: str, root: Path) -> Path | None:
    """The file of module ``name`` (relative to the package, ``""`` the package itself)."""
    base = root.joinpath(*name.split(".")) if name else root
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    path = base.with_suffix(".py")
    return path if name and path.is_file() else None


def _package_of(name: str, root: Path) -> str:
    """The package a module's relative imports start from."""
    path = module_file(name, root)
    return name if path is not None and path.name == "__init__.py" else name.rpartition(".")[0]


@functools.lru_cache(maxsize=1024)
def _imports(name: str, root: Path, source: tuple, files: tuple) -> tuple[frozenset[str], frozenset[str]]:
    """``(project modules, top-level outside modules)`` that module ``name`` imports,
    anywhere in its code (functions included). ``source`` (its file's path, mtime and size)
    and ``files`` (the package's file names, which decide what an import resolves to) key the
    cache, so a changed tree parses only the files that changed."""
    path = module_file(name, root)
    tree = ast.parse(path.read_text(), filename=str(path))
    inner, outer = set(), set()

    def project(dotted: str, names: Iterable[str] = ()) -> None:
        if module_file(dotted, root) is None:
            return
        defined_here = not names  # ``import x.y``: the module itself
        for n in names:
            sub = f"{dotted}.{n}" if dotted else n
            if n != "*" and module_file(sub, root) is not None:
                inner.add(sub)
            else:
                defined_here = True  # a name the module (a package's __init__) defines
        if defined_here:
            inner.add(dotted)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top, _, rest = alias.name.partition(".")
                if top == PACKAGE:
                    project(rest)
                else:
                    outer.add(top)
        elif isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names]
            if node.level:
                base = _package_of(name, root).split(".") if _package_of(name, root) else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                dotted = ".".join(base + ([node.module] if node.module else []))
                project(dotted, names)
            elif node.module.partition(".")[0] == PACKAGE:
                project(node.module.partition(".")[2], names)
            else:
                outer.add(node.module.partition(".")[0])
    return frozenset(inner), frozenset(outer)


@functools.lru_cache(maxsize=64)
def _closure(roots: tuple[str, ...], root: Path, stamp: tuple) -> tuple[tuple[str, ...], tuple[str, ...]]:
    seen: set[str] = set()
    outside: set[str] = set()
    sources = {path: (path, mtime, size) for path, mtime, size in stamp}
    files = tuple(sources)
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if module_file(name, root) is None:
            raise ValueError(f"{root}: no module {name!r} in the package")
        seen.add(name)
        inner, outer = _imports(name, root, sources[str(module_file(name, root))], files)
        outside |= outer
        todo += sorted(inner - seen)
    return tuple(sorted(seen)), tuple(sorted(outside))


def _tree_stamp(root: Path) -> tuple:
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(root.rglob("*.py")))


def import_closure(roots: Iterable[str], root: Path) -> list[str]:
    """The project modules (names relative to the package, ``""`` for its ``__init__``) that
    ``roots`` reach through their imports, each import statement anywhere in a module's code
    followed. ``from .x import f`` reaches module ``x``; ``from . import y`` reaches ``y``
    where it is a module and the package's ``__init__`` where it is a name defined there.
    A package's ``__init__`` is not reached merely because one of its modules is."""
    return list(_closure(tuple(sorted(set(roots))), root, _tree_stamp(root))[0])


def outside_imports(roots: Iterable[str], root: Path) -> list[str]:
    """The top-level names of the modules outside the project that the closure of ``roots``
    imports (``torch``, ``zennit``, ``numpy``, ``os``, ...)."""
    return list(_closure(tuple(sorted(set(roots))), root, _tree_stamp(root))[1])


@functools.lru_cache(maxsize=None)
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def library_versions(modules: Iterable[str]) -> dict[str, str]:
    """``{distribution: version}`` of the installed libraries that provide the top-level
    modules ``modules`` (the standard library and the project itself left out)."""
    out = {}
    for name in modules:
        if name in sys.stdlib_module_names or name == PACKAGE:
            continue
        for dist in _distributions().get(name, []):
            try:
                out[dist.lower()] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
    return dict(sorted(out.items()))
