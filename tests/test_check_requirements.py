"""What a check kind requires of the runs it selects (grokrepro.claims.registry.Requires), refused by the spec
validator before anything trains, with a message naming the file, the check and the field."""

import subprocess
import sys
from pathlib import Path

from grokrepro.spec import load_spec
from helpers import refused, spec_with, write_spec

ROOT = Path(__file__).resolve().parents[1]


def test_a_weight_decay_free_check_on_runs_with_weight_decay_is_refused_before_training(tmp_path):
    # the tiny spec sweeps weight decay 0.1 and 1: no run is without weight decay
    message = refused(tmp_path, spec_with({"kind": "generalises_without_weight_decay", "where": {"weight_decay": 0.1}}))
    assert "tiny.yaml" in message and "check 'N2'" in message and "'checks.0.where'" in message
    assert "optimizer.weight_decay = 0.0" in message and "0.1" in message


def test_a_weight_decay_free_check_on_weight_decay_0_runs_loads(tmp_path):
    raw = spec_with({"kind": "generalises_without_weight_decay", "where": {"weight_decay": 0.0}},
                    sweep={"optimizer.weight_decay": [0.0, 1.0]})
    assert load_spec(write_spec(tmp_path, raw)).checks[0].kind == "generalises_without_weight_decay"


def test_a_control_selecting_runs_the_kind_cannot_read_is_refused(tmp_path):
    raw = spec_with({"kind": "generalises_without_weight_decay", "where": {"weight_decay": 0.0},
                     "control": {"where": {"weight_decay": 1.0}}}, sweep={"optimizer.weight_decay": [0.0, 1.0]})
    assert "'checks.0.control.0.where'" in refused(tmp_path, raw)


def test_a_probe_the_runs_do_not_take_is_refused(tmp_path):
    message = refused(tmp_path, spec_with({"kind": "collapse_without_generalisation", "where": {"weight_decay": 0.1}}))
    assert "'softmax_collapse' probe" in message and "'checks.0.where'" in message


def test_an_axis_the_kind_reads_must_be_swept_and_numeric(tmp_path):
    # the tiny spec sweeps weight decay only: no training fraction to compare
    message = refused(tmp_path, spec_with({"kind": "weight_decay_halves_data"}))
    assert "'checks.0.params.axis'" in message and "'train_fraction' is not a sweep axis" in message
    sweep = {"optimizer.weight_decay": [0.0, 1.0], "task": [{"name": "half"}, {"name": "more", "train_fraction": 0.7}]}
    message = refused(tmp_path, spec_with({"kind": "weight_decay_halves_data", "params": {"axis": "task"}}, sweep))
    assert "'checks.0.params.axis'" in message and "numeric values of 'task'" in message


def test_the_shipped_specs_meet_their_checks_requirements():
    specs = sorted(str(p) for p in (ROOT / "specs").glob("*.yaml"))
    done = subprocess.run([sys.executable, "-m", "grokrepro.cli", "validate", *specs], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(": ok") == len(specs)
