"""benchmarks/gpu_check.py: harmless without a GPU, and it picks one paper-scale group per model family."""

import torch

from benchmarks import gpu_check


def test_without_cuda_it_says_so_and_measures_nothing(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main([]) == 0
    assert "nothing to check here" in capsys.readouterr().out


def test_it_checks_one_paper_group_of_each_model_family():
    groups = gpu_check._family_groups(steps=300)
    assert {"power_transformer", "nanda_transformer", "mlp", "quadratic"} <= set(groups)
    for kind, (claim, group_id, runs) in groups.items():
        assert {r.model.kind for r in runs} == {kind} and runs[0].warm_start is None
