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
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
