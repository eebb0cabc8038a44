import itertools

import numpy as np
import pytest

from grokrepro.tasks.algorithmic import MODULAR_OPERATIONS, PERMUTATION_OPERATIONS, ModularTask, PermutationTask
from grokrepro.tasks import Dataset, make_dataset
from grokrepro.tasks.algorithmic import permutations

P = 7


def reference(operation, a, b, p):
    inverse = pow(b, -1, p) if b else None
    return {
        "x+y": (a + b) % p,
        "x-y": (a - b) % p,
        "x*y": (a * b) % p,
        "x/y": a * inverse % p if b else None,
        "x/y if y odd else x-y": (a * inverse % p) if b % 2 == 1 else (a - b) % p,
        "x^2+y^2": (a * a + b * b) % p,
        "x^2+xy+y^2": (a * a + a * b + b * b) % p,
        "x^2+xy+y^2+x": (a * a + a * b + b * b + a) % p,
        "x^3+xy": (a**3 + a * b) % p,
        "x^3+xy^2+y": (a**3 + a * b * b + b) % p,
    }[operation]


@pytest.mark.parametrize("operation", MODULAR_OPERATIONS)
def test_modular_labels(operation):
    data = make_dataset(ModularTask(operation=operation, prime=P, train_fraction=0.5), split_seed=0)
    expected = {(a, b): reference(operation, a, b, P) for a in range(P) for b in range(P)}
    expected = {k: v for k, v in expected.items() if v is not None}
    assert len(data.labels) == len(expected)
    for (a, b), label in zip(data.inputs, data.labels):
        assert expected[(int(a), int(b))] == label


def compose(x, y):
    return tuple(x[y[i]] for i in range(len(x)))


def inverse(x):
    return tuple(sorted(range(len(x)), key=lambda i: x[i]))


@pytest.mark.parametrize("operation", PERMUTATION_OPERATIONS)
def test_permutation_labels(operation):
    degree = 4
    data = make_dataset(PermutationTask(kind="permutation", operation=operation, degree=degree,
                                        train_fraction=0.5), split_seed=0)
    elements = permutations(degree)
    assert data.n_symbols == 24 and len(data.labels) == 24 * 24
    rng = np.random.default_rng(0)
    for k in rng.choice(len(data.labels), 50, replace=False):
        x, y = elements[data.inputs[k, 0]], elements[data.inputs[k, 1]]
        want = {"x*y": compose(x, y), "x*y*x^-1": compose(compose(x, y), inverse(x)),
                "x*y*x": compose(compose(x, y), x)}[operation]
        assert elements[data.labels[k]] == want


def test_s5_has_120_elements():
    data = make_dataset(PermutationTask(kind="permutation", operation="x*y", train_fraction=0.3), 0)
    assert data.n_symbols == 120 and len(data.labels) == 120 * 120


def test_split_is_deterministic_disjoint_and_nested(tmp_path):
    task = ModularTask(operation="x+y", prime=13, train_fraction=0.5)
    first, again = make_dataset(task, 3), make_dataset(task, 3)
    assert np.array_equal(first.train_index, again.train_index)
    assert not set(first.train_index) & set(first.test_index)
    assert len(first.train_index) + len(first.test_index) == 169
    other = make_dataset(task, 4)
    assert not np.array_equal(first.train_index, other.train_index)
    smaller = make_dataset(task.model_copy(update={"train_fraction": 0.3}), 3)
    assert set(smaller.train_index) <= set(first.train_index)
    first.save(tmp_path / "d.npz")
    loaded = Dataset.load(tmp_path / "d.npz")
    assert np.array_equal(loaded.train_index, first.train_index) and loaded.n_symbols == 13


def test_bitwise_xor_labels():
    from grokrepro.tasks.algorithmic import BitwiseTask

    data = make_dataset(BitwiseTask(kind="bitwise", bits=5, train_fraction=0.8), split_seed=0)
    assert data.n_symbols == 32 and len(data.labels) == 1024
    assert all(int(a) ^ int(b) == int(label) for (a, b), label in zip(data.inputs, data.labels))
