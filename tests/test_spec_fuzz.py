"""Property-based: mutated copies of the shipped specs are refused with one clear message, never a traceback."""

import copy
import time
import subprocess
import sys
from pathlib import Path

import pytest
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


# -- hostile input: alias bombs and sizes no host can run ---------------------------------------------------
def alias_bomb(where: str) -> str:
    """A 'billion laughs' document: ten levels of ten aliases each, 10^10 strings once expanded, put `where`."""
    lines = ["claim: laughs", "paper: x", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "\n".join(lines + [where]) + "\n"


@pytest.mark.parametrize("where", ["statement: *a9", "unknown_field: *a9", "seeds: {verdict: *a9}"])
def test_an_alias_bomb_is_refused_in_seconds(tmp_path, where):
    path = tmp_path / "laughs.yaml"
    path.write_text(alias_bomb(where))
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "grokrepro.cli", "validate", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "expands to more than" in done.stderr and str(path) in done.stderr
    assert time.perf_counter() - began < 30


def test_the_shipped_alias_still_loads():
    assert "&predictor" in (ROOT / "specs/spectral_prediction.yaml").read_text()  # a small alias is fine
    load_spec(ROOT / "specs/spectral_prediction.yaml")


def test_an_error_message_never_expands_a_huge_value(tmp_path):
    raw = copy.deepcopy(SHIPPED["grokking.yaml"])
    raw["statement"] = [["xy"] * 1000] * 40  # 40,000 values: under the node and size caps, far over a message
    path = tmp_path / "grokking.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert "field 'statement'" in str(error.value) and len(str(error.value)) < 400


@pytest.mark.parametrize("field, value, named", [
    (("task", "prime"), 100003, "task.prime"),
    (("model", "hidden"), 10**6, "field 'model'"),
    (("train", "steps"), 10**12, "train.steps"),
])
def test_sizes_no_host_can_run_are_refused_naming_the_field(tmp_path, field, value, named):
    from grokrepro.spec.limits import check_limits, workflow_limits

    raw = copy.deepcopy(SHIPPED["grokking.yaml"])
    overridden = [s for s in raw["scales"].values() if field[1] in ((s or {}).get(field[0]) or {})]
    for section in overridden or [raw]:  # where the spec sets it: a scale's override, or the base section
        section[field[0]][field[1]] = value
    path = tmp_path / "grokking.yaml"
    path.write_text(yaml.safe_dump(raw))
    limits = workflow_limits(ROOT / "config/config.yaml")
    with pytest.raises(SpecError, match=named.replace(".", r"\.")) as error:
        check_limits(load_spec(path, "default"), path, limits)
    assert str(path) in str(error.value) and "limits." in str(error.value)
    done = subprocess.run([sys.executable, "-m", "grokrepro.cli", "validate", str(path)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 2 and "Traceback" not in done.stderr and named in done.stderr, done.stderr[-2000:]


def test_too_many_runs_are_refused_before_any_is_built(tmp_path):
    from grokrepro.spec.limits import check_limits

    raw = copy.deepcopy(SHIPPED["grokking.yaml"])
    path = tmp_path / "grokking.yaml"
    path.write_text(yaml.safe_dump(raw))
    spec = load_spec(path, "default")
    with pytest.raises(SpecError, match="limits.max_runs"):
        check_limits(spec, path, {"max_runs": 1, "max_dataset_bytes": 1, "max_parameter_bytes": 1, "max_steps": 1})


def test_a_grid_of_4000_points_validates_in_seconds(tmp_path):
    from helpers import tiny_spec

    raw = tiny_spec(sweep={"optimizer.weight_decay": [round(0.001 * i, 4) for i in range(1, 201)],
                           "optimizer.lr": [1e-3 * (j + 1) for j in range(20)]},
                    checks=[{"name": "G1", "kind": "delayed_generalisation", "statement": "s",
                             "where": {"weight_decay": 0.001}}])
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(raw))
    began = time.process_time()
    assert len(load_spec(path).sweep[0]["optimizer.lr"]) == 20
    assert time.process_time() - began < 20  # CPU seconds (the host is shared): 3.4 s measured, > 60 s before


def test_a_grid_of_two_hundred_million_points_is_refused_at_once(tmp_path):
    from helpers import tiny_spec

    raw = tiny_spec(sweep={"optimizer.weight_decay": list(range(1, 501)), "optimizer.lr": list(range(1, 401)),
                           "train.steps": list(range(1, 1001))})
    path = tmp_path / "huge.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError, match="expands to 200000000 points"):
        load_spec(path)
