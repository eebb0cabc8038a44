"""Property-based: mutated copies of the shipped specs are refused with one clear message, never a traceback."""

import copy
import subprocess
import sys
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grokrepro.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {p.name: yaml.safe_load(p.read_text()) for p in sorted(ROOT.glob("specs/*.yaml"))}

WRONG_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                         st.text(max_size=8), st.lists(st.integers(), max_size=2),
                         st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


def leaf_paths(node, prefix=()):
    """Paths to every value in a nested spec."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + (key,)
            yield from leaf_paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield prefix + (index,)
            yield from leaf_paths(value, prefix + (index,))


def apply(raw, path, action, value):
    spec = copy.deepcopy(raw)
    parent = spec
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete" and isinstance(parent, dict):
        del parent[last]
    elif action == "unknown_key" and isinstance(parent, dict):
        parent["unexpected_" + str(last)] = 1
    else:
        parent[last] = value
    return spec


@st.composite
def mutated_specs(draw):
    name = draw(st.sampled_from(sorted(SHIPPED)))
    raw = SHIPPED[name]
    path = draw(st.sampled_from(list(leaf_paths(raw))))
    action = draw(st.sampled_from(["replace", "delete", "unknown_key"]))
    return name, path, action, apply(raw, path, action, draw(WRONG_VALUES))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_specs())
def test_mutated_specs_fail_cleanly_or_load(tmp_path_factory, case):
    name, path, action, raw = case
    spec_path = tmp_path_factory.mktemp("fuzz") / name
    spec_path.write_text(yaml.safe_dump(raw))
    try:
        load_spec(spec_path)
    except SpecError as error:
        message = str(error)
        assert message.startswith(str(spec_path)), message
        assert "field '" in message or "not valid YAML" in message, message
    # Anything other than SpecError (a crash inside the loader) fails the test with its traceback.


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_loader(tmp_path_factory, content):
    spec_path = tmp_path_factory.mktemp("bytes") / "spec.yaml"
    spec_path.write_bytes(content)
    try:
        load_spec(spec_path)
    except SpecError as error:
        assert str(spec_path) in str(error)


def test_validate_command_prints_no_traceback_for_a_mutated_spec(tmp_path):
    raw = copy.deepcopy(SHIPPED["grokking.yaml"])
    raw["sweep"] = {"task.train_fraction": []}
    path = tmp_path / "grokking.yaml"
    path.write_text(yaml.safe_dump(raw))
    done = subprocess.run([sys.executable, "-m", "grokrepro.cli", "validate", str(path)], capture_output=True,
                          text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "expands to nothing" in done.stderr
