import numpy as np
import pytest
from pydantic import ValidationError

from grokrepro.registry import TASKS
from grokrepro.spec import expand_runs
from grokrepro.tasks import Dataset, make_dataset
from grokrepro.train import EnsembleTrainer
from helpers import resolved, tiny_spec


def task(**changes):
    return TASKS.validate({"kind": "sparse_parity", "n_bits": 12, "k": 3, "n_train": 300, "n_test": 100,
                           **changes})


def test_labels_are_the_parity_of_the_relevant_bits():
    data = make_dataset(task(), split_seed=4)
    relevant = data.extras["relevant_bits"]
    assert len(relevant) == 3 and len(set(relevant)) == 3 and relevant.max() < 12
    assert data.inputs.dtype == np.float32 and set(np.unique(data.inputs)) == {-1.0, 1.0}
    assert not data.token_inputs and not data.is_regression and data.outputs == 2
    product = np.prod(data.inputs[:, relevant], axis=1)
    np.testing.assert_array_equal(data.labels, np.where(product > 0, 0, 1))
    # both classes occur and the other bits do not decide the label (it is not the parity of any other set)
    assert 0.3 < data.labels.mean() < 0.7
    others = [i for i in range(12) if i not in relevant][:3]
    assert not np.array_equal(data.labels, (np.prod(data.inputs[:, others], axis=1) < 0).astype(np.int64))


def test_train_and_test_are_disjoint_indices_and_points():
    data = make_dataset(task(), split_seed=0)
    assert len(data.train_index) == 300 and len(data.test_index) == 100
    assert not set(data.train_index) & set(data.test_index)
    assert set(data.train_index) | set(data.test_index) == set(range(400))
    # no input appears twice, so no test point is also a training point
    assert len(np.unique(data.inputs, axis=0)) == 400


def test_same_seed_same_data_other_seed_other_data():
    first, again, other = (make_dataset(task(), split_seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(first.inputs, again.inputs)
    np.testing.assert_array_equal(first.labels, again.labels)
    np.testing.assert_array_equal(first.extras["relevant_bits"], again.extras["relevant_bits"])
    assert not np.array_equal(first.inputs, other.inputs)


def test_a_larger_training_set_extends_a_smaller_one_with_the_same_test_set_and_bits():
    small, large = (make_dataset(task(n_train=n), split_seed=3) for n in (100, 300))
    np.testing.assert_array_equal(small.extras["relevant_bits"], large.extras["relevant_bits"])
    np.testing.assert_array_equal(small.inputs[small.test_index], large.inputs[large.test_index])
    np.testing.assert_array_equal(small.inputs[small.train_index], large.inputs[large.train_index][:100])


def test_relevant_bits_survive_saving(tmp_path):
    data = make_dataset(task(), split_seed=1)
    data.save(tmp_path / "d.npz")
    np.testing.assert_array_equal(Dataset.load(tmp_path / "d.npz").extras["relevant_bits"],
                                  data.extras["relevant_bits"])


def test_label_noise_flips_exactly_its_share_of_training_labels_and_no_test_label():
    clean = make_dataset(task(), split_seed=5)
    noisy = make_dataset(task(label_noise=0.1), split_seed=5)
    np.testing.assert_array_equal(clean.inputs, noisy.inputs)
    flipped = clean.labels != noisy.labels
    assert flipped[clean.train_index].sum() == round(0.1 * 300)
    assert not flipped[clean.test_index].any()


@pytest.mark.parametrize("changes, message", [
    ({"k": 13}, "k = 13 bits cannot be chosen from n_bits = 12"),
    ({"k": 0}, "greater than or equal to 1"),
    ({"n_bits": 5000}, "less than or equal to 4096"),
    ({"n_bits": 8, "k": 2, "n_train": 250, "n_test": 10}, "at most 256"),
    ({"n_bits": 4096, "n_train": 40000}, "512 MiB"),
])
def test_impossible_settings_are_refused(changes, message):
    with pytest.raises(ValidationError, match=message):
        task(**changes)


def test_the_dump_leaves_out_label_noise_at_its_default():
    assert "label_noise" not in task().model_dump()
    assert task(label_noise=0.2).model_dump()["label_noise"] == 0.2


def test_an_mlp_over_the_bits_learns_a_two_bit_parity():
    raw = tiny_spec(task={"kind": "sparse_parity", "n_bits": 10, "k": 2, "n_train": 400, "n_test": 200},
                    model={"kind": "mlp", "hidden": 64, "hidden_layers": 1},
                    optimizer={"lr": 1e-2, "weight_decay": 0.1},
                    train={"steps": 60, "log_every": 20, "log_points": 4},
                    sweep={"optimizer.weight_decay": [0.1]}, seeds={"development": [0], "verdict": [1]})
    runs = expand_runs(resolved(raw))
    assert runs[0].model.embed_dim is None
    result = EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs]).run(progress=False)
    # at the start the network is at chance; at the end it has found the two bits
    assert result.metrics["test_acc"][0, 0] < 0.7
    assert result.metrics["test_acc"][0, -1] > 0.9, result.metrics["test_acc"]
