"""A check's control: runs on which it must not hold. A check whose control passes cannot make a claim
reproduced; the verdict records the control's value; a spec whose selection matches no run is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from grokrepro.claims.evaluate import evaluate
from grokrepro.claims.verdict import NOT_DISCRIMINATING, decide, with_controls
from grokrepro.metrics.curves import write_atomic
from grokrepro.spec import SpecError, load_spec
from helpers import synthetic_curves, tiny_spec, write_spec

SEEDS = [1, 2]


def g1_with_control(control_fraction=0.3):
    """G1 judged at fraction 0.5, its control at another fraction."""
    return [{"name": "G1", "kind": "delayed_generalisation", "statement": "s", "where": {"train_fraction": 0.5},
             "control": {"where": {"train_fraction": control_fraction}, "why": "too little delay"}}]


def spec_with_control(tmp_path, control_fraction=0.3):
    raw = tiny_spec(sweep={"task.train_fraction": [0.3, 0.5]}, checks=g1_with_control(control_fraction))
    return load_spec(write_spec(tmp_path, raw), "default")


def verdict_on(tmp_path, t_gen_control):
    """G1 holds at fraction 0.5 (t_gen 30x t_fit); at 0.3 its test accuracy jumps at `t_gen_control`."""
    spec = spec_with_control(tmp_path)
    curves = synthetic_curves([150, 150], [t_gen_control, 4500], [0.3, 0.5], SEEDS)
    write_atomic(curves, tmp_path / "curves.nc")
    return evaluate(spec, "sha", tmp_path / "curves.nc")


def test_a_failing_control_lets_the_check_pass_and_is_recorded(tmp_path):
    verdict = verdict_on(tmp_path, t_gen_control=200)  # no delay at 0.3: G1 fails there, as it must
    check = verdict["checks"][0]
    assert check["status"] == "pass" and verdict["verdict"] == "reproduced"
    assert check["control"]["where"] == {"train_fraction": 0.3}
    assert check["control"]["passed"] is False and check["control"]["value"] == 0.0
    assert check["control"]["why"] == "too little delay"
    json.dumps(verdict)  # the record is plain JSON


def test_a_passing_control_blocks_reproduced(tmp_path):
    verdict = verdict_on(tmp_path, t_gen_control=4000)  # the control groks just as late: G1 cannot tell
    check = verdict["checks"][0]
    assert check["control"]["passed"] is True
    assert check["status"] == NOT_DISCRIMINATING and check["passed"] is False
    assert "not discriminating" in check["detail"]
    assert verdict["verdict"] == "inconclusive"


def test_a_control_that_cannot_be_computed_leaves_a_passing_check_unproven():
    from grokrepro.claims.verdict import CheckResult

    passing = CheckResult("G1", "s", 1.0, 0.5, True, "pass")
    missing = CheckResult("G1", "s", None, 0.5, False, "inconclusive", detail="no healthy runs")
    judged = with_controls(passing, [({"train_fraction": 0.3}, "", missing)])
    assert judged.status == "inconclusive" and not judged.passed


def test_every_control_must_fail_and_several_are_recorded_as_a_list():
    from grokrepro.claims.verdict import CheckResult

    passing = CheckResult("K2", "s", 1.0, 0.5, True, "pass")
    failing = CheckResult("K2", "s", 0.0, 0.5, False, "fail")
    also_passing = CheckResult("K2", "s", 1.0, 0.5, True, "pass")
    judged = with_controls(passing, [({"a": 1}, "lazy", failing), ({"a": 2}, "rich", also_passing)])
    assert judged.status == NOT_DISCRIMINATING and isinstance(judged.control, list) and len(judged.control) == 2
    assert decide([judged]) == "inconclusive"
    # a failing check stays failed whatever its control does: the claim is still not reproduced
    failed = with_controls(CheckResult("K2", "s", 0.0, 0.5, False, "fail"), [({"a": 2}, "", also_passing)])
    assert failed.status == "fail" and decide([failed]) == "not_reproduced"


def test_a_control_with_its_own_sweep_points_adds_them_to_the_runs(tmp_path):
    checks = g1_with_control(0.7)
    checks[0]["control"]["sweep"] = {"task.train_fraction": [0.7]}
    spec = load_spec(write_spec(tmp_path, tiny_spec(sweep={"task.train_fraction": [0.3, 0.5]}, checks=checks)))
    assert {"task.train_fraction": [0.7]} in spec.sweep


@pytest.mark.parametrize("scale", ["smoke", "default", "paper"])
def test_a_dead_where_is_refused_naming_file_check_field_and_value(tmp_path, scale):
    raw = tiny_spec(sweep={"task.train_fraction": [0.3, 0.5]},
                    checks=[{"name": "G1", "kind": "delayed_generalisation", "statement": "s",
                             "where": {"train_fraction": 0.5}}])
    raw["scales"][scale] = {"checks": {"G1": {"where": {"train_fraction": 0.4}}}}
    path = write_spec(tmp_path, raw)
    with pytest.raises(SpecError) as error:
        load_spec(path, "default")
    message = str(error.value)
    assert str(path) in message and f"scale {scale}" in message and "'G1'" in message
    assert "checks.0.where" in message and "train_fraction = 0.4" in message and "[0.3, 0.5]" in message


def test_a_dead_control_where_is_refused(tmp_path):
    raw = tiny_spec(sweep={"task.train_fraction": [0.3, 0.5]}, checks=g1_with_control(0.9))
    with pytest.raises(SpecError, match=r"checks.0.control.0.where.*train_fraction = 0.9"):
        load_spec(write_spec(tmp_path, raw))


def test_a_retired_seed_cannot_be_a_verdict_seed_again(tmp_path):
    raw = tiny_spec(seeds={"development": [0], "verdict": [1, 2], "retired": [2]})
    with pytest.raises(SpecError, match=r"retired"):
        load_spec(write_spec(tmp_path, raw))
    raw["seeds"] = {"development": [0, 2], "verdict": [3, 4], "retired": [1, 2]}
    assert load_spec(write_spec(tmp_path, raw)).seeds.verdict == [3, 4]


def test_the_verdict_says_why_it_is_not_reproduced(tmp_path):
    from grokrepro.claims.verdict import CheckResult, verdict_reason

    passing = CheckResult("A", "s", 1.0, 0.5, True, "pass")
    failing = CheckResult("B", "s", 0.1, 0.5, False, "fail", detail="the kernel has left its init before the fit; "
                          "drift 0.4 at t_fit")
    assert verdict_reason([passing, failing]) == "B fail: the kernel has left its init before the fit"
    assert verdict_reason([passing]) == ""
    assert verdict_on(tmp_path, t_gen_control=4000)["reason"].startswith("G1 not discriminating")
