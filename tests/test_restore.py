"""Restore streams and checks: sizes against the manifest before a byte is read, only the workflow's own claims
and groups written, nothing written by a command that only plans."""

import hashlib
import io
import json
import tarfile

import pytest

import grokrepro.archive as archive_module
from grokrepro.archive import ArchiveError, only_plans, restore_archive


class Zeros:
    """A file-like of n zero bytes, never held in memory."""

    def __init__(self, n):
        self.n = n

    def read(self, k=-1):
        k = self.n if k < 0 else min(k, self.n)
        self.n -= k
        return bytes(k)


def make_archive(path, members: dict[str, bytes | int], listed_bytes: dict[str, int] | None = None,
                 results="results/smoke"):
    """An archive in grokrepro's format; an int member is that many zero bytes (streamed, listed with a
    wrong sha256)."""
    files = {}
    for name, data in members.items():
        size = data if isinstance(data, int) else len(data)
        sha = "0" * 64 if isinstance(data, int) else hashlib.sha256(data).hexdigest()
        files[name] = {"sha256": sha, "bytes": (listed_bytes or {}).get(name, size)}
    manifest = {"format": archive_module.FORMAT, "results": results, "files": files}
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        body = json.dumps(manifest).encode()
        info = tarfile.TarInfo(archive_module.MANIFEST)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = data if isinstance(data, int) else len(data)
            tar.addfile(info, Zeros(data) if isinstance(data, int) else io.BytesIO(data))
    return path


def test_a_member_larger_than_the_ceiling_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(archive_module, "MAX_MEMBER_BYTES", 2**20)
    bomb = make_archive(tmp_path / "bomb.tar.gz", {"results/grokking/runs/gbomb.nc": 8 * 2**20})
    read = []
    real = archive_module._stream
    monkeypatch.setattr(archive_module, "_stream", lambda *a, **k: read.append(a) or real(*a, **k))
    with pytest.raises(ArchiveError, match="at most 1048576"):
        restore_archive(bomb, tmp_path / "results" / "smoke")
    assert not read and not (tmp_path / "results").exists()


def test_a_member_whose_size_differs_from_the_manifest_is_refused(tmp_path):
    bad = make_archive(tmp_path / "a.tar.gz", {"results/grokking/runs/g1.nc": b"abc"},
                       listed_bytes={"results/grokking/runs/g1.nc": 2})
    with pytest.raises(ArchiveError, match="the manifest says 2"):
        restore_archive(bad, tmp_path / "results" / "smoke")


def test_only_the_workflows_claims_and_groups_are_restored(tmp_path):
    members = {"results/grokking/runs/g1.nc": b"one", "results/grokking/runs/g9.nc": b"other group",
               "results/not_a_claim/runs/g0000.nc": b"x", "results/a/b/c/d/runs/g2.nc": b"deep",
               "results/grokking/verdict.json": b"{}"}
    archive = make_archive(tmp_path / "a.tar.gz", members)
    results = tmp_path / "results" / "smoke"
    assert restore_archive(archive, results, {"grokking": {"runs/g1.nc"}}, write=False) == \
        [results / "grokking/runs/g1.nc"]
    assert not results.exists()  # a check only
    written = restore_archive(archive, results, {"grokking": {"runs/g1.nc"}})
    assert written == [results / "grokking/runs/g1.nc"] and written[0].read_bytes() == b"one"
    found = sorted(p.relative_to(results).as_posix() for p in results.rglob("*") if p.is_file())
    assert found == ["grokking/restored.json", "grokking/runs/g1.nc"]
    record = json.loads((results / "grokking/restored.json").read_text())
    assert record["archive"] == str(archive) and list(record["files"]) == ["runs/g1.nc"]
    assert archive_module.restored_from(results / "grokking")["files"] == ["runs/g1.nc"]
    written[0].write_bytes(b"retrained since")  # no longer the restored file: the report stops saying so
    assert archive_module.restored_from(results / "grokking") is None


def test_a_manifest_naming_a_tree_elsewhere_is_refused(tmp_path):
    archive = make_archive(tmp_path / "a.tar.gz", {"results/grokking/runs/g1.nc": b"one"}, results="/etc/smoke")
    with pytest.raises(ArchiveError, match="choose the matching"):
        restore_archive(archive, tmp_path / "results" / "smoke")


def test_a_changed_member_leaves_no_file_behind(tmp_path):
    archive = make_archive(tmp_path / "a.tar.gz", {"results/grokking/runs/g1.nc": b"one",
                                                   "results/grokking/runs/g2.nc": 10})
    with pytest.raises(ArchiveError, match="does not match its sha256"):
        restore_archive(archive, tmp_path / "results" / "smoke")
    assert not [p for p in (tmp_path / "results").rglob("*") if p.is_file()]


@pytest.mark.parametrize("argv, plans", [(["-n", "paper/all"], True), (["-np", "paper/all"], True),
                                         (["--unlock"], True), (["--summary"], True),
                                         (["-c2", "paper/all", "--config", "restore=a.tar.gz"], False)])
def test_commands_that_only_plan_are_recognised(argv, plans):
    assert only_plans(argv) is plans
