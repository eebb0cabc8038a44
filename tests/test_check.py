"""A results tree that cannot silently rot, on a real smoke run of one claim: `grokrepro check` passes on the
complete tree and names a deleted or changed file; the workflow rebuilds a deleted intermediate file; a
truncated group file is set aside and retrained; `archive` refuses an incomplete tree; the report marks a
claim whose data changed."""

import os
import subprocess
import sys

import pytest

from conftest import copy_workflow

pytestmark = pytest.mark.workflow

CLAIM = "lmn_compression"  # two training groups at smoke: the cheapest complete claim
RESULTS = f"results/smoke/{CLAIM}"


def run(directory, *arguments, timeout=900):
    return subprocess.run(list(arguments), cwd=directory, capture_output=True, text=True, timeout=timeout)


def snakemake(directory, *arguments):
    return run(directory, "snakemake", "-c2", "paper-smoke/all", "--config", "scale=smoke", *arguments)


def check(directory):
    return run(directory, sys.executable, "-m", "grokrepro.cli", "check", "--scale", "smoke")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    directory = copy_workflow(tmp_path_factory.mktemp("one_claim"))
    for spec in (directory / "specs").glob("*.yaml"):
        if spec.stem != CLAIM:
            spec.unlink()
    done = snakemake(directory)
    assert done.returncode == 0, done.stderr[-3000:]
    return directory


def groups(tree):
    return sorted((tree / RESULTS / "runs").glob("g*.nc"))


def assert_complete(tree):
    done = check(tree)
    assert done.returncode == 0, done.stderr
    assert "match the sha256 its verdict recorded" in done.stderr


def test_check_passes_on_a_complete_tree_and_names_a_flipped_byte(tree):
    assert_complete(tree)
    group = groups(tree)[0]
    data = bytearray(group.read_bytes())
    stat = group.stat()
    data[len(data) // 2] ^= 0x01
    group.write_bytes(bytes(data))
    os.utime(group, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # bit rot keeps the mtime: Snakemake sees nothing
    try:
        done = check(tree)
        assert done.returncode == 1
        assert f"{RESULTS}/runs/{group.name} is changed" in done.stderr
        assert f"--forcerun {RESULTS}/runs/{group.name}" in done.stderr  # the command that repairs it
        plan = snakemake(tree, "-n")
        assert "Nothing to be done" in plan.stdout + plan.stderr  # which is why `check` exists
        report = run(tree, sys.executable, "-m", "grokrepro.cli", "report", "--out", "marked.html",
                     f"paper-smoke/{CLAIM}")
        assert report.returncode == 0, report.stderr
        html = (tree / "marked.html").read_text()
        assert "data missing or changed" in html and f"changed since the verdict: {RESULTS}/runs/{group.name}" in html
        assert "DATA MISSING" not in (tree / "paper-smoke/all").read_text()
    finally:
        data[len(data) // 2] ^= 0x01
        group.write_bytes(bytes(data))
    assert_complete(tree)


def test_a_deleted_curves_file_is_named_refused_by_archive_and_rebuilt(tree, tmp_path):
    (tree / RESULTS / "curves.nc").unlink()
    done = check(tree)
    assert done.returncode == 1 and f"{RESULTS}/curves.nc is missing" in done.stderr
    archived = run(tree, sys.executable, "-m", "grokrepro.cli", "archive", "--scale", "smoke",
                   "--out", str(tmp_path / "a.tar.gz"))
    assert archived.returncode == 1 and "not archiving it" in archived.stderr
    assert not (tmp_path / "a.tar.gz").exists()
    plan = snakemake(tree, "-n")
    assert "Nothing to be done" not in plan.stdout + plan.stderr
    assert "rule curves" in plan.stdout and "rule train" not in plan.stdout
    assert snakemake(tree).returncode == 0
    assert_complete(tree)


def test_a_deleted_group_file_is_retrained(tree):
    group = groups(tree)[-1]
    group.unlink()
    plan = snakemake(tree, "-n")
    assert "Nothing to be done" not in plan.stdout + plan.stderr
    assert f"{RESULTS}/runs/{group.name}" in plan.stdout and "rule train" in plan.stdout
    done = snakemake(tree)
    assert done.returncode == 0, done.stderr[-3000:]
    assert group.is_file()
    assert_complete(tree)


def test_a_truncated_group_file_is_set_aside_and_retrained(tree):
    group = groups(tree)[0]
    with open(group, "r+b") as handle:
        handle.truncate(5000)
    failed = snakemake(tree)
    assert failed.returncode != 0
    log = (tree / f"logs/smoke/{CLAIM}/curves.log").read_text()
    assert "not a readable netCDF file" in log and "run the workflow again to retrain it" in log
    assert not group.exists() and group.with_name(group.name + ".corrupt").exists()
    done = snakemake(tree)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rule train" in done.stdout + done.stderr
    assert_complete(tree)


def test_an_archive_of_the_tree_restores_without_training_and_the_report_says_so(tree, tmp_path):
    out = tmp_path / "one.tar.gz"
    archived = run(tree, sys.executable, "-m", "grokrepro.cli", "archive", "--scale", "smoke", "--out", str(out))
    assert archived.returncode == 0, archived.stderr
    fresh = copy_workflow(tmp_path / "fresh")
    for spec in (fresh / "specs").glob("*.yaml"):
        if spec.stem != CLAIM:
            spec.unlink()
    plan = snakemake(fresh, f"restore={out}", "-n")
    assert plan.returncode == 0 and "nothing written" in plan.stderr, plan.stderr[-2000:]
    assert not (fresh / "results").exists()
    done = snakemake(fresh, f"restore={out}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rule train" not in done.stdout + done.stderr
    html = (fresh / "paper-smoke/report.html").read_text()
    assert "Restored, not trained here" in html and str(out) in html
    assert run(fresh, sys.executable, "-m", "grokrepro.cli", "check", "--scale", "smoke").returncode == 0


def test_a_resumed_training_log_keeps_the_interrupted_attempts_output(tree):
    group = groups(tree)[0]
    history = tree / RESULTS / "checkpoints" / f"{group.stem}.pt.log"  # what an interrupted attempt left
    history.parent.mkdir(parents=True, exist_ok=True)
    history.write_text("output of the interrupted attempt\n")
    group.unlink()
    done = snakemake(tree)
    assert done.returncode == 0, done.stderr[-3000:]
    log = (tree / f"logs/smoke/{CLAIM}/train/{group.stem}.log").read_text()
    assert log.startswith("output of the interrupted attempt\n") and f"{group.stem}:" in log
    assert not history.exists()  # finished: nothing left to resume
    assert_complete(tree)
