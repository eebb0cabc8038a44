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


# A member larger than this is refused before a byte of it is read (a compressed archive can expand a lot).
MAX_MEMBER_BYTES = 2**30
CHUNK = 1 << 20


def _manifest(tar: tarfile.TarFile, archive: Path) -> dict:
    try:
        member = tar.getmember(MANIFEST)
        if member.size > 64 * 2**20:
            raise ArchiveError(f"{archive}: {MANIFEST} is {member.size} bytes; refusing the archive")
        manifest = json.loads(tar.extractfile(member).read())
    except (KeyError, AttributeError, json.JSONDecodeError) as error:
        raise ArchiveError(f"{archive}: no readable {MANIFEST} ({error}); not a grokrepro archive") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"{archive}: format {manifest.get('format') if isinstance(manifest, dict) else None!r}, "
                           f"expected {FORMAT!r}")
    return manifest


def _checked_members(tar: tarfile.TarFile, archive: Path, manifest: dict) -> list[tarfile.TarInfo]:
    """Every member, checked against the manifest by its header alone (name, kind, size): nothing is read."""
    listed = manifest.get("files", {})
    members = [m for m in tar.getmembers() if m.name != MANIFEST]
    for member in members:
        if member.name not in listed:
            raise ArchiveError(f"{archive}: member {member.name} is not in the manifest; refusing the archive")
        if not member.isfile() or member.name.startswith("/") or ".." in Path(member.name).parts:
            raise ArchiveError(f"{archive}: member {member.name} is not a plain relative file; refusing the archive")
        if member.size != listed[member.name].get("bytes") or member.size > MAX_MEMBER_BYTES:
            raise ArchiveError(f"{archive}: member {member.name} is {member.size} bytes, the manifest says "
                               f"{listed[member.name].get('bytes')} (at most {MAX_MEMBER_BYTES}); refusing the archive")
    absent = sorted(set(listed) - {m.name for m in members})
    if absent:
        raise ArchiveError(f"{archive}: {len(absent)} files of the manifest are missing, e.g. {absent[0]}; "
                           "refusing the archive")
    return members


def _stream(tar: tarfile.TarFile, member: tarfile.TarInfo, archive: Path, sha256: str, out: Path | None) -> None:
    """Hash a member in chunks (and copy it to `out`); ArchiveError unless it matches the manifest's sha256."""
    digest, source = hashlib.sha256(), tar.extractfile(member)
    with (open(out, "wb") if out is not None else io.BytesIO()) as sink:
        for block in iter(lambda: source.read(CHUNK), b""):
            digest.update(block)
            if out is not None:
                sink.write(block)
    if digest.hexdigest() != sha256:
        raise ArchiveError(f"{archive}: {member.name} does not match its sha256 in the manifest (the archive "
                           "was changed after it was written); refusing the archive, nothing restored")


def trained_member(name: str) -> tuple[str, str] | None:
    """(claim, file) of an archive member that training made, `results/<claim>/runs|warm/<file>`; else None."""
    parts = Path(name).parts
    if len(parts) == 4 and parts[0] == "results" and parts[2] in ("runs", "warm") and \
            any(Path(name).match(f"*/{pattern}") for pattern in TRAINED):
        return parts[1], "/".join(parts[2:])
    return None


def restore_archive(archive: Path, results: Path, expected: dict[str, set[str]] | None = None,
                    write: bool = True) -> list[Path]:
    """Put an archive's trained files into `results` (which must be the tree it was made from: same scale and
    seed set). `expected` maps each claim of the workflow to the trained files its spec makes ("runs/<g>.nc",
    "warm/<g>.weights.pt", ...); members of other claims or groups are left in the archive. Every member is
    hashed while it streams to a temporary file beside its target, and the targets are written only once all
    match: an archive with one changed byte is refused whole. With `write` False, only checks. Existing
    identical files are left alone; an existing different one is an error, never overwritten. Returns the
    files written (or, with `write` False, that would be)."""
    archive, results = Path(archive), Path(results)
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such archive (from --config restore=...)")
    temporaries: list[tuple[Path, Path]] = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            manifest = _manifest(tar, archive)
            recorded = Path(str(manifest.get("results", "")))
            if recorded.is_absolute() or ".." in recorded.parts or recorded.name != results.name:
                raise ArchiveError(f"{archive}: holds {manifest.get('results')}, but this run writes {results}; "
                                   "choose the matching --config scale=... (and seed_set=...)")
            listed = manifest["files"]
            wanted = []
            for member in _checked_members(tar, archive, manifest):
                found = trained_member(member.name)
                if found and (expected is None or found[1] in expected.get(found[0], set())):
                    wanted.append(member)
            for member in tar.getmembers():  # every member is checked, restored or not
                if member.name == MANIFEST:
                    continue
                target = results / Path(member.name).relative_to("results") if member in wanted else None
                out = None
                if target is not None and write and not target.is_file():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    out = target.with_name(f"{target.name}.{os.getpid()}.restoring")
                    temporaries.append((out, target))
                _stream(tar, member, archive, listed[member.name]["sha256"], out)
    except (tarfile.TarError, OSError, EOFError) as error:
        _remove(temporaries)
        raise ArchiveError(f"{archive}: not a readable archive ({error})") from None
    except ArchiveError:
        _remove(temporaries)
        raise
    written = []
    for member in wanted:
        target = results / Path(member.name).relative_to("results")
        if target.is_file() and not any(t == target for _, t in temporaries):
            if sha256_file(target) != listed[member.name]["sha256"]:
                _remove(temporaries)
                raise ArchiveError(f"{target} exists and differs from the archive's copy; remove it (or the results "
                                   "tree) to restore")
            continue
        written.append(target)
    if not write:
        return written
    # Parents' weights first and a little older than the children trained from them, so that the DAG sees
    # every training output as newer than its inputs.
    now = time.time()
    for partial, target in sorted(temporaries, key=lambda pair: not pair[1].name.endswith(".weights.pt")):
        stamp = now - 60 if target.name.endswith(".weights.pt") else now - 30
        os.utime(partial, (stamp, stamp))
        os.replace(partial, target)
    _record_restore(archive, results, manifest, written)
    return written


def _remove(temporaries) -> None:
    for partial, _ in temporaries:
        Path(partial).unlink(missing_ok=True)


RESTORED = "restored.json"


def _record_restore(archive: Path, results: Path, manifest: dict, written: list[Path]) -> None:
    """results/<claim>/restored.json: which trained files came from which archive, for the verdict and report."""
    by_claim: dict[str, dict] = {}
    for target in written:
        claim = target.relative_to(results).parts[0]
        name = f"results/{target.relative_to(results).as_posix()}"
        by_claim.setdefault(claim, {})[target.relative_to(results / claim).as_posix()] = \
            manifest["files"][name]["sha256"]
    for claim, files in by_claim.items():
        path = results / claim / RESTORED
        record = json.loads(path.read_text()) if path.is_file() else {"files": {}}
        record["files"].update(files)
        record.update(archive=str(archive), archive_sha256=sha256_file(archive),
                      archive_git_commit=manifest.get("git_commit"),
                      restored=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        path.write_text(json.dumps(record, indent=1, sort_keys=True))


def restored_from(claim_dir: Path) -> dict | None:
    """The restore record of a claim's results, limited to the files that are still those restored."""
    path = Path(claim_dir) / RESTORED
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    still = {name: sha for name, sha in record.get("files", {}).items()
             if (Path(claim_dir) / name).is_file() and sha256_file(Path(claim_dir) / name) == sha}
    if not still:
        return None
    return {"archive": record.get("archive"), "archive_sha256": record.get("archive_sha256"),
            "archive_git_commit": record.get("archive_git_commit"), "restored": record.get("restored"),
            "files": sorted(still)}


def only_plans(argv: list[str]) -> bool:
    """Whether this Snakemake command line only plans or inspects (a dry run, --unlock, --summary, a graph, a
    lint): such a command must not write a restored file."""
    try:
        from snakemake.cli import get_argument_parser

        parsed, _ = get_argument_parser().parse_known_args(argv)
    except (ImportError, SystemExit):
        return False
    flags = ("dryrun", "unlock", "summary", "detailed_summary", "lint", "dag", "rulegraph", "filegraph",
             "list_rules", "list_target_rules", "list_changes", "cleanup_metadata", "report")
    return any(bool(getattr(parsed, flag, False)) for flag in flags)


def archived_verdicts(archive: Path) -> dict[str, dict]:
    """The verdicts an archive holds, by claim (for comparing a rebuilt verdict with the archived one)."""
    with tarfile.open(archive, "r:*") as tar:
        manifest = _manifest(tar, Path(archive))
        members = _checked_members(tar, Path(archive), manifest)
        return {m.name.split("/")[1]: json.loads(tar.extractfile(m).read()) for m in members
                if m.name.endswith("/verdict.json")}
