"""Where a claim's wall time goes: training, Snakemake's own scheduler process, and the jobs' start-up.

    python benchmarks/pipeline.py grokking lazy_to_rich --scale smoke --cores 2

Runs `snakemake -c<cores> paper[-<scale>]/<claim> ...` from scratch in a temporary copy of the workflow, sampling the
scheduler process's own CPU time (not its children's), and prints:
- wall: the whole run;
- training: the summed wall time of the training jobs (each on torch_threads threads), and training / cores,
  the least wall time the cores could have needed for it;
- overhead: wall - training / cores, and its share of wall (the issue's goal: <= 10 % at default);
- scheduler: the snakemake process's CPU seconds as a share of one core over the run (goal: <= 5 %);
- start-up: jobs by rule, times the measured start-up of one `python -m grokrepro.cli` process.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import xarray as xr

from grokrepro.outputs import published_dir

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ("Snakefile", "rules", "specs", "config", "profiles", "envs")


def copy_workflow(directory: Path) -> Path:
    for name in WORKFLOW:
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, directory / name)
    return directory


def cli_startup_seconds(repeats: int = 3) -> float:
    """The fastest of a few `python -m grokrepro.cli --help` runs: what every job pays before its work."""
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "grokrepro.cli", "--help"], cwd=ROOT, capture_output=True, check=True)
        best = min(best, time.perf_counter() - began)
    return best


def run_workflow(directory: Path, targets: list[str], cores: int, config: list[str]) -> tuple[float, float, str]:
    """Wall seconds, the scheduler process's own CPU seconds, and its log."""
    command = ["snakemake", f"-c{cores}", *targets, "--config", *config]
    began = time.perf_counter()
    process = subprocess.Popen(command, cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watched = psutil.Process(process.pid)
    cpu = 0.0
    output = []
    # Read the log while it is written: a full pipe would block snakemake (and the run) on its next line.
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    while process.poll() is None:
        try:
            times = watched.cpu_times()
            cpu = times.user + times.system  # the process's own, not its finished children's
        except psutil.NoSuchProcess:
            break
        time.sleep(0.5)
    reader.join()
    wall = time.perf_counter() - began
    if process.returncode:
        raise SystemExit(f"snakemake failed:\n{''.join(output)[-3000:]}")
    return wall, cpu, "".join(output)


def training_seconds(directory: Path) -> float:
    total = 0.0
    for path in list(directory.glob("results/*/*/runs/*.nc")) + list(directory.glob("results/*/*/warm/*.nc")):
        with xr.open_dataset(path) as group:
            total += float(group.attrs.get("wall_seconds", 0.0))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("claims", nargs="*", help="claims to run (none: every claim, paper[-<scale>]/all)")
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--config", nargs="*", default=[], help="more --config items, e.g. scheduler choices")
    parser.add_argument("--keep", type=Path, help="run in this new directory and keep it (paper*/, results/, logs/)")
    args = parser.parse_args()
    seed_set = dict(item.split("=", 1) for item in args.config if "=" in item).get("seed_set", "verdict")
    published = published_dir(args.scale, seed_set)
    targets = [f"{published}/{c}" for c in args.claims] or [f"{published}/all"]
    startup = cli_startup_seconds()
    with tempfile.TemporaryDirectory() as scratch:
        if args.keep:
            args.keep.mkdir(parents=True)  # refuses an existing directory: its old outputs would skip training
        directory = copy_workflow(args.keep or Path(scratch))
        wall, scheduler_cpu, log = run_workflow(directory, targets, args.cores, [f"scale={args.scale}", *args.config])
        training = training_seconds(directory)
        if args.keep:
            (directory / "snakemake.log").write_text(log)
    jobs = collections.Counter(re.findall(r"^(?:local)?rule (\w+):", log, flags=re.M))
    python_jobs = sum(n for rule, n in jobs.items() if rule != "publish")
    overhead = wall - training / args.cores
    print(f"targets: {' '.join(targets)} at scale {args.scale}, -c{args.cores}")
    print(f"wall                {wall:8.1f} s")
    print(f"training            {training:8.1f} s summed; / {args.cores} cores = {training / args.cores:.1f} s")
    print(f"overhead            {overhead:8.1f} s = {overhead / wall:6.1%} of wall (wall - training / cores)")
    print(f"scheduler process   {scheduler_cpu:8.1f} s CPU = {scheduler_cpu / wall:6.1%} of one core")
    print(f"job start-up        {python_jobs} python jobs x {startup:.2f} s = {python_jobs * startup:.1f} s "
          f"({python_jobs * startup / args.cores / wall:.1%} of wall at {args.cores} cores)")
    print("jobs by rule        " + ", ".join(f"{rule} {n}" for rule, n in sorted(jobs.items())))


if __name__ == "__main__":
    main()
