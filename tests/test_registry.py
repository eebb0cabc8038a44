"""The registries: one pattern for every kind, torch-free validation, and what is derived from them."""

import subprocess
import sys
import textwrap
from typing import Literal

import pytest

from grokrepro.registry import MODELS, PROBES, REGISTRIES, TASKS, Registry, Strict


def test_validating_a_spec_without_transformations_imports_no_torch():
    code = textwrap.dedent("""
        import sys
        from grokrepro.spec import expand_runs, load_spec
        for claim in ("grokking", "lmn_compression", "kernel_vs_rich", "lazy_to_rich"):
            expand_runs(load_spec(f"specs/{claim}.yaml", "paper"))
        print("torch" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_no_library_kind_module_imports_torch():
    code = textwrap.dedent("""
        import sys
        from grokrepro.registry import REGISTRIES
        for registry in REGISTRIES.values():
            registry.kinds()
        print("torch" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_every_registry_finds_its_library_kinds():
    assert {"modular", "permutation", "bitwise", "gaussian_regression", "sparse_parity", "file"} <= set(TASKS.kinds())
    assert {"mlp", "nanda_transformer", "power_transformer", "lazy_quadratic", "quadratic"} <= set(MODELS.kinds())
    assert {"lmn", "fourier_share", "softmax_collapse", "ntk_drift"} <= set(PROBES.kinds())
    assert {"constant", "cosine", "step"} <= set(REGISTRIES["schedule"].kinds())


def test_what_the_spec_layer_and_curves_read_is_derived_from_the_registrations():
    assert MODELS.per_run("lazy_quadratic") == ("init_scale", "alpha", "epsilon")
    assert MODELS.per_run("mlp") == ("init_scale",)
    assert {"train_fraction", "train_size", "labels", "n_train"} <= set(TASKS.coords())
    # every built-in probe declares the units of what it writes
    assert PROBES.outputs()["lmn"][0] == "1" and "ntk_drift_ref" in PROBES.outputs()


class _Settings(Strict):
    kind: Literal["thing"]
    size: int = 1


def test_a_kind_registered_twice_from_two_places_is_refused_naming_both():
    registry = Registry("widget")
    registry.register("thing", _Settings, "some.module:one")

    class Other(Strict):
        kind: Literal["thing"]

    Other.__module__ = "another.module"
    with pytest.raises(ValueError, match="widget of kind 'thing' is registered twice"):
        registry.register("thing", Other, object())


def test_an_unknown_kind_names_the_known_ones():
    registry = Registry("widget")
    registry.register("thing", _Settings, "some.module:one")
    with pytest.raises(KeyError, match=r"unknown widget kind 'gadget' \(known: thing\)"):
        registry["gadget"]
    assert registry.validate({"kind": "thing", "size": 3}).size == 3


def test_the_schema_is_rebuilt_when_a_kind_is_added():
    registry = Registry("widget")
    registry.register("thing", _Settings, "some.module:one")
    registry.validate({"kind": "thing"})

    class Gadget(Strict):
        kind: Literal["gadget"]

    registry.register("gadget", Gadget, "some.module:two")
    assert type(registry.validate({"kind": "gadget"})) is Gadget
