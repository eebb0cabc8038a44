"""History, lineage and host: a resumed group's runtime counts every attempt; temporary files are per process;
the report flags curves trained by other code; provenance says which host trained them."""

import json
import os

from grokrepro.integrity import partial_name
from grokrepro.provenance import host, provenance
from grokrepro.report import write_report
from grokrepro.spec import expand_runs
from grokrepro.train.checkpoint import previous
from helpers import interrupted_and_resumed, resolved, tiny_spec


def test_a_resumed_group_counts_the_interrupted_attempts_runtime(tmp_path, monkeypatch):
    runs = expand_runs(resolved(tiny_spec(train={"steps": 30, "log_every": 5, "log_points": 5,
                                                 "checkpoint_every": 10})))
    checkpoint = tmp_path / "group.pt"
    from grokrepro.train.checkpoint import read_sealed as real_read

    seen = []
    monkeypatch.setattr("grokrepro.train.checkpoint.read_sealed",
                        lambda path, weights_only: seen.append(real_read(path, weights_only)) or seen[-1])
    _, resumed, _, _ = interrupted_and_resumed(runs, checkpoint, monkeypatch)
    before = seen[-1]["wall_seconds"]
    assert before > 0 and resumed.wall_seconds > before


def test_temporary_files_are_named_per_process(tmp_path):
    assert str(os.getpid()) in partial_name(tmp_path / "g.nc").name
    assert partial_name(tmp_path / "g.nc") != previous(tmp_path / "g.nc")


def test_provenance_names_the_host():
    details = host()
    assert details["cpu_model"] and details["cpu_isa_level"] and details["torch_cpu_capability"]
    assert json.loads(provenance()["host_details"]) == details


def _verdict(**changes):
    verdict = {"claim": "tiny", "paper": "p", "statement": "s", "scale": "smoke", "verdict": "reproduced",
               "reason": "", "setting": "paper", "differs_from_paper": [], "checks": [], "data": [],
               "data_sha256": {}, "group_sha256": {}, "seeds": [1], "n_runs": 1, "n_diverged": 0,
               "n_early_stopped": 0, "n_aborted": 0, "spec_sha256": "a", "thresholds_sha256": "b",
               "git_commit": "c1", "git_dirty": False, "training_git_commit": "c1", "versions": {},
               "device": "cpu", "runtime_s": 1.0, "training_hosts": [{"cpu_model": "Some CPU"}]}
    return {**verdict, **changes}


def _report(tmp_path, verdict):
    claim_dir = tmp_path / "paper" / "tiny"
    claim_dir.mkdir(parents=True, exist_ok=True)
    (claim_dir / "verdict.json").write_text(json.dumps(verdict))
    write_report([claim_dir], tmp_path / "report.html")
    return (tmp_path / "report.html").read_text()


def test_the_report_flags_curves_trained_by_other_code_and_shows_the_host(tmp_path):
    same = _report(tmp_path, _verdict())
    assert "Trained by other code" not in same and "Some CPU" in same
    other = _report(tmp_path, _verdict(training_git_commit="c0"))
    assert "Trained by other code" in other and "c0" in other.split("Trained by other code", 1)[1][:200]


def test_the_report_links_a_claims_reasoning_page_relative_to_itself(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the repository the report is built in: the workflow runs at its root
    (tmp_path / "docs" / "claims").mkdir(parents=True)
    assert "docs/claims/tiny.md" not in _report(tmp_path, _verdict())
    (tmp_path / "docs" / "claims" / "tiny.md").write_text("# tiny\n")
    claim_dir = tmp_path / "paper" / "tiny"
    write_report([claim_dir], tmp_path / "paper" / "report.html")
    assert 'href="../docs/claims/tiny.md"' in (tmp_path / "paper" / "report.html").read_text()
