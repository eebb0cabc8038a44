"""Audit without training: one file holding a scale's trained curves, verdicts and provenance, and putting them back.

`grokrepro archive` packs, for every claim of a scale, the training groups' curve files (and the weights that
warm-started runs begin from), the merged curves, the verdict and the spec it was judged under, with a manifest
giving each file's sha256. `snakemake --config restore=<archive>` puts the trained files back before the DAG is
planned, so that `paper/all` (`paper-<scale>/all` at another scale) rebuilds curves, verdicts, figures and the
report without training a step.

Restoring verifies every file against the manifest before it writes anything: an archive with one changed
byte, a missing member or a member the manifest does not list is refused whole, so a restored tree is either
exactly what was archived or untouched.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from pathlib import Path

from grokrepro.provenance import git_commit

MANIFEST = "manifest.json"
FORMAT = "grokrepro-archive-1"
# What training made (restored, so nothing retrains) and what was judged from it (kept for the audit: a
# rebuilt verdict can be compared with the archived one).
TRAINED = ("runs/*.nc", "warm/*.nc", "warm/*.weights.pt")
JUDGED = ("curves.nc", "verdict.json")


class ArchiveError(ValueError):
    """An archive that cannot be trusted or used; the message says which file and why."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archive_members(results: Path) -> list[Path]:
    """The files of a results tree (results/<scale>[-seed set]) an archive holds, relative to it."""
    results = Path(results)
    members = []
    for claim_dir in sorted(p for p in results.iterdir() if p.is_dir()):
        for pattern in (*TRAINED, *JUDGED):
            members += sorted(claim_dir.glob(pattern))
    return [m.relative_to(results) for m in members if not m.name.endswith(".partial")]


def write_archive(results: Path, out: Path, specs: dict[str, str]) -> dict:
    """Pack `results` into `out` (a .tar.gz); `specs` maps claim names to their spec files, archived too."""
    results, out = Path(results), Path(out)
    if not results.is_dir():
        raise ArchiveError(f"{results}: no results to archive (run the workflow at that scale first)")
    files = {f"results/{m.as_posix()}": results / m for m in archive_members(results)}
    if not any(name.endswith("/verdict.json") for name in files):
        raise ArchiveError(f"{results}: no verdict.json under it; archive a tree the workflow has finished")
    claims = sorted({name.split("/")[1] for name in files})
    files.update({f"specs/{claim}.yaml": Path(specs[claim]) for claim in claims if claim in specs})
    commit, dirty = git_commit()
    manifest = {"format": FORMAT, "results": results.as_posix(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                            time.gmtime()),
                "git_commit": commit, "git_dirty": dirty, "claims": claims,
                "files": {name: {"sha256": sha256_file(path), "bytes": path.stat().st_size}
                          for name, path in sorted(files.items())}}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        body = json.dumps(manifest, indent=1).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime = len(body), int(time.time())
        tar.addfile(info, io.BytesIO(body))
        for name, path in sorted(files.items()):
            tar.add(path, arcname=name, recursive=False)
    os.replace(partial, out)
    return manifest


def _verified(tar: tarfile.TarFile, archive: Path) -> tuple[dict, dict[str, bytes]]:
    """The manifest and every member's bytes, each checked against the manifest's sha256."""
    try:
        manifest = json.loads(tar.extractfile(MANIFEST).read())
    except (KeyError, AttributeError, json.JSONDecodeError) as error:
        raise ArchiveError(f"{archive}: no readable {MANIFEST} ({error}); not a grokrepro archive") from None
    if manifest.get("format") != FORMAT:
        raise ArchiveError(f"{archive}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    listed = manifest.get("files", {})
    contents = {}
    for member in tar.getmembers():
        if member.name == MANIFEST:
            continue
        if member.name not in listed:
            raise ArchiveError(f"{archive}: member {member.name} is not in the manifest; refusing the archive")
        if not member.isfile() or member.name.startswith("/") or ".." in Path(member.name).parts:
            raise ArchiveError(f"{archive}: member {member.name} is not a plain relative file; refusing the archive")
        data = tar.extractfile(member).read()
        if hashlib.sha256(data).hexdigest() != listed[member.name]["sha256"]:
            raise ArchiveError(f"{archive}: {member.name} does not match its sha256 in the manifest (the archive "
                               "was changed after it was written); refusing the archive, nothing restored")
        contents[member.name] = data
    absent = sorted(set(listed) - set(contents))
    if absent:
        raise ArchiveError(f"{archive}: {len(absent)} files of the manifest are missing, e.g. {absent[0]}; "
                           "refusing the archive")
    return manifest, contents


def restore_archive(archive: Path, results: Path) -> list[Path]:
    """Put an archive's trained files into `results` (which must be the tree it was made from: same scale and
    seed set). Existing identical files are left alone; an existing different one is an error, never
    overwritten. Returns the files written."""
    archive, results = Path(archive), Path(results)
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such archive (from --config restore=...)")
    try:
        with tarfile.open(archive, "r:*") as tar:
            manifest, contents = _verified(tar, archive)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ArchiveError(f"{archive}: not a readable archive ({error})") from None
    if Path(manifest["results"]).name != results.name:
        raise ArchiveError(f"{archive}: holds {manifest['results']}, but this run writes {results}; choose the "
                           "matching --config scale=... (and seed_set=...)")
    trained = {name: data for name, data in contents.items()
               if name.startswith("results/") and any(Path(name).match(f"*/{p}") for p in TRAINED)}
    written = []
    # Parents' weights first and a little older than the children trained from them, so that the DAG sees
    # every training output as newer than its inputs.
    now = time.time()
    for name in sorted(trained, key=lambda n: not n.endswith(".weights.pt")):
        target = results / Path(name).relative_to("results")
        if target.is_file():
            if sha256_file(target) != manifest["files"][name]["sha256"]:
                raise ArchiveError(f"{target} exists and differs from the archive's copy; remove it (or the results "
                                   "tree) to restore")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".restoring")
        partial.write_bytes(trained[name])
        stamp = now - 60 if name.endswith(".weights.pt") else now - 30
        os.utime(partial, (stamp, stamp))
        os.replace(partial, target)
        written.append(target)
    return written


def archived_verdicts(archive: Path) -> dict[str, dict]:
    """The verdicts an archive holds, by claim (for comparing a rebuilt verdict with the archived one)."""
    with tarfile.open(archive, "r:*") as tar:
        _, contents = _verified(tar, Path(archive))
    return {name.split("/")[1]: json.loads(data) for name, data in contents.items()
            if name.endswith("/verdict.json")}
