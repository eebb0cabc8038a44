"""The check kit: run selection, pairing of arms, the seed-share judgement; and the typed verdict that
verdict.json is written from and that figures read."""

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from grokrepro.claims.kit import CheckParams, Events, SeedShare, paired_runs, seed_share, selects_runs
from grokrepro.claims.verdict import AmbiguousRunsError
from grokrepro.spec.schema import Check
from helpers import synthetic_curves

SEEDS = [1, 2, 3]
CHECK = Check(name="X1", kind="delayed_generalisation", statement="s", where={"train_fraction": 0.5})


@selects_runs(threshold=lambda p: 0.5, coords=lambda p: ("train_fraction",))
def counts_runs(sel, params):
    return sel.result(float(sel.n_runs), True, f"{sel.n_runs} runs{sel.diverged}")


def test_selection_hands_over_healthy_runs_and_counts_the_diverged():
    curves = synthetic_curves([150, 150], [3000, 3000], [0.5, 0.6], SEEDS)
    diverged = curves["diverged_at"].values.copy()
    diverged[0] = 40
    curves["diverged_at"] = ("run", diverged)
    result = counts_runs(curves, CHECK, CheckParams())
    assert result.value == 2.0 and result.status == "pass" and result.threshold == 0.5
    assert result.detail == "2 runs; 1 diverged runs left out" and result.where == {"train_fraction": 0.5}


def test_selection_is_inconclusive_when_no_run_matches_or_a_coordinate_is_missing():
    curves = synthetic_curves([150], [3000], [0.6], SEEDS)
    none = counts_runs(curves, CHECK, CheckParams())
    assert none.status == "inconclusive" and none.value is None and "no healthy runs match" in none.detail
    missing = counts_runs(curves.drop_vars("train_fraction"), Check(name="X1", kind="k", statement="s"),
                          CheckParams())
    assert missing.status == "inconclusive" and "no coordinate 'train_fraction'" in missing.detail


def test_paired_runs_pairs_seeds_and_refuses_two_runs_of_one_seed_in_an_arm():
    curves = synthetic_curves([150] * 2, [3000, 4000], [0.5, 0.6], [3, 1, 2])
    seeds, pairs = paired_runs(curves, "train_fraction", [0.6, 0.5])
    assert seeds == [1, 2, 3]
    assert curves["train_fraction"].values[pairs[:, 0]].tolist() == [0.6] * 3
    assert curves["seed"].values[pairs].tolist() == [[1, 1], [2, 2], [3, 3]]
    twice = synthetic_curves([150] * 2, [3000, 4000], [0.5, 0.5], SEEDS)
    with pytest.raises(AmbiguousRunsError, match="share a seed"):
        paired_runs(twice, "train_fraction", [0.5])
    # by another key, in the first arm's order
    keys, pairs = paired_runs(curves, "train_fraction", [0.6, 0.5], key=lambda k: -int(curves["seed"].values[k]))
    assert keys == [-3, -1, -2]


def test_seed_share_passes_at_the_share_and_fails_beyond_the_uncertainty():
    held = seed_share(np.ones(6, bool), 2 / 3)
    assert held["passed"] and held["value"] == 1.0 and held["support"] == 1.0
    failed = seed_share(np.zeros(6, bool), 2 / 3)
    assert not failed["passed"] and failed["support"] == 0.0
    by_value = seed_share([True, True, False], 2 / 3, per_seed=[0.1, 0.3, np.nan])
    assert by_value["value"] == pytest.approx(0.2) and by_value["seed_fraction"] == pytest.approx(2 / 3)
    assert seed_share([True], 0.5, per_seed=[np.nan])["value"] is None


@selects_runs(threshold=lambda p: p.min_seed_fraction)
def holds_or_undecided(sel, params, holds, undecided):
    return sel.share_with_undecided(holds, undecided, params.min_seed_fraction, "per seed", "runs undecided")


def test_undecided_seeds_may_pass_but_never_make_a_failure():
    curves = synthetic_curves([150], [3000], [0.5], SEEDS)
    passed = holds_or_undecided(curves, CHECK, SeedShare(), holds=[True, True, False], undecided=[False] * 3)
    assert passed.status == "pass" and passed.detail == "per seed"
    # a failure that the undecided seeds could turn into a pass is inconclusive, saying how many they are
    open_ = holds_or_undecided(curves, CHECK, SeedShare(), holds=[True, False, False], undecided=[False, True, True])
    assert open_.status == "inconclusive" and open_.value == pytest.approx(1 / 3) and open_.support == 1.0
    assert open_.detail == "2 runs undecided; per seed" and not open_.passed
    # undecided seeds too few to reach the share: the failure stands
    many = synthetic_curves([150], [3000], [0.5], list(range(8)))
    failed = holds_or_undecided(many, CHECK, SeedShare(), holds=[False] * 8, undecided=[True] + [False] * 7)
    assert failed.status == "fail" and failed.detail == "per seed"


@selects_runs(threshold=lambda p: 0.5, probes=("softmax_collapse",))
def reads_a_probe(sel, params):
    return sel.result(1.0, True, "read")


def test_selection_is_inconclusive_without_a_probe_the_check_reads():
    curves = synthetic_curves([150], [3000], [0.5], SEEDS)
    missing = reads_a_probe(curves, CHECK, CheckParams())
    assert missing.status == "inconclusive" and missing.n_runs == 3
    assert missing.detail == "the curves have no 'softmax_collapse' probe (train.probes needs {kind: softmax_collapse})"
    curves["softmax_collapse"] = curves["train_loss"]
    assert reads_a_probe(curves, CHECK, CheckParams()).status == "pass"


def test_seed_share_params_default_to_two_thirds_and_refuse_none():
    assert SeedShare().min_seed_fraction == pytest.approx(2 / 3)
    with pytest.raises(ValidationError):
        SeedShare(min_seed_fraction=0)


def test_events_carry_the_shared_accuracies_and_refuse_unknown_fields():
    assert (Events().fit_acc, Events().gen_acc) == (0.99, 0.95)
    with pytest.raises(ValidationError):
        Events(gen_accuracy=0.9)


def _verdict(tmp_path):
    from grokrepro.claims.evaluate import evaluate
    from grokrepro.metrics.curves import write_atomic
    from grokrepro.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[1] / "specs/grokking.yaml", "smoke")
    write_atomic(synthetic_curves([160, 150, 140], [1200, 3000, 8000], [0.7, 0.5, 0.4], SEEDS),
                 tmp_path / "curves.nc")
    return evaluate(spec, "sha", tmp_path / "curves.nc")


def test_the_verdict_round_trips_through_its_model_and_refuses_a_field_too_many_or_too_few(tmp_path):
    from grokrepro.claims.judgement import Verdict

    fields = _verdict(tmp_path)
    verdict = Verdict.model_validate(fields)
    verdict.write(tmp_path / "verdict.json")
    assert Verdict.read(tmp_path / "verdict.json").as_json() == json.loads(json.dumps(fields))
    assert {"claim", "paper", "scale", "verdict", "checks", "data", "spec_sha256", "git_commit",
            "runtime_s"} <= set(fields)
    with pytest.raises(ValidationError):
        Verdict.model_validate({**fields, "thresholds_changed_from": None})
    with pytest.raises(ValidationError):
        Verdict.model_validate({k: v for k, v in fields.items() if k != "data"})


def test_figures_find_a_check_by_kind_with_its_validated_params(tmp_path):
    from grokrepro.claims.grokking import TrendParams
    from grokrepro.claims.judgement import Verdict
    from grokrepro.figures.common import judged_check, judged_params

    fields = _verdict(tmp_path)
    for check in fields["checks"]:
        check["name"] = "renamed " + check["name"]  # a spec may name its checks anything
        if check["kind"] == "delay_rises_with_less_data":
            check["params"] = {"gen_acc": 0.9}
    verdict = Verdict.model_validate(fields)
    record = judged_check(verdict, "delay_rises_with_less_data")
    assert record is not None and record.name.startswith("renamed")
    params = judged_params(verdict, None, "delay_rises_with_less_data", TrendParams)
    assert isinstance(params, TrendParams) and (params.gen_acc, params.fit_acc) == (0.9, 0.99)
    assert judged_check(verdict, "no_such_kind") is None
