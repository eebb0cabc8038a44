import numpy as np
import pytest

import grokrepro.tasks.file as file_task
from grokrepro.cli import main
from grokrepro.spec import SpecError, expand_runs, load_spec
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer
from helpers import tiny_spec, write_spec

P = 11


def sums(seed=0):
    """x + y mod 11 over every pair, half of them training (a good file)."""
    a, b = np.divmod(np.arange(P * P), P)
    order = np.random.default_rng(seed).permutation(P * P)
    return {"inputs": np.stack([a, b], 1), "labels": (a + b) % P, "train_index": order[:60],
            "test_index": order[60:]}


def spec_with_data(folder, arrays=None, task=None, **npz):
    """A spec in `folder/specs` whose task reads `data/d.npz` next to it; returns the spec's path."""
    (folder / "specs" / "data").mkdir(parents=True, exist_ok=True)
    np.savez(folder / "specs" / "data" / "d.npz", **(sums() if arrays is None else arrays), **npz)
    return write_spec(folder / "specs", tiny_spec(task=task or {"kind": "file", "path": "data/d.npz"}))


def test_a_good_file_trains_from_any_working_directory(tmp_path, monkeypatch):
    path = spec_with_data(tmp_path)
    monkeypatch.chdir(tmp_path.parent)  # the data is found next to the spec, not in the working directory
    runs = expand_runs(load_spec(path))
    data = make_dataset(runs[0].task, runs[0].split_seed)
    expected = sums()
    np.testing.assert_array_equal(data.inputs, expected["inputs"])
    np.testing.assert_array_equal(data.test_index, expected["test_index"])
    assert data.token_inputs and not data.is_regression and data.n_symbols == P and data.outputs == P
    assert len({r.dataset_id for r in runs}) == 1  # the file's split serves every seed
    result = EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs]).run(progress=False)
    assert (result.metrics["train_loss"][:, -1] < 0.8 * result.metrics["train_loss"][:, 0]).all()


def test_real_vectors_and_regression_targets(tmp_path):
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((40, 3))
    path = spec_with_data(tmp_path, {"inputs": inputs, "labels": (inputs[:, 0] > 0).astype(np.int64),
                                     "train_index": np.arange(30), "test_index": np.arange(30, 40)})
    run = expand_runs(load_spec(path))[0]
    data = make_dataset(run.task, run.split_seed)
    assert not data.token_inputs and data.inputs.dtype == np.float32 and data.outputs == 2
    regression = {"inputs": inputs, "labels": inputs[:, 0] ** 2, "train_index": np.arange(30),
                  "test_index": np.arange(30, 40)}
    assert file_task._read(_saved(tmp_path, regression))[1].is_regression


def _saved(tmp_path, arrays, name="r.npz"):
    np.savez(tmp_path / name, **arrays)
    return tmp_path / name


def _without(key):
    return {k: v for k, v in sums().items() if k != key}


BAD = {
    "missing array": (_without("labels"), "has no array labels"),
    "wrong lengths": ({**sums(), "labels": sums()["labels"][:-1]}, "labels has 120 entries but inputs has 121 rows"),
    "overlap": ({**sums(), "test_index": sums()["test_index"].tolist() + [sums()["train_index"][0]]},
                "train_index and test_index share 1 indices"),
    "out of range": ({**sums(), "test_index": [0, 121]}, "test_index holds 121, outside the 121 examples"),
    "empty index": ({**sums(), "test_index": np.array([], dtype=np.int64)}, "test_index must be a non-empty"),
    "repeated index": ({**sums(), "train_index": [1, 1, 2]}, "train_index repeats indices"),
    "NaN input": ({**sums(), "inputs": np.where(np.eye(121, 2) > 0, np.nan, 1.0)},
                  r"inputs holds 2 NaN or infinite values \(the first at \(0, 0\)\)"),
    "NaN label": ({**sums(), "labels": np.r_[np.nan, np.ones(120)]}, "labels holds 1 NaN or infinite values"),
    "negative class": ({**sums(), "labels": np.r_[-1, sums()["labels"][1:]]}, "classes and must be >= 0"),
    "negative token": ({**sums(), "inputs": -sums()["inputs"]}, "tokens and must be >= 0"),
    "1-d inputs": ({**sums(), "inputs": np.arange(121)}, r"inputs has shape \(121,\)"),
    "too few symbols": ({**sums(), "n_symbols": 5}, "n_symbols = 5, but the tokens reach 10"),
    "too few classes": ({**sums(), "n_classes": 10}, "n_classes = 10, but the labels reach 10"),
    "classes of floats": ({**sums(), "labels": sums()["labels"] * 0.5, "n_classes": 3}, "labels are floats"),
    "unknown array": ({**sums(), "weights": np.ones(3)}, "has arrays weights that are not part of the format"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_malformed_file_is_refused_naming_spec_field_and_problem(tmp_path, case):
    arrays, problem = BAD[case]
    path = spec_with_data(tmp_path, arrays)
    with pytest.raises(SpecError, match=problem) as refused:
        load_spec(path)
    assert str(refused.value).startswith(f"{path}: field 'task.path' = 'data/d.npz': ")
    assert "\n" not in str(refused.value)  # one message, not one per scale and sweep point


def test_a_file_that_is_not_an_npz_and_a_missing_file_are_refused(tmp_path):
    path = spec_with_data(tmp_path)
    (tmp_path / "specs" / "data" / "d.npz").write_text("inputs,labels\n1,2\n")
    with pytest.raises(SpecError, match="d.npz is not an .npz file"):
        load_spec(path)
    np.save(tmp_path / "specs" / "data" / "d.npz", np.ones(3))  # .npy content under an .npz name
    with pytest.raises(SpecError, match="d.npz is not an .npz file"):
        load_spec(path)
    (tmp_path / "specs" / "data" / "d.npz").unlink()
    with pytest.raises(SpecError, match="field 'task.path' = 'data/d.npz': Value error, no such file: .*d.npz"):
        load_spec(path)


def test_a_file_over_the_size_limit_is_refused_packed_or_unpacked(tmp_path, monkeypatch):
    path = spec_with_data(tmp_path)
    size = path.with_name("data").joinpath("d.npz").stat().st_size
    monkeypatch.setattr(file_task, "MAX_BYTES", size - 1)
    with pytest.raises(SpecError, match=f"d.npz is {size} bytes; the limit is {size - 1}"):
        load_spec(path)
    # compressed, the file is small but unpacks past the limit
    big = {**sums(), "inputs": np.zeros((121, 5000), dtype=np.int64)}
    np.savez_compressed(tmp_path / "specs" / "data" / "d.npz", **big)
    monkeypatch.setattr(file_task, "MAX_BYTES", 2**20)
    assert (tmp_path / "specs" / "data" / "d.npz").stat().st_size < 2**20
    with pytest.raises(SpecError, match="unpacks to .* bytes; the limit is 1048576"):
        load_spec(path)


def test_grokrepro_validate_prints_the_one_message(tmp_path, capsys):
    path = spec_with_data(tmp_path, BAD["overlap"][0])
    assert main(["validate", str(path)]) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith(f"grokrepro: error: {path}: field 'task.path' = 'data/d.npz'")
    assert "share 1 indices" in message and len(message.splitlines()) == 1


def test_the_file_sha256_is_part_of_the_run_identity(tmp_path):
    path = spec_with_data(tmp_path)
    first = expand_runs(load_spec(path))
    sha256 = first[0].task.sha256
    assert len(sha256) == 64 and first[0].task.model_dump()["sha256"] == sha256
    # the same bytes in another folder: the same runs
    elsewhere = spec_with_data(tmp_path / "copy")
    assert [r.run_id for r in expand_runs(load_spec(elsewhere))] == [r.run_id for r in first]
    # the sha256 written into the spec: the same runs as when it is filled in
    pinned = spec_with_data(tmp_path / "pinned", task={"kind": "file", "path": "data/d.npz", "sha256": sha256})
    assert [r.run_id for r in expand_runs(load_spec(pinned))] == [r.run_id for r in first]
    # edited data: new runs and a new dataset
    spec_with_data(tmp_path, sums(seed=1))
    edited = expand_runs(load_spec(path))
    assert edited[0].task.sha256 != sha256
    assert not {r.run_id for r in edited} & {r.run_id for r in first}
    assert edited[0].dataset_id != first[0].dataset_id
    # ... which a pinned spec refuses
    spec_with_data(tmp_path / "pinned", sums(seed=1), task={"kind": "file", "path": "data/d.npz", "sha256": sha256})
    with pytest.raises(SpecError, match=f"field 'task.path'.*sha256 is [0-9a-f]{{64}}, not the {sha256}"):
        load_spec(pinned)


def test_datasets_are_made_only_from_the_checked_bytes(tmp_path, monkeypatch):
    path = spec_with_data(tmp_path)
    run = expand_runs(load_spec(path))[0]
    spec_with_data(tmp_path, sums(seed=2))  # edited after the spec was loaded
    with pytest.raises(ValueError, match="changed after the spec was loaded"):
        make_dataset(run.task, run.split_seed)
    monkeypatch.setattr(file_task, "_FILES", {})  # a process that never loaded the spec
    with pytest.raises(ValueError, match="load the spec"):
        make_dataset(run.task, run.split_seed)
