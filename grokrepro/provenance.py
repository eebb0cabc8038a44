"""Where a result came from: code version, packages, machine."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

PACKAGES = ("grokrepro", "torch", "numpy", "xarray", "netCDF4", "snakemake", "pydantic", "seaborn")


def git_commit(cwd: Path | None = None) -> tuple[str, bool]:
    """(commit, dirty). 'unknown' outside a git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, check=True).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; the platform's processor string elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def isa_level() -> str:
    """The x86-64 micro-architecture level the CPU supports (v1-v4), from its flags: floating-point sums can
    differ between levels (wider vector units reorder them), so curves may differ across hosts in late digits."""
    try:
        flags = set()
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        return "unknown"
    if not flags:
        return platform.machine() or "unknown"
    levels = [("x86-64-v2", {"sse4_2", "ssse3", "popcnt", "cx16"}),
              ("x86-64-v3", {"avx", "avx2", "bmi1", "bmi2", "fma", "movbe"}),
              ("x86-64-v4", {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"})]
    level = "x86-64-v1"
    for name, needed in levels:
        if not needed <= flags:
            break
        level = name
    return level


def host(device: str = "cpu") -> dict[str, str]:
    """What the numbers depend on besides the code: CPU, the vector instructions torch uses, and any GPU."""
    details = {"cpu_model": cpu_model(), "cpu_isa_level": isa_level()}
    try:
        import torch

        details["torch_cpu_capability"] = str(torch.backends.cpu.get_cpu_capability())
        if str(device).startswith("cuda") and torch.cuda.is_available():
            details["gpu_name"] = torch.cuda.get_device_name(0)
            details["cuda_version"] = str(torch.version.cuda)
            details["gpu_driver"] = _nvidia_driver()
    except ImportError:
        details["torch_cpu_capability"] = "torch not installed"
    return details


def _nvidia_driver() -> str:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, check=True, timeout=20).stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def gpu_provenance(device: str) -> dict[str, str]:
    """What a result trained on a GPU depends on beyond the packages: the card, the CUDA and cuDNN versions
    and the determinism settings (empty on the CPU)."""
    if not device.startswith("cuda"):
        return {}
    import torch

    return {"gpu": torch.cuda.get_device_name(), "cuda_version": str(torch.version.cuda),
            "cudnn_version": str(torch.backends.cudnn.version()),
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG", ""),
            "deterministic_algorithms": str(torch.are_deterministic_algorithms_enabled()).lower(),
            "deterministic_warn_only": str(torch.is_deterministic_algorithms_warn_only_enabled()).lower(),
            "tf32_matmul": str(torch.backends.cuda.matmul.allow_tf32).lower()}


def provenance(device: str = "cpu") -> dict[str, str]:
    commit, dirty = git_commit()
    return {
        **gpu_provenance(device),
        "git_commit": commit,
        "git_dirty": str(dirty).lower(),
        "versions": json.dumps(package_versions(), sort_keys=True),
        "device": device,
        "host": platform.node(),
        "platform": platform.platform(),
        "host_details": json.dumps(host(device), sort_keys=True),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
