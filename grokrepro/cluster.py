"""What one training job asks a cluster scheduler for. rules/train.smk declares it; a local run only counts cores.

Memory and wall time are sized per scale in config/config.yaml (`train_resources`); whether a job needs a GPU
follows from the runs themselves, so that smoke and default scale never wait in a GPU queue. The same rule
picks the device the job trains on (`training_device`), so a job asks for a GPU exactly when it will use one.
"""

from __future__ import annotations

from typing import Any, Iterable

from grokrepro.spec.runs import RunConfig
from grokrepro.tasks import make_dataset

# The scale that follows the papers' own setups, sized for a GPU; the others are sized for a CPU.
GPU_SCALE = "paper"


class DeviceError(RuntimeError):
    """A group cannot train on the device its scale and spec call for."""


def wants_gpu(runs: Iterable[RunConfig], scale: str, allow_cpu_paper: bool = False) -> bool:
    """A group trains on a GPU when its spec says `device: cuda`, or says `auto` at the GPU-sized scale (unless
    the paper scale is explicitly allowed onto CPUs: then only `cuda` asks for one)."""
    devices = {run.train.device for run in runs}
    return "cuda" in devices or ("auto" in devices and scale == GPU_SCALE and not allow_cpu_paper)


def training_device(runs: list[RunConfig], scale: str, allow_cpu_paper: bool = False) -> str:
    """"cuda" or "cpu" for one group: the GPU exactly where `wants_gpu` asked the scheduler for one. At the
    paper scale `auto` never falls back to the CPU unnoticed: without a CUDA device it refuses, naming the way
    out, unless `allow_cpu_paper` (then the CPU, or a GPU if one is there after all)."""
    import torch

    devices = {run.train.device for run in runs}
    if not ("cuda" in devices or ("auto" in devices and scale == GPU_SCALE)):
        return "cpu"  # smoke and default stay on the CPU, where their bit-for-bit results were measured
    if torch.cuda.is_available():
        return "cuda"
    why = ("this torch is a CPU-only build" if torch.version.cuda is None else
           f"this torch is built for CUDA {torch.version.cuda} but finds no device (driver too old, "
           f"CUDA_VISIBLE_DEVICES empty, or no GPU on this node)")
    if "cuda" in devices:
        raise DeviceError(f"the spec says train.device: cuda, but {why}; set train.device: auto or cpu to "
                          f"train on the CPU")
    if allow_cpu_paper:
        return "cpu"
    raise DeviceError(
        f"the {scale} scale is sized for a GPU (train.device: auto), but {why}. On a CPU this scale takes "
        f"weeks of core-hours, so it does not start there unasked. Run it on a GPU host; or rebuild the "
        f"results without training from an archive of a GPU run: snakemake -c2 paper/all --config "
        f"scale={scale} restore=<archive>.tar.gz; or train on the CPU anyway: --config allow_cpu_paper=true")


def training_resources(runs: list[RunConfig], scale: str, sizes: dict[str, Any], threads: int,
                       allow_cpu_paper: bool = False) -> dict[str, int]:
    """Scheduler resources for one vmapped training group: cores, memory (MB), wall time (minutes) and GPUs."""
    try:
        size = sizes[scale]
    except KeyError:
        raise KeyError(f"config train_resources has no entry for scale {scale!r}") from None
    return {
        # The cores the job's math uses (torch_threads), so that a cluster job gets exactly what it computes on.
        "cpus_per_task": int(threads),
        "mem_mb": int(size["mem_mb"]),
        "runtime": int(size["runtime"]),
        "gpu": int(wants_gpu(runs, scale, allow_cpu_paper)),
    }


def training_cost(runs: list[RunConfig]) -> float:
    """A training group's compute in millions of example-steps (runs x step budget x training examples): what
    orders the jobs, longest first, so that a long group does not start last and run alone on one core. On the
    default scale's 53 groups its rank order agrees with their measured times (Spearman 0.80); early stops and
    model width are what it leaves out."""
    first = runs[0]
    return len(runs) * first.train.steps * _training_examples(first) / 1e6


_EXAMPLES: dict[str, int] = {}


def _training_examples(run: RunConfig) -> int:
    if run.dataset_id not in _EXAMPLES:
        _EXAMPLES[run.dataset_id] = len(make_dataset(run.task, run.split_seed).train_index)
    return _EXAMPLES[run.dataset_id]
