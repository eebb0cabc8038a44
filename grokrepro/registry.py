"""One registration pattern for every pluggable kind: a task, a model, a probe, a learning-rate schedule, a base
optimiser, a stop rule.

A kind is a pydantic Settings model (its fields are what a spec may write, `kind` included) and an
implementation, registered under its `kind` in the registry of its sort:

    @TASKS.register("sparse_parity", SparseParitySettings, coords=("n_bits", "k"))
    def sparse_parity(settings, split_seed): ...

What the spec layer and the curves need to know about kinds is read from here, never kept by hand: the schema's
discriminated unions (`union`), the tags pydantic puts into error paths (`kinds`), the fields that may differ
between the runs of one vmapped group (`per_run`), the fields recorded as run coordinates (`coords`) and the
units of the variables a probe writes (`outputs`).

The library's kinds are registered by the modules of each registry's packages, imported on first use. Those
modules import no torch: an implementation that needs torch is named as "module:attribute" and imported only
when a kind is built, so validating a spec never imports torch. A researcher's kinds live in plug-in files named
by the spec (`plugins: [lab/tasks.py]`, see `load_plugins`) and may register the implementation itself.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, TypeAdapter


class Strict(BaseModel):
    """Settings that refuse unknown keys (a typo is an error, not a silently ignored setting)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def drop_if_default(data: dict, defaults: dict) -> dict:
    """Leave out optional fields at their defaults, so that adding one changes no existing run's id (ids hash
    the dumped configuration)."""
    return {k: v for k, v in data.items() if not (k in defaults and v == defaults[k])}


@dataclass(frozen=True)
class Kind:
    name: str
    settings: type[BaseModel]
    implementation: Any  # the object, or "module:attribute" imported on first use
    module: str  # where it was registered (named in errors)
    # Settings that may differ between the runs of one vmapped group (values, not shapes).
    per_run: tuple[str, ...] = ()
    # Settings recorded as coordinates on the curves' `run` dimension, when every run of a file has them.
    coords: tuple[str, ...] = ()
    # Variables the kind writes into the curves: name -> (units, long name).
    outputs: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Anything else the kind's users read (e.g. a probe's per-run inputs); free-form.
    extra: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        if isinstance(self.implementation, str):
            module, _, attribute = self.implementation.partition(":")
            return getattr(importlib.import_module(module), attribute)
        return self.implementation


def _where(module: str) -> str:
    """A module's file where it has one (a plug-in's module name says nothing to its author)."""
    return getattr(sys.modules.get(module), "__file__", None) or module


class Registry:
    """The kinds of one sort (tasks, models, ...), each registered once."""

    def __init__(self, sort: str, packages: tuple[str, ...] = (), tagged: bool = True):
        # tagged: a kind is chosen by a `kind` field, which pydantic puts into error paths as a tag
        self.sort, self.packages, self.tagged = sort, packages, tagged
        self._kinds: dict[str, Kind] = {}
        self._loaded = False
        self.version = 0  # bumped on every registration, so that derived schemas are rebuilt

    def register(self, kind: str, settings: type[BaseModel], implementation: Any = None, *, per_run=(),
                 coords=(), outputs=None, **extra):
        """Register `kind`; used as a decorator when `implementation` is not given."""

        def add(target):
            module = getattr(target, "__module__", None) or settings.__module__
            previous = self._kinds.get(kind)
            if previous is not None and previous.module != module:
                raise ValueError(f"a {self.sort} of kind {kind!r} is registered twice ({_where(previous.module)} "
                                 f"and {_where(module)})")
            self._kinds[kind] = Kind(kind, settings, target, module, tuple(per_run), tuple(coords),
                                     dict(outputs or {}), extra)
            self.version += 1
            return target

        return add if implementation is None else add(implementation)

    def _load_library(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for package_name in self.packages:
            package = importlib.import_module(package_name)
            for module in pkgutil.iter_modules(package.__path__):
                if not module.name.startswith("_"):  # _name: an implementation or helper module, no kinds
                    importlib.import_module(f"{package_name}.{module.name}")

    def kinds(self) -> dict[str, Kind]:
        self._load_library()
        return dict(self._kinds)

    def __getitem__(self, kind: str) -> Kind:
        known = self.kinds()
        if kind not in known:
            raise KeyError(f"unknown {self.sort} kind {kind!r} (known: {', '.join(sorted(known))})")
        return known[kind]

    def __contains__(self, kind: str) -> bool:
        return kind in self.kinds()

    def union(self):
        """The settings of every kind as one pydantic type, discriminated by `kind`."""
        settings = tuple(k.settings for k in self.kinds().values())
        if len(settings) == 1:
            return settings[0]
        return Annotated[Union[settings], Field(discriminator="kind")]

    def adapter(self) -> TypeAdapter:
        """A validator of any registered kind's settings, rebuilt when a kind is added."""
        self._load_library()
        if getattr(self, "_adapter_version", None) != self.version:
            self._adapter, self._adapter_version = TypeAdapter(self.union()), self.version
        return self._adapter

    def validate(self, data: Any) -> BaseModel:
        return self.adapter().validate_python(data)

    def field(self):
        """A pydantic field type that validates any registered kind's settings by its `kind` (the kinds known
        when it validates, plug-ins included)."""
        return Annotated[Any, PlainValidator(self.validate)]

    def per_run(self, kind: str) -> tuple[str, ...]:
        return self[kind].per_run

    def coords(self) -> tuple[str, ...]:
        """Every kind's coordinate fields, in registration order, each once."""
        return tuple(dict.fromkeys(c for k in self.kinds().values() for c in k.coords))

    def outputs(self) -> dict[str, tuple[str, str]]:
        return {name: units for k in self.kinds().values() for name, units in k.outputs.items()}


TASKS = Registry("task", ("grokrepro.tasks",))
MODELS = Registry("model", ("grokrepro.models.kinds",))
PROBES = Registry("probe", ("grokrepro.probes",))
SCHEDULES = Registry("schedule", ("grokrepro.schedules",))
OPTIMIZERS = Registry("optimizer", ("grokrepro.optimizers",))
# Stop rules are keys of `train` named by their kind (`train.early_stop: {...}`), not a list with a `kind` field,
# so their Settings have no `kind`; a rule registered with `in_every_config=True` is in every run's configuration
# at its defaults (the library's two rules, which every run id has always hashed).
STOP_RULES = Registry("stop rule", ("grokrepro.stop_rules",), tagged=False)
REGISTRIES = {"task": TASKS, "model": MODELS, "probe": PROBES, "schedule": SCHEDULES, "optimizer": OPTIMIZERS,
              "stop rule": STOP_RULES}


# A claim's own figures from a plug-in: claim -> figure name -> draw(curves, verdict) -> matplotlib Figure. (The
# library's claims keep theirs in grokrepro/figures/<claim>.py.)
CLAIM_FIGURES: dict[str, dict[str, Any]] = {}


def figure(claim: str, name: str):
    """Register a figure of `claim`, drawn beside the generic ones: `@figure("my_claim", "norm_over_time")`."""

    def add(draw):
        CLAIM_FIGURES.setdefault(claim, {})[name] = draw
        return draw

    return add


def all_kind_names() -> set[str]:
    """Every kind name chosen by a `kind` field (pydantic puts that tag into error paths; readers drop it). A stop
    rule's name is a real key of the spec and stays."""
    return {name for registry in REGISTRIES.values() if registry.tagged for name in registry.kinds()}


# -- the spec file being validated ----------------------------------------------------------------------------
# Its folder, so that a kind's settings can name files relative to the spec (a task's data file); load_spec sets
# it while it validates, and it is None elsewhere.
SPEC_FOLDER: ContextVar[Path | None] = ContextVar("spec_folder", default=None)


@contextmanager
def validating_spec_in(folder: Path):
    token = SPEC_FOLDER.set(Path(folder))
    try:
        yield
    finally:
        SPEC_FOLDER.reset(token)


# -- plug-ins -----------------------------------------------------------------------------------------------
class PluginError(ValueError):
    pass


_LOADED_PLUGINS: dict[str, str] = {}  # sha256 of a plug-in file's bytes -> its module name


def plugin_path(entry: str, spec_dir: Path) -> Path | None:
    """A plug-in entry as a file (relative to the spec's folder), or None for an importable module name."""
    if entry.endswith(".py") or "/" in entry:
        return (spec_dir / entry).resolve()
    return None


def load_plugins(entries: list[str], spec_dir: Path) -> dict[str, str]:
    """Import each plug-in (a .py file relative to the spec's folder, or a module name) so that the kinds it
    registers exist; returns {entry: sha256 of its file}. A file is imported once per content: two specs that
    ship the same plug-in share it, while two different files registering one kind are refused."""
    hashes = {}
    for entry in entries:
        path = plugin_path(entry, spec_dir)
        if path is None:
            try:
                module = importlib.import_module(entry)
            except ImportError as error:
                raise PluginError(f"plug-in {entry!r} cannot be imported: {error}") from None
            source = getattr(module, "__file__", None)
            hashes[entry] = file_sha256(Path(source)) if source else "unknown"
            continue
        if not path.is_file():
            raise PluginError(f"plug-in {entry!r}: no such file {path}")
        digest = hashes[entry] = file_sha256(path)
        if digest in _LOADED_PLUGINS:
            continue
        name = f"grokrepro_plugin_{digest[:12]}_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[name]
            raise PluginError(f"plug-in {entry!r} failed to import: {type(error).__name__}: {error}") from None
        _LOADED_PLUGINS[digest] = name
    return hashes


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()

