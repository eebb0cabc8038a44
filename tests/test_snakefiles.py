"""The Snakefiles themselves: formatted by snakefmt and clean under `snakemake --lint`."""

import re
import subprocess
import tomllib

import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.workflow


def test_snakefiles_are_formatted():
    done = subprocess.run(["snakefmt", "--check", "Snakefile", "rules/"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"run `snakefmt Snakefile rules/`:\n{done.stdout}{done.stderr}"


def test_snakemake_lint_finds_nothing(workflow_dir):
    done = subprocess.run(["snakemake", "--lint"], cwd=workflow_dir, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "Lints for" not in output, output
    assert "Congratulations, your workflow is in a good condition!" in output


def test_the_jobs_conda_environment_pins_what_pyproject_pins():
    pins = dict(re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", d).groups()
                for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    environment = yaml.safe_load((ROOT / "envs/grokrepro.yaml").read_text())["dependencies"]
    conda = dict(d.split("=", 1) for d in environment if isinstance(d, str) and "=" in d)
    pip = dict(d.split("==", 1) for entry in environment if isinstance(entry, dict) for d in entry["pip"])
    pinned = {name.lower(): version for name, version in {**conda, **pip}.items()}
    del pins["snakemake"]  # runs the jobs, so it is not needed inside their environment
    for name, version in pins.items():
        # conda-forge may lack a pip post-release (netCDF4 1.7.5.1.post1 is 1.7.5 there)
        assert version.startswith(pinned.get(name.lower(), "missing")), (name, version, pinned.get(name.lower()))
