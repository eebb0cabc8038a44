"""Dataset size as a count, nested subsets, random labels, and warm starts in the spec language."""

import numpy as np
import pytest
import torch

from grokrepro.spec import SpecError, expand_runs, load_spec, training_groups, warm_start_runs
from grokrepro.tasks.algorithmic import ModularTask
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer
from grokrepro.train.warm_start import initial_params, save_weights
from helpers import resolved, tiny_spec, write_spec

SIZES = [5, 17, 40, 80, 121]


def test_smaller_training_sets_nest_inside_larger_ones():
    sets = [set(make_dataset(ModularTask(operation="x+y", prime=11, train_size=n), split_seed=3).train_index)
            for n in SIZES]
    for smaller, larger, n in zip(sets, sets[1:], SIZES):
        assert len(smaller) == n and smaller < larger
    other_seed = set(make_dataset(ModularTask(operation="x+y", prime=11, train_size=40), split_seed=4).train_index)
    assert other_seed != sets[2]


def test_a_count_and_the_equal_fraction_give_the_same_split():
    by_count = make_dataset(ModularTask(operation="x+y", prime=11, train_size=61), split_seed=0)
    by_fraction = make_dataset(ModularTask(operation="x+y", prime=11, train_fraction=61 / 121), split_seed=0)
    assert np.array_equal(by_count.train_index, by_fraction.train_index)


def test_random_labels_keep_the_split_and_break_the_operation():
    true = make_dataset(ModularTask(operation="x+y", prime=31, train_size=300), split_seed=0)
    random = make_dataset(ModularTask(operation="x+y", prime=31, train_size=300, labels="random"), split_seed=0)
    assert np.array_equal(true.train_index, random.train_index)
    assert np.array_equal(true.inputs, random.inputs)
    agreement = (true.labels == random.labels).mean()
    assert agreement < 0.1  # chance is 1/31
    assert random.labels.min() >= 0 and random.labels.max() < 31
    again = make_dataset(ModularTask(operation="x+y", prime=31, train_size=300, labels="random"), split_seed=0)
    assert np.array_equal(random.labels, again.labels)


@pytest.mark.parametrize("task, words", [
    ({"train_size": 10, "train_fraction": 0.5}, "exactly one of train_fraction and train_size"),
    ({"train_fraction": None}, "exactly one of train_fraction and train_size"),
    ({"train_size": 0, "train_fraction": None}, "greater than 0"),
    ({"labels": "shuffled"}, "task.labels"),
])
def test_bad_sizes_and_labels_name_the_field(tmp_path, task, words):
    raw = tiny_spec(task={**tiny_spec()["task"], **task})
    raw["task"] = {k: v for k, v in raw["task"].items() if v is not None}
    with pytest.raises(SpecError) as error:
        load_spec(write_spec(tmp_path, raw))
    assert "tiny.yaml" in str(error.value) and words in str(error.value)


def test_a_size_larger_than_the_table_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        make_dataset(ModularTask(operation="x+y", prime=11, train_size=122), split_seed=0)


def warm_spec():
    raw = tiny_spec(sweep={"task.train_size": [20, 40], "optimizer.weight_decay": [0.0, 1.0]})
    raw["task"] = {"kind": "modular", "operation": "x+y", "prime": 11, "train_size": 60}
    raw["checks"][0]["where"] = {}
    raw["warm_start"] = {"task": {"train_size": 100}, "optimizer": {"weight_decay": 0.5}, "train": {"steps": 12}}
    return raw


def test_warm_started_runs_share_one_parent_per_seed():
    runs = expand_runs(resolved(warm_spec()))
    parents = warm_start_runs(runs)
    assert len(runs) == 8 and len(parents) == 2  # 2 sizes x 2 weight decays x 2 seeds; one parent per seed
    for run in runs:
        parent = run.warm_start
        assert parent.seed == run.seed and parent.task.train_size == 100 and parent.train.steps == 12
        assert parent.optimizer.weight_decay == 0.5 and parent.warm_start is None
    # a child's id depends on its parent, and children of different seeds still train together
    assert len({r.run_id for r in runs}) == 8
    assert sorted(len(g) for g in training_groups(runs).values()) == [4, 4]


def test_warm_start_overrides_are_validated(tmp_path):
    raw = warm_spec()
    raw["warm_start"]["task"]["train_size"] = -3
    with pytest.raises(SpecError, match="tiny.yaml.*train_size"):
        load_spec(write_spec(tmp_path, raw))
    raw["warm_start"] = {"model": {"hidden": 4}}
    with pytest.raises(SpecError, match="warm_start"):
        load_spec(write_spec(tmp_path, raw))


def test_children_start_from_their_parents_final_weights(tmp_path):
    torch.set_num_threads(1)
    runs = expand_runs(resolved(warm_spec()))
    parents = warm_start_runs(runs)
    trainer = EnsembleTrainer(parents, [make_dataset(p.task, p.split_seed) for p in parents])
    trainer.run(progress=False)
    save_weights(trainer.final_params(), tmp_path / "parents.pt")
    children = [r for r in runs if r.task.train_size == 20]
    start = initial_params(children, [tmp_path / "parents.pt"])
    child = EnsembleTrainer(children, [make_dataset(c.task, c.split_seed) for c in children], initial_params=start)
    for k, run in enumerate(children):
        j = [p.run_id for p in parents].index(run.warm_start.run_id)
        for name, value in child.params.items():
            assert torch.equal(value[k], trainer.params[name][j])
    with pytest.raises(FileNotFoundError, match="warm-start parents"):
        initial_params(children, [])


def test_uses_claims_must_name_other_claims_the_workflow_has(tmp_path):
    from grokrepro.spec.discover import check_used_claims, discover_specs

    with pytest.raises(SpecError, match="uses_claims"):
        load_spec(write_spec(tmp_path, tiny_spec(uses_claims=["tiny"])))  # its own curves
    path = write_spec(tmp_path, tiny_spec(uses_claims=["no_such_claim"]))
    specs = discover_specs(tmp_path)
    with pytest.raises(SpecError, match=r"tiny.yaml: field 'uses_claims'.*\['no_such_claim'\] have no spec"):
        check_used_claims(specs, {"tiny": load_spec(path)})
    write_spec(tmp_path, {**tiny_spec(), "claim": "ungrokking"}, name="other.yaml")
    write_spec(tmp_path, tiny_spec(uses_claims=["ungrokking"]))
    specs = discover_specs(tmp_path)
    check_used_claims(specs, {name: load_spec(p) for name, p in specs.items()})
    assert load_spec(specs["tiny"]).uses_claims == ["ungrokking"]
