"""Devices: the paper scale never falls back to the CPU unasked, the other scales stay on the CPU unless a spec
asks for a GPU, a job asks the scheduler for a GPU exactly when it will use one, determinism is strict on CUDA,
and the kernel-regression fallback solves singular kernels on any device. CUDA is patched in or out, so these
run (and mean the same) on a machine with or without a GPU."""

import os
import subprocess

import numpy as np
import pytest
import torch

from grokrepro import cli
from grokrepro.cluster import DeviceError, training_device, training_resources, wants_gpu
from grokrepro.metrics.kernels import kernel_regression_coefficients, least_squares
from grokrepro.spec import expand_runs, load_spec, training_groups
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer
from helpers import tiny_spec, write_spec

SIZES = {"smoke": {"mem_mb": 2000, "runtime": 15}, "default": {"mem_mb": 4000, "runtime": 120},
         "paper": {"mem_mb": 16000, "runtime": 2880}}


def _runs(tmp_path, scale, device="auto"):
    path = write_spec(tmp_path, tiny_spec(train={**tiny_spec()["train"], "device": device}))
    return next(iter(training_groups(expand_runs(load_spec(path, scale))).values()))


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_the_paper_scale_refuses_the_cpu_and_says_how_to_go_on(tmp_path, no_cuda):
    runs = _runs(tmp_path, "paper")
    with pytest.raises(DeviceError) as refusal:
        training_device(runs, "paper")
    message = str(refusal.value)
    assert "sized for a GPU" in message and "weeks" in message  # why
    assert "--config allow_cpu_paper=true" in message and "restore=" in message  # the ways on
    assert training_device(runs, "paper", allow_cpu_paper=True) == "cpu"


def test_the_training_job_refuses_with_that_message_and_trains_when_allowed(tmp_path, no_cuda, capsys):
    path = write_spec(tmp_path, tiny_spec(train={**tiny_spec()["train"], "steps": 3}))
    group = next(iter(training_groups(expand_runs(load_spec(path, "paper")))))
    arguments = ["train", str(path), "--scale", "paper", "--group", group, "--data-dir", str(tmp_path),
                 "--out", str(tmp_path / "group.nc"), "--quiet"]
    assert cli.main(arguments) == 2
    assert "allow_cpu_paper=true" in capsys.readouterr().err
    assert not (tmp_path / "group.nc").exists()
    assert cli.main([*arguments, "--allow-cpu-paper"]) == 0
    assert (tmp_path / "group.nc").exists() and "runs on cpu" in capsys.readouterr().err


def test_a_spec_that_demands_cuda_is_refused_without_it(tmp_path, no_cuda):
    with pytest.raises(DeviceError, match="train.device: cuda"):
        training_device(_runs(tmp_path, "default", "cuda"), "default", allow_cpu_paper=True)


@pytest.mark.parametrize("scale", ["smoke", "default"])
def test_other_scales_stay_on_the_cpu_on_a_gpu_host(tmp_path, cuda, scale):
    runs = _runs(tmp_path, scale)
    assert training_device(runs, scale) == "cpu"
    assert EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs]).device.type == "cpu"
    assert training_device(_runs(tmp_path, scale, "cuda"), scale) == "cuda"  # unless the spec asks for it
    assert training_device(_runs(tmp_path, "paper"), "paper") == "cuda"


@pytest.mark.parametrize("scale, device, allow_cpu_paper, gpu", [
    ("smoke", "auto", False, 0), ("default", "auto", False, 0), ("paper", "auto", False, 1),
    ("paper", "auto", True, 0), ("default", "cuda", False, 1), ("default", "cuda", True, 1),
    ("paper", "cpu", False, 0),
])
def test_a_job_asks_for_a_gpu_exactly_when_it_will_train_on_one(tmp_path, cuda, scale, device, allow_cpu_paper,
                                                                  gpu):
    runs = _runs(tmp_path, scale, device)
    resources = training_resources(runs, scale, SIZES, threads=1, allow_cpu_paper=allow_cpu_paper)
    assert resources["gpu"] == gpu == int(wants_gpu(runs, scale, allow_cpu_paper))
    # on a host with a GPU, the job uses one exactly where it asked for one (allow_cpu_paper only allows the
    # CPU where there is no GPU)
    if not allow_cpu_paper:
        assert (training_device(runs, scale, allow_cpu_paper) == "cuda") == bool(gpu)


@pytest.mark.parametrize("device, strict", [("cuda", True), ("cpu", False)])
def test_determinism_is_strict_on_cuda_with_the_cublas_workspace_pinned(monkeypatch, device, strict):
    calls = []
    monkeypatch.setattr(torch._C, "_set_deterministic_algorithms", lambda on, warn_only: calls.append((on, warn_only)))
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    cli.deterministic_algorithms(device)
    assert calls == [(True, not strict)]
    assert os.environ.get("CUBLAS_WORKSPACE_CONFIG") == (cli.CUBLAS_WORKSPACE if strict else None)
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")  # the user's own setting is kept
    cli.deterministic_algorithms(device)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def _singular_kernel(n=12, rank=4, seed=0):
    features = torch.randn(n, rank, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return features @ features.T, features


def test_the_least_squares_fallback_handles_a_singular_kernel():
    """A rank-4 kernel of 12 points (Cholesky fails): the minimum-norm interpolant of labels in its range."""
    kernel, features = _singular_kernel()
    targets = features @ torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    assert int(torch.linalg.cholesky_ex(kernel).info) != 0
    coefficients = kernel_regression_coefficients(kernel, targets)
    assert torch.isfinite(coefficients).all()
    torch.testing.assert_close(kernel @ coefficients, targets, rtol=1e-6, atol=1e-6)
    # the minimum-norm solution lies in the kernel's range (no component along its null space)
    torch.testing.assert_close(coefficients, torch.linalg.pinv(kernel, hermitian=True) @ targets, rtol=1e-6,
                               atol=1e-6)


def test_a_cuda_matrix_is_solved_on_the_cpu(monkeypatch):
    """CUDA's only lstsq driver (gels) assumes full rank: the solve must go to the CPU's gelsy and come back."""
    from types import SimpleNamespace

    seen = []
    real = torch.linalg.lstsq

    class Solution(torch.Tensor):  # records where the solution is moved to
        def to(self, *args, **kwargs):
            seen.append(("moved to", str(args[0])))
            return torch.Tensor(self)

    def recording(a, b, rcond=None, driver=None):
        seen.append((a.device.type, driver))
        return SimpleNamespace(solution=real(a, b, rcond=rcond, driver=driver).solution.as_subclass(Solution))

    class OnCuda(torch.Tensor):  # a CPU tensor that says it lives on a GPU, until moved
        @property
        def device(self):
            return torch.device("cuda")

        def cpu(self):
            return torch.Tensor(self)

    monkeypatch.setattr(torch.linalg, "lstsq", recording)
    kernel, features = _singular_kernel()
    targets = (features @ torch.ones(4, dtype=torch.float64))[:, None]
    solution = least_squares(kernel.as_subclass(OnCuda), targets.as_subclass(OnCuda))
    assert seen == [("cpu", "gelsy"), ("moved to", "cuda")]
    assert torch.isfinite(solution).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_a_real_gpu_the_fallback_agrees_with_the_cpu():
    kernel, features = _singular_kernel()
    targets = features @ torch.ones(4, dtype=torch.float64)
    on_gpu = kernel_regression_coefficients(kernel.cuda(), targets.cuda()).cpu()
    assert torch.equal(on_gpu, kernel_regression_coefficients(kernel, targets))


@pytest.mark.workflow
def test_snakemake_passes_allow_cpu_paper_to_the_training_jobs(workflow_dir):
    def dry_run(*config):
        done = subprocess.run(["snakemake", "-n", "-p", "paper-paper/lmn_compression", "--config", "scale=paper",
                               *config],
                              cwd=workflow_dir, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return [line for line in done.stdout.splitlines() if "grokrepro.cli train" in line]

    allowed, refused = dry_run("allow_cpu_paper=true"), dry_run()
    assert allowed and all("--allow-cpu-paper" in line for line in allowed)
    assert refused and not any("--allow-cpu-paper" in line for line in refused)
