import subprocess
import sys

import pytest

from grokrepro.spec import SpecError, expand_runs, load_spec, training_groups
from grokrepro.spec.runs import datasets
from helpers import TINY, tiny_spec, write_spec


def test_shipped_specs_validate():
    from pathlib import Path

    specs = sorted(Path(__file__).resolve().parents[1].glob("specs/**/*.yaml"))  # drafts too
    assert specs
    for path in specs:
        for scale in ("smoke", "default", "paper"):
            assert load_spec(path, scale).scale == scale


def mutate(path_to_value):
    raw = tiny_spec()
    *parents, last = path_to_value[0]
    target = raw
    for key in parents:
        target = target[key]
    if path_to_value[1] is DELETE:
        del target[last]
    else:
        target[last] = path_to_value[1]
    return raw


DELETE = object()

# (where, new value, field named in the message, words expected in the message)
BAD_SPECS = [
    (("task", "colour"), "red", "task.colour", "Extra inputs"),
    (("task", "train_fraction"), 1.5, "task.train_fraction", "1.5"),
    (("task", "train_fraction"), 0.0, "task.train_fraction", "greater than 0"),
    (("task", "prime"), 1, "task.prime", "greater than or equal to 2"),
    (("task", "prime"), 12, "task.prime", "not a prime"),
    (("task", "operation"), "x*y+1", "task.operation", "x*y+1"),
    (("train", "steps"), -5, "train.steps", "-5"),
    (("train", "steps"), "many", "train.steps", "'many'"),
    (("model", "hidden"), DELETE, "model.hidden", "missing"),
    (("sweep",), {"optimizer.weight_decay": []}, "sweep.optimizer.weight_decay", "expands to nothing"),
    (("sweep",), {"optimizer.lr": [1e-3, -1.0]}, "optimizer.lr", "-1.0"),
    (("sweep",), {"nonsense": [1]}, "sweep.nonsense", "section.field"),
    (("sweep",), {"task": [{"prime": 13}]}, "sweep.task.0", "each with a 'name'"),
    (("sweep",), {"task": [{"name": "xor", "kind": "bitwise", "bits": 9, "train_fraction": 0.5}]}, "task.bits", "9"),
    (("checks",), [{"name": "X", "kind": "nope", "statement": "s"}], "checks.0.kind", "unknown check"),
    (("checks",), [{"name": "X", "kind": "delayed_generalisation", "statement": "s", "params": {"fit": 1}}],
     "fit", "Extra inputs"),
    (("checks",), [{"name": "X", "kind": "delayed_generalisation", "statement": "s", "where": {"lr": 1}}],
     "checks.0.where", "not sweep axes"),
    (("seeds",), {"development": [1], "verdict": [1, 2]}, "seeds", "fresh"),
    (("scales", "smoke"), {"train": {"log_every": 0}}, "train.log_every", "scale smoke"),
    (("scales",), {"smoke": {}, "default": {}}, "scales", "paper"),
    (("optimizer", "betas"), [0.9, 1.5], "optimizer.betas", "[0, 1)"),
    (("train", "probes"), [{"kind": "lmn", "every": 7}], "train", "not a multiple of log_every"),
]


@pytest.mark.parametrize("change, value, field, words", BAD_SPECS, ids=[b[2] + ":" + b[3] for b in BAD_SPECS])
def test_bad_spec_names_file_field_and_value(tmp_path, change, value, field, words):
    path = write_spec(tmp_path, mutate((change, value)))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert str(path) in message
    assert field in message
    assert words in message


def test_broken_yaml_reports_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("claim: tiny\ntask: [unclosed\n")
    with pytest.raises(SpecError, match=r"broken.yaml: not valid YAML \(line \d+"):
        load_spec(path)


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("claim: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(path)


def test_missing_file():
    with pytest.raises(SpecError, match="not found"):
        load_spec("does/not/exist.yaml")


def test_validate_command_exits_nonzero_without_traceback(tmp_path):
    bad = tiny_spec()
    bad["train"] = {**bad["train"], "steps": -1}
    path = write_spec(tmp_path, bad)
    done = subprocess.run([sys.executable, "-m", "grokrepro.cli", "validate", str(path)], capture_output=True,
                          text=True)
    assert done.returncode == 2
    assert "train.steps" in done.stderr and "Traceback" not in done.stderr
    good = write_spec(tmp_path, tiny_spec(), "good.yaml")
    done = subprocess.run([sys.executable, "-m", "grokrepro.cli", "validate", str(good)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr


def test_scale_overrides_only_what_they_change(tmp_path):
    raw = tiny_spec(scales={"smoke": {"train": {"steps": 7}}, "default": {},
                            "paper": {"model": {"kind": "nanda_transformer", "d_model": 8, "n_heads": 2, "d_mlp": 8}}})
    path = write_spec(tmp_path, raw)
    smoke, paper = load_spec(path, "smoke"), load_spec(path, "paper")
    assert smoke.train.steps == 7 and smoke.train.log_every == TINY["train"]["log_every"]
    assert paper.model.kind == "nanda_transformer"  # switching kind replaces the section


def test_a_scale_overrides_a_checks_where_and_params_by_name(tmp_path):
    raw = tiny_spec(scales={"smoke": {"sweep": {"optimizer.weight_decay": [0.2, 2.0]},
                                      "checks": {"G1": {"where": {"weight_decay": 0.2},
                                                        "params": {"max_test_acc_at_fit": 0.3}}}},
                            "default": {}, "paper": {}})
    raw["checks"][0]["params"] = {"max_test_acc_at_fit": 0.1, "min_delay_ratio": 10}
    path = write_spec(tmp_path, raw)
    smoke, default = load_spec(path, "smoke"), load_spec(path, "default")
    assert smoke.checks[0].where == {"weight_decay": 0.2} and default.checks[0].where == {"weight_decay": 0.1}
    # merged key by key: what the scale does not name stays the spec's
    assert smoke.checks[0].params == {"max_test_acc_at_fit": 0.3, "min_delay_ratio": 10}
    assert default.checks[0].params == {"max_test_acc_at_fit": 0.1, "min_delay_ratio": 10}
    raw["scales"]["smoke"]["checks"] = {"G9": {"where": {"weight_decay": 0.2}}}
    with pytest.raises(SpecError, match=r"scales.smoke.checks names \['G9'\]"):
        load_spec(write_spec(tmp_path, raw, "unknown.yaml"))
    raw["scales"]["smoke"]["checks"] = {"G1": {"where": {"colour": "red"}}}
    with pytest.raises(SpecError, match=r"\(scale smoke\).*\['colour'\] are not sweep axes"):
        load_spec(write_spec(tmp_path, raw, "axis.yaml"))


def test_run_ids_are_hashes_of_resolved_config(tmp_path):
    spec = load_spec(write_spec(tmp_path, tiny_spec()))
    runs = expand_runs(spec)
    assert len(runs) == 2 * 2
    assert len({r.run_id for r in runs}) == 4
    again = expand_runs(load_spec(write_spec(tmp_path, tiny_spec(), "copy.yaml")))
    assert [r.run_id for r in runs] == [r.run_id for r in again]
    changed = tiny_spec()
    changed["train"] = {**changed["train"], "steps": 31}
    assert expand_runs(load_spec(write_spec(tmp_path, changed, "c.yaml")))[0].run_id != runs[0].run_id


def test_groups_join_runs_that_differ_only_per_run(tmp_path):
    raw = tiny_spec(sweep={"optimizer.weight_decay": [0.1, 1.0], "task.train_fraction": [0.3, 0.5]})
    spec = load_spec(write_spec(tmp_path, raw))
    groups = training_groups(expand_runs(spec))
    assert len(groups) == 2  # one per training fraction; weight decays and seeds vmapped together
    assert all(len(g) == 4 for g in groups.values())
    assert len(datasets(expand_runs(spec))) == 4  # 2 fractions x 2 seeds, split per run seed


def test_section_variants_sweep_whole_tasks(tmp_path):
    raw = tiny_spec(sweep={"task": [{"name": "add", "prime": 13},
                                    {"name": "xor", "kind": "bitwise", "bits": 3, "train_fraction": 0.5}]})
    raw["checks"][0]["where"] = {"task": "xor"}
    runs = expand_runs(load_spec(write_spec(tmp_path, raw)))
    assert [r.coords["task"] for r in runs] == ["add", "add", "xor", "xor"]
    assert runs[0].task.prime == 13 and runs[0].task.operation == "x+y"
    assert runs[2].task.kind == "bitwise" and runs[2].task.bits == 3
    assert len(training_groups(runs)) == 2


def test_a_list_of_grids_runs_their_union(tmp_path):
    raw = tiny_spec(sweep=[{"optimizer.weight_decay": [0.1, 1.0], "train.steps": [30]},
                           {"optimizer.weight_decay": [0.5], "train.steps": [60]}])
    runs = expand_runs(load_spec(write_spec(tmp_path, raw)))
    assert [(r.optimizer.weight_decay, r.train.steps) for r in runs[::2]] == [(0.1, 30), (1.0, 30), (0.5, 60)]
    bad = tiny_spec(sweep=[{"optimizer.weight_decay": [0.1]}, {"train.steps": [60]}])
    with pytest.raises(SpecError, match="sweep.1.*same axes"):
        load_spec(write_spec(tmp_path, bad, "bad.yaml"))


def test_run_ids_ignore_execution_only_fields_but_not_logging(tmp_path):
    def ids(name, **train_changes):
        raw = tiny_spec(train={**TINY["train"], **train_changes})
        runs = expand_runs(load_spec(write_spec(tmp_path, raw, name)))
        return [r.run_id for r in runs], sorted(training_groups(runs))

    reference = ids("reference.yaml")
    # how a run is executed: checkpoints, device, how many runs share a process
    assert ids("execution.yaml", checkpoint_every=7, device="cpu", max_group_size=8) == reference
    # what is logged changes the curves
    assert ids("log_every.yaml", log_every=3)[0] != reference[0]
    assert ids("log_points.yaml", log_points=9)[0] != reference[0]
    assert ids("early_stop.yaml", early_stop={"enabled": True})[0] != reference[0]


def test_overlapping_grids_run_each_point_once(tmp_path):
    raw = tiny_spec(sweep=[{"optimizer.weight_decay": [0.1, 1.0], "train.steps": [30]},
                           {"optimizer.weight_decay": [1.0, 0.5], "train.steps": [30]}])
    runs = expand_runs(load_spec(write_spec(tmp_path, raw)))
    assert len(runs) == len({r.run_id for r in runs}) == 3 * 2
    assert [r.optimizer.weight_decay for r in runs[::2]] == [0.1, 1.0, 0.5]
    assert sum(len(g) for g in training_groups(runs).values()) == 6


@pytest.mark.parametrize("sweep, words", [
    ([{"task": [{"name": "add", "prime": 13}]}, {"task": [{"name": "plus", "prime": 13}]}],
     "same run under different coordinates"),
    ([{"task": [{"name": "add", "prime": 13}]}, {"task": [{"name": "add", "prime": 11}]}],
     "different runs with the same coordinates"),
    ({"train.checkpoint_every": [10, 20]}, "same run under different coordinates"),  # execution only
])
def test_one_run_must_have_one_set_of_coordinates(tmp_path, sweep, words):
    raw = tiny_spec(sweep=sweep)
    raw["checks"][0]["where"] = {}
    path = write_spec(tmp_path, raw)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert str(path) in message and "field 'sweep'" in message and words in message


def test_early_stop_on_a_regression_task_is_refused(tmp_path):
    regression = {"kind": "gaussian_regression", "dim": 5, "n_train": 20, "n_test": 30}
    train = {**TINY["train"], "early_stop": {"enabled": True}}
    raw = tiny_spec(task=regression, model={"kind": "lazy_quadratic", "width": 8}, train=train,
                    sweep={"model.alpha": [0.5, 2.0]})
    raw["checks"][0]["where"] = {}
    path = write_spec(tmp_path, raw)
    with pytest.raises(SpecError, match=r"field 'train.early_stop.enabled' = True: .*regression task"):
        load_spec(path)
    # the same when a swept variant turns the task into regression
    raw = tiny_spec(train=train, sweep={"task": [{"name": "add"}, {"name": "reg", **regression}]})
    raw["checks"][0]["where"] = {}
    with pytest.raises(SpecError, match=r"sweep point .*'reg'.*train.early_stop.enabled"):
        load_spec(write_spec(tmp_path, raw, "variant.yaml"))
    without = tiny_spec(task=regression, model={"kind": "lazy_quadratic", "width": 8}, sweep={"model.alpha": [0.5]})
    # a check that reads losses: a check of accuracies is refused on a regression task
    without["checks"][0].update(where={}, kind="grokking_rises_with_alpha")
    assert load_spec(write_spec(tmp_path, without, "fine.yaml")).task.kind == "gaussian_regression"
