"""Content hashes: a checkpoint, a warm-start weights file or a curves file whose bytes changed is refused when
read (and the checkpoint's previous generation used), never trained on or judged."""

import json

import numpy as np
import pytest
import torch
import xarray as xr

from grokrepro.integrity import CorruptFileError, dataset_sha256, read_sealed, write_sealed
from grokrepro.metrics.curves import CorruptResultError, read_complete, write_atomic
from grokrepro.spec import expand_runs
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer
from grokrepro.train.checkpoint import previous
from grokrepro.train.warm_start import initial_params, save_weights
from helpers import killed_after_second_checkpoint, resolved, tiny_spec


def _runs():
    raw = tiny_spec(train={"steps": 30, "log_every": 5, "log_points": 5, "checkpoint_every": 10})
    return expand_runs(resolved(raw))


def _trainer(runs, checkpoint=None):
    return EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs], checkpoint)


def _flip_a_bit_of(path, tensor: torch.Tensor):
    """Flip an exponent bit of the first float of `tensor` where the file stores it (the file stays loadable
    by torch.load: only a value changes)."""
    data = bytearray(path.read_bytes())
    where = data.find(tensor.detach().cpu().contiguous().numpy().tobytes()[:16])
    assert where > 0
    data[where + 3] ^= 0x08
    path.write_bytes(bytes(data))


def test_a_flipped_bit_in_a_checkpoint_is_reported_and_the_previous_one_used(tmp_path, monkeypatch, capsys):
    runs = _runs()
    uninterrupted = _trainer(runs).run(progress=False)
    checkpoint = tmp_path / "group.pt"
    saves = killed_after_second_checkpoint(_trainer(runs, checkpoint), monkeypatch)
    newest = read_sealed(checkpoint, weights_only=False)
    _flip_a_bit_of(checkpoint, next(iter(newest["params"].values())))
    assert torch.load(_payload_of(checkpoint), weights_only=False)["step"] == saves[1]  # torch alone takes it
    with pytest.raises(CorruptFileError, match="does not match its sha256"):
        read_sealed(checkpoint, weights_only=False)
    capsys.readouterr()
    resumed = _trainer(runs, checkpoint).run(progress=False)
    err = capsys.readouterr().err
    assert "does not match its sha256" in err and f"resuming from {previous(checkpoint)}" in err
    for name in uninterrupted.metrics:
        np.testing.assert_array_equal(resumed.metrics[name], uninterrupted.metrics[name])


def test_both_checkpoints_corrupt_means_training_from_step_0(tmp_path, capsys):
    runs = _runs()
    checkpoint = tmp_path / "group.pt"
    for path in (checkpoint, previous(checkpoint)):
        path.write_bytes(b"not a checkpoint")
    result = _trainer(runs, checkpoint).run(progress=False)
    assert "training from step 0" in capsys.readouterr().err
    np.testing.assert_array_equal(result.metrics["train_loss"], _trainer(runs).run(progress=False).metrics["train_loss"])


def test_a_changed_byte_in_warm_start_weights_is_refused_and_set_aside(tmp_path):
    runs = _runs()
    trainer = _trainer(runs)
    trainer.run(progress=False)
    final = trainer.final_params()
    weights = tmp_path / "parents.weights.pt"
    save_weights(final, weights)
    _flip_a_bit_of(weights, next(iter(final["params"].values())))
    assert torch.load(_payload_of(weights), weights_only=True)  # still loadable: only the hash catches it

    class Child:
        class warm_start:  # noqa: N801 - stands in for a run's warm_start settings
            run_id = runs[0].run_id

    with pytest.raises(CorruptFileError, match="run the workflow again to retrain its parents"):
        initial_params([Child], [weights])
    assert not weights.exists() and weights.with_name(weights.name + ".corrupt").exists()


def _payload_of(sealed):
    import io

    data = sealed.read_bytes()
    return io.BytesIO(data[data.index(b"\n") + 1:])


def _curves():
    return xr.Dataset({"test_acc": (("run", "step"), np.linspace(0, 1, 12).reshape(2, 6))},
                      coords={"run": ["a", "b"], "step": np.arange(6) * 10, "seed": ("run", [1, 2])},
                      attrs={"claim": "x", "wall_seconds": 1.5})


def test_a_value_rewritten_inside_a_curves_file_is_refused(tmp_path):
    path = tmp_path / "curves.nc"
    write_atomic(_curves(), path)
    assert float(read_complete(path)["test_acc"][0, 1]) == pytest.approx(0.0909, abs=1e-3)
    import netCDF4

    with netCDF4.Dataset(path, "a") as handle:  # same shape, same bytes, a valid file: only a value differs
        handle["test_acc"][0, 1] = 0.99
    with pytest.raises(CorruptResultError, match="does not match its sha256"):
        read_complete(path)


def test_the_content_hash_survives_the_round_trip_and_sees_attributes(tmp_path):
    path = tmp_path / "curves.nc"
    write_atomic(_curves(), path)
    loaded = read_complete(path)
    before = dataset_sha256(loaded)
    loaded.attrs["claim"] = "y"
    assert dataset_sha256(loaded) != before
    assert not list(tmp_path.glob("*.partial"))


def test_sealed_files_refuse_a_missing_header(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"a": 1}, path)
    with pytest.raises(CorruptFileError, match="no content hash"):
        read_sealed(path, weights_only=True)
    write_sealed({"a": 1}, path)
    assert read_sealed(path, weights_only=True) == {"a": 1}


def test_a_verdict_records_the_sha256_of_what_it_read(tmp_path):
    from grokrepro.claims.evaluate import evaluate
    from grokrepro.integrity import sha256_file
    from helpers import synthetic_curves

    curves = synthetic_curves([100], [5000], [0.5], [1, 2])
    curves = curves.assign_coords(weight_decay=("run", [0.1, 0.1]))
    curves["aborted_at"] = ("run", [-1, -1])
    curves.attrs["group_sha256"] = json.dumps({"results/x/runs/g1.nc": "ab" * 32})
    path = tmp_path / "curves.nc"
    write_atomic(curves, path)
    verdict = evaluate(resolved(tiny_spec()), "spec", path)
    assert verdict["data_sha256"] == {str(path): sha256_file(path)}
    assert verdict["group_sha256"] == {"results/x/runs/g1.nc": "ab" * 32}
    assert verdict["data"] == [str(path)]  # the fields a verdict had are kept
