"""Where a result came from: code version, packages, machine."""

from __future__ import annotations

import json
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


def provenance(device: str = "cpu") -> dict[str, str]:
    commit, dirty = git_commit()
    return {
        "git_commit": commit,
        "git_dirty": str(dirty).lower(),
        "versions": json.dumps(package_versions(), sort_keys=True),
        "device": device,
        "host": platform.node(),
        "platform": platform.platform(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
