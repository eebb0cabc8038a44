"""profiles/slurm: training jobs ask for what their scale needs, and the DAG runs through a real SLURM."""

import json
import subprocess
import time

import pytest
import yaml

from grokrepro.cluster import training_resources, wants_gpu
from grokrepro.spec import expand_runs, load_spec, training_groups
from helpers import tiny_spec, write_spec
from conftest import ROOT
from slurm_cluster import SlurmUnavailable, missing_requirements, one_node_cluster

pytestmark = pytest.mark.workflow

SIZES = {"smoke": {"mem_mb": 2000, "runtime": 15}, "default": {"mem_mb": 4000, "runtime": 120},
         "paper": {"mem_mb": 16000, "runtime": 2880}}
# The options a cluster without accounting storage needs (README: Running on SLURM).
# The cores a training job asks for are the threads its math uses.
THREADS = yaml.safe_load((ROOT / "config/config.yaml").read_text())["torch_threads"]
NO_ACCOUNTING = ["--slurm-no-account", "--slurm-status-command", "squeue"]


def groups(tmp_path, scale, device="auto"):
    path = write_spec(tmp_path, tiny_spec(train={**tiny_spec()["train"], "device": device}))
    return list(training_groups(expand_runs(load_spec(path, scale))).values())


@pytest.mark.parametrize("scale, device, gpu", [
    ("smoke", "auto", 0), ("default", "auto", 0), ("paper", "auto", 1),
    ("default", "cuda", 1), ("paper", "cpu", 0),
])
def test_a_training_job_asks_for_a_gpu_only_where_it_will_use_one(tmp_path, scale, device, gpu):
    for runs in groups(tmp_path, scale, device):
        assert wants_gpu(runs, scale) == bool(gpu)
        resources = training_resources(runs, scale, SIZES, threads=2)
        assert resources == {"cpus_per_task": 2, **SIZES[scale], "gpu": gpu}


def plan(directory, scale):
    tree = "paper" if scale == "default" else f"paper-{scale}"
    done = subprocess.run(["snakemake", "--profile", "profiles/slurm", f"{tree}/all", "--config", f"scale={scale}",
                           "--dry-run", *NO_ACCOUNTING], cwd=directory, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def train_resources_lines(text):
    jobs = text.split("\nrule ")
    return [line for job in jobs if job.startswith("train:") for line in job.splitlines() if "resources:" in line]


def test_slurm_profile_plans_cpu_jobs_at_smoke_scale_and_gpu_jobs_at_paper_scale(workflow_dir):
    smoke = plan(workflow_dir, "smoke")
    assert "Using profiles profiles/slurm" in smoke
    lines = train_resources_lines(smoke)
    assert lines and all(f"cpus_per_task={THREADS}" in line and "mem_mb=2000" in line and "runtime=15" in line
                         and "gpu=0" in line for line in lines)
    lines = train_resources_lines(plan(workflow_dir, "paper"))
    assert lines and all("gpu=1" in line and "mem_mb=16000" in line for line in lines)


@pytest.fixture(scope="module")
def slurm():
    reason = missing_requirements()
    if reason:
        pytest.skip(f"no SLURM cluster can be started here: {reason}")
    try:
        with one_node_cluster() as env:
            yield env
    except SlurmUnavailable as error:
        pytest.skip(f"SLURM did not start: {error}")


def one_small_claim(directory):
    """The copy's grokking spec cut to one dataset and one training group at smoke scale; the other specs gone."""
    for spec in (directory / "specs").glob("*.yaml"):
        if spec.stem != "grokking":
            spec.unlink()
    path = directory / "specs/grokking.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["task"]["split_seed"] = 0
    # the axes the grokking checks select on, at one value each
    sweep = {"task.train_fraction": [0.5], "optimizer.weight_decay": [1.0], "train": [{"name": "full"}]}
    raw["scales"]["smoke"].update(sweep=sweep, seeds={"verdict": [200]})  # 100-102 are retired
    # E1 selects train fraction 0.6, which this cut sweep lacks (validation refuses a check that selects no run)
    raw["checks"] = [check for check in raw["checks"] if check["name"] != "E1"]
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def slurm_jobs(env):
    """Every job the cluster still lists (MinJobAge keeps finished ones): id, state and snakemake's comment."""
    shown = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T|%k"], env=env,
                           capture_output=True, text=True, check=True)
    return [line.split("|", 2) for line in shown.stdout.splitlines()]


def test_smoke_claim_runs_through_a_real_slurm(slurm, workflow_dir):
    one_small_claim(workflow_dir)
    started = time.time()
    done = subprocess.run(
        ["snakemake", "--profile", "profiles/slurm", "paper-smoke/all", "--config", "scale=smoke", *NO_ACCOUNTING,
         # A test cluster answers at once; the default first wait (40 s) suits a busy shared one.
         "--slurm-init-seconds-before-status-checks", "1"],
        cwd=workflow_dir, env=slurm, capture_output=True, text=True, timeout=600)
    log = done.stdout[-4000:] + done.stderr[-4000:]
    assert done.returncode == 0, log
    print(f"smoke claim through SLURM: {time.time() - started:.0f} s")

    verdict = json.loads((workflow_dir / "paper-smoke/grokking/verdict.json").read_text())
    assert verdict["scale"] == "smoke" and {c["name"] for c in verdict["checks"]} == {"G1", "G2", "G3"}
    assert (workflow_dir / "paper-smoke/report.html").is_file()

    # Every job but the local ones (publish, report) went through sbatch, and each finished there.
    jobs = slurm_jobs(slurm)
    rules = sorted(comment.split("_wildcards")[0].removeprefix("rule_") for _, _, comment in jobs)
    # no dataset jobs (training makes its data) and one figures job per claim
    assert rules == sorted(["train", "curves", "verdict", "figures"]), jobs
    assert {state for _, state, _ in jobs} == {"COMPLETED"}, jobs
    train_id = next(job_id for job_id, _, comment in jobs if comment.startswith("rule_train"))
    shown = subprocess.run(["scontrol", "show", "job", train_id], env=slurm, capture_output=True, text=True,
                           check=True).stdout
    # What rules/train.smk declares at smoke scale: torch_threads cores, 2000 MB, 15 minutes, no GPU.
    assert f"NumCPUs={THREADS}" in shown and "MinMemoryNode=2000M" in shown and "TimeLimit=00:15:00" in shown, shown
    assert "gpu" not in shown, shown
