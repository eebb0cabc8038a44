"""Audit without training: archive a finished scale, restore it into a fresh copy of the workflow, and rebuild
every verdict, figure and the report with zero training jobs; a changed archive is refused whole."""

import io
import json
import subprocess
import tarfile

import pytest

from conftest import copy_workflow, write_user_spec

from grokrepro.archive import ArchiveError, archived_verdicts, restore_archive

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def archive(smoke_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("archive") / "smoke.tar.gz"
    done = subprocess.run(["python", "-m", "grokrepro.cli", "archive", "--scale", "smoke", "--out", str(out)],
                          cwd=smoke_run, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


def snakemake(directory, *arguments):
    return subprocess.run(["snakemake", "-c2", "paper-smoke/all", "--config", "scale=smoke", *arguments], cwd=directory,
                          capture_output=True, text=True, timeout=900)


def test_restore_rebuilds_the_report_without_training(archive, smoke_run, tmp_path):
    fresh = write_user_spec(copy_workflow(tmp_path))
    plan = subprocess.run(["snakemake", "-n", "paper-smoke/all", "--config", "scale=smoke", f"restore={archive}"],
                          cwd=fresh, capture_output=True, text=True, timeout=300)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "nothing written: this command only plans" in plan.stderr  # a dry run checks and writes nothing
    assert not (fresh / "results").exists()

    done = snakemake(fresh, f"restore={archive}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rule train" not in done.stdout + done.stderr
    assert (fresh / "paper-smoke/report.html").is_file()
    for claim, archived in archived_verdicts(archive).items():
        rebuilt = json.loads((fresh / f"results/smoke/{claim}/verdict.json").read_text())
        assert rebuilt["verdict"] == archived["verdict"], claim
        assert [c["value"] for c in rebuilt["checks"]] == [c["value"] for c in archived["checks"]], claim


def tampered(archive, tmp_path):
    """The same archive with one byte of one group file changed and the manifest left as it was."""
    out = tmp_path / "tampered.tar.gz"
    with tarfile.open(archive) as source, tarfile.open(out, "w:gz") as target:
        changed = False
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if not changed and member.name.endswith(".nc") and "/runs/" in member.name:
                data = data[:-1] + bytes([data[-1] ^ 1])
                changed = True
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    assert changed
    return out


def test_a_tampered_archive_is_refused_and_nothing_is_restored(archive, tmp_path):
    bad = tampered(archive, tmp_path)
    fresh = copy_workflow(tmp_path / "wf")
    done = snakemake(fresh, f"restore={bad}", "--dry-run")
    assert done.returncode != 0
    assert "archive refused, nothing was run" in done.stderr and "does not match its sha256" in done.stderr
    assert not (fresh / "results").exists()


def test_restore_never_overwrites_a_different_file(archive, tmp_path):
    results = tmp_path / "results" / "smoke"
    written = restore_archive(archive, results)
    assert written and restore_archive(archive, results) == []  # identical files are left alone
    written[0].write_bytes(b"something else")
    with pytest.raises(ArchiveError, match="differs from the archive's copy"):
        restore_archive(archive, results)
    with pytest.raises(ArchiveError, match="choose the matching --config scale"):
        restore_archive(archive, tmp_path / "results" / "default")
