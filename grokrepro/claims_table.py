"""The README's claims table, generated: each spec's claim, paper and one-line summary, beside the verdict of the
last `default` run recorded in docs/results/default.json (written from a published tree by
`grokrepro docs --record paper`). A claim the record lacks says so; nothing in the table is typed by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

RECORD = "docs/results/default.json"
# What the record keeps of each check: enough to read the verdict, nothing of the host or the code version.
CHECK_FIELDS = ("name", "status", "passed", "value", "threshold", "interval", "counts_for_verdict")
CLAIM_FIELDS = ("claim", "scale", "seed_set", "verdict", "setting", "reason", "seeds", "n_runs", "spec_sha256",
                "runtime_s")


def record_of(published: Path) -> dict:
    """The record of a published tree (paper/ for the default scale): per claim, its verdict and checks."""
    claims = {}
    for path in sorted(Path(published).glob("*/verdict.json")):
        verdict = json.loads(path.read_text())
        entry = {k: verdict[k] for k in CLAIM_FIELDS if k in verdict}
        entry["runtime_s"] = round(float(entry.get("runtime_s", 0.0)), 1)
        entry["checks"] = [{k: check.get(k) for k in CHECK_FIELDS} for check in verdict["checks"]]
        claims[verdict["claim"]] = entry
    scales = {entry["scale"] for entry in claims.values()}
    if len(scales) > 1:
        raise ValueError(f"{published} holds verdicts of several scales: {sorted(scales)}")
    return {"scale": scales.pop() if scales else None, "claims": claims}


def write_record(published: Path, root: Path) -> Path:
    record = record_of(published)
    if record["scale"] != "default":
        raise ValueError(f"{published} holds {record['scale']!r} verdicts; the record is of the default scale")
    out = Path(root) / RECORD
    out.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return out


def short_paper(paper: str) -> str:
    """'Power, Burda, Edwards 2022. Title' -> 'Power et al. 2022'."""
    match = re.match(r"^(.+?) (\d{4})\b", paper)
    if match is None:
        return paper.split(".")[0]
    authors, year = match.groups()
    first = authors.split(",")[0].split(" and ")[0].strip()
    return f"{first}{' et al.' if first != authors.strip() else ''} {year}"


def _recorded_claims(root: Path) -> dict[str, dict]:
    """The record's entries by claim; none where no default run is recorded."""
    path = Path(root) / RECORD
    return json.loads(path.read_text())["claims"] if path.is_file() else {}


def _words(status: str) -> str:
    return status.replace("_", " ")  # not_reproduced -> not reproduced


def _verdict(entry: dict) -> str:
    return f"**{_words(entry['verdict'])}** ({entry['setting']} setting)"


def _row(cells: list[str]) -> str:
    """A markdown table row; a `|` inside a cell is escaped."""
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _verdict_cell(entry: dict | None) -> str:
    if entry is None:
        return "not run at `default` yet"
    counted = [c for c in entry["checks"] if c.get("counts_for_verdict", True)]
    by_status: dict[str, list[str]] = {}
    for check in counted:
        by_status.setdefault(_words(check["status"]), []).append(check["name"])
    checks = "; ".join(f"{', '.join(names)} {status}" for status, names in sorted(by_status.items()))
    return f"{_verdict(entry)}: {checks}"


def claims_table_markdown(root: Path) -> str:
    claims = _recorded_claims(root)
    rows = ["| claim | paper | what it checks | verdict at `default` |", "|---|---|---|---|"]
    rows += [_row([f"`{claim}`", short_paper(str(spec.get("paper", ""))), str(spec.get("summary", "")).strip(),
                   _verdict_cell(claims.get(claim))]) for claim, spec in _spec_claims(root)]
    return "\n".join(rows)


def _number(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return "–".join(_number(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{key} {_number(v)}" for key, v in value.items())
    return str(value)


def _spec_claims(root: Path) -> list[tuple[str, dict]]:
    """(claim, spec) of every spec that parses, by file name."""
    claims = []
    for spec_path in sorted((Path(root) / "specs").glob("*.yaml")):
        try:
            spec = yaml.safe_load(spec_path.read_text())
            claims.append((spec["claim"], spec))
        except (yaml.YAMLError, KeyError, TypeError):
            continue  # a draft that does not parse is left out here, as the workflow leaves it out
    return claims


def _claim_link(root: Path, claim: str) -> str:
    """The claim's name, linked to its reasoning page (from docs/results/) where it has one."""
    page = Path(root) / "docs" / "claims" / f"{claim}.md"
    return f"[`{claim}`](../claims/{claim}.md)" if page.is_file() else f"`{claim}`"


def results_markdown(root: Path) -> str:
    """docs/results/default.md's body: per claim, its recorded verdict, why, and every check's value."""
    claims = _recorded_claims(root)
    total = sum(entry.get("runtime_s", 0.0) for entry in claims.values())
    parts = [f"{len(claims)} claims recorded; {total / 60:.0f} min of training and judging in all, summed over "
             f"single-threaded jobs (each verdict.json's `runtime_s`)."]
    for claim, spec in _spec_claims(root):
        entry = claims.get(claim)
        title = f"### {_claim_link(root, claim)}: {short_paper(str(spec.get('paper', '')))}"
        if entry is None:
            parts.append(f"{title}\n\nNot run at `default` yet.")
            continue
        seeds = entry.get("seeds") or []
        lines = [title, "",
                 f"{_verdict(entry)}, "
                 f"{entry.get('n_runs', '?')} runs on {entry.get('seed_set', 'verdict')} seeds "
                 f"{', '.join(map(str, seeds))}. {entry.get('reason', '')}".strip(), "",
                 "| check | counts | status | value | threshold | interval over seeds |", "|---|---|---|---|---|---|"]
        for check in entry["checks"]:
            counts = "yes" if check.get("counts_for_verdict", True) else "shown"
            lines.append(_row([check["name"], counts, _words(check["status"]), _number(check.get("value")),
                               _number(check.get("threshold")), _number(check.get("interval"))]))
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
