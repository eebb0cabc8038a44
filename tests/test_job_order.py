"""Training jobs start longest first: grokrepro.cluster.training_cost, the priority rules/train.smk gives them."""

from grokrepro.cluster import training_cost
from grokrepro.spec import expand_runs, training_groups
from helpers import resolved, tiny_spec


def groups_of(**overrides):
    return list(training_groups(expand_runs(resolved(tiny_spec(**overrides)))).values())


def test_cost_is_runs_times_steps_times_training_examples():
    (group,) = groups_of(sweep={"optimizer.weight_decay": [0.1]})  # one group of the two verdict seeds
    # prime 11: 121 pairs, half of them for training (60 or 61 after rounding), 30 steps, 2 runs
    assert len(group) == 2
    assert 2 * 30 * 60 / 1e6 <= training_cost(group) <= 2 * 30 * 61 / 1e6
    (longer,) = groups_of(sweep={"optimizer.weight_decay": [0.1]}, train={**tiny_spec()["train"], "steps": 90})
    assert training_cost(longer) == 3 * training_cost(group)
    (bigger,) = groups_of(sweep={"optimizer.weight_decay": [0.1]},
                          task={**tiny_spec()["task"], "prime": 23, "train_fraction": 0.5})
    assert training_cost(bigger) > 4 * training_cost(group)  # 529 pairs against 121
    assert training_cost(group[:1]) == training_cost(group) / 2
